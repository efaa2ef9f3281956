/**
 * Error classes with fields a program can act on. `permanent` decides the delivery outcome:
 * permanent errors are dead-lettered and acked at once, transient ones are nacked and retried.
 */

export const ERROR_CODES = {
  malformedTask: 'malformed_task',
  malformedVersion: 'malformed_version',
  missingUpload: 'missing_upload',
  inputTooLarge: 'input_too_large',
  forbiddenPath: 'forbidden_path',
  storageUnavailable: 'storage_unavailable',
  sinkUnavailable: 'sink_unavailable',
  /** The sink refused a result for good (too large, invalid for its schema). */
  resultRejected: 'result_rejected',
  internal: 'internal_error',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/**
 * An error whose low-cardinality `code` a program can act on. Each part's error class extends it
 * with its own codes and name, so only the codes are written per part.
 */
export class CodedError<C extends string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The codes of OptionError, one per part whose options it checks. */
export const OPTION_ERROR_CODES = {
  localQueue: 'invalid_option',
  topology: 'invalid_topology',
  pubsubSource: 'invalid_pubsub_source_options',
} as const;
export type OptionErrorCode = (typeof OPTION_ERROR_CODES)[keyof typeof OPTION_ERROR_CODES];

/**
 * A part (the local queue, the Pub/Sub source, the topology) was handed options it cannot work
 * with: a programming error, since the configuration's own values are checked by its schema.
 */
export class OptionError extends CodedError<OptionErrorCode> {
  override readonly name = 'OptionError';
}

/** Bad input: never retried, recorded as a data-quality anomaly and dead-lettered. */
export class MalformedInputError extends Error {
  override readonly name = 'MalformedInputError';
  readonly permanent = true as const;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly drawingId: string | null = null,
    /** Index of the offending object in its version, and the field, where they apply. */
    readonly location: { readonly version?: 'a' | 'b'; readonly index?: number; readonly field?: string } = {},
  ) {
    super(message);
  }
}

/** A dependency is down or slow: the task is nacked and retried with backoff. */
export class TransientError extends Error {
  override readonly name = 'TransientError';
  readonly permanent = false as const;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The message of anything thrown: an Error's own message, else the value as text. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
