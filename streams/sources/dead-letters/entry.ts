/**
 * What `buildtrace dead-letters` says about one dead letter, whichever queue holds it (the
 * Pub/Sub dead-letter subscription or the local `dead_letters` table), and the contract both
 * readers meet, so the command prints and counts the same way for either.
 */
import { CodedError } from '../../../src/domain/errors.js';

/** One dead letter as an operator reads it: who the task is and why it was given up on. */
export interface DeadLetterEntry {
  /** The producer's `task_id`, the key that makes a replay idempotent; null when it had none (then its body's hash is the key, and a replay keeps the body byte for byte). */
  readonly taskId: string | null;
  readonly jobId: string | null;
  readonly drawingId: string | null;
  readonly errorCode: string;
  readonly errorMessage: string;
}

/** `list` reads; `dry-run` reads and says what `replay` would do; `replay` moves the dead letters back. */
export type DeadLetterMode = 'list' | 'dry-run' | 'replay';

export type DeadLetterAction = 'listed' | 'would replay' | 'replayed' | 'failed';

export interface DeadLetterOutcome {
  readonly entry: DeadLetterEntry;
  readonly action: DeadLetterAction;
  /** Why it failed, or what else happened to it. */
  readonly detail?: string;
}

/** A dead-letter queue the command can read and replay: one implementation per task source. */
export interface DeadLetterQueue {
  /** Where the dead letters are and where a replay sends them, for the total line. */
  readonly description: string;
  /**
   * Reports one outcome per dead letter, at most `limit` (null: all of them). `list` and
   * `dry-run` leave every dead letter where it is.
   *
   * @throws {DeadLetterAccessError} when the queue cannot be reached or refuses; outcomes
   *   reported before that stand (a dead letter is removed only once it is back in the tasks queue).
   */
  run(mode: DeadLetterMode, limit: number | null, report: (outcome: DeadLetterOutcome) => void): Promise<void>;
  close(): Promise<void>;
}

export const DEAD_LETTER_ACCESS_CODES = {
  unreachable: 'dead_letters_unreachable',
  notFound: 'dead_letters_not_found',
  refused: 'dead_letters_refused',
} as const;
export type DeadLetterAccessCode = (typeof DEAD_LETTER_ACCESS_CODES)[keyof typeof DEAD_LETTER_ACCESS_CODES];

/** The environment, not the command line, is wrong: no emulator, no subscription, no database. */
export class DeadLetterAccessError extends CodedError<DeadLetterAccessCode> {
  override readonly name = 'DeadLetterAccessError';
}

/** Reason code of a message Pub/Sub or the local queue gave up on after its delivery attempts. */
const MAX_ATTEMPTS_CODE = 'max_delivery_attempts';

/**
 * Describes a dead letter from its attributes and body: ids from the attributes, else from the
 * task body (a task decoded from the body takes its `task_id` from there too); the reason from
 * the service's `error_code`/`error_message`, else from what Pub/Sub adds when its dead-letter
 * policy forwards a message.
 *
 * @example
 * describeDeadLetter(message.data, message.attributes); // { taskId: 'job-1:0', errorCode: 'malformed_task', ... }
 */
export function describeDeadLetter(
  data: Buffer,
  attributes: Readonly<Record<string, string>>,
  reason?: { readonly code: string; readonly message: string },
): DeadLetterEntry {
  const body = bodyFields(data);
  const pick = (name: 'task_id' | 'job_id' | 'drawing_id'): string | null => {
    const fromBody = body[name];
    // decodeTask prefers the body's task_id and job_id over the attributes; so does the key.
    if (name !== 'drawing_id' && typeof fromBody === 'string' && fromBody !== '') return fromBody;
    const fromAttributes = attributes[name];
    if (fromAttributes) return fromAttributes;
    return typeof fromBody === 'string' && fromBody !== '' ? fromBody : null;
  };
  return {
    taskId: pick('task_id'),
    jobId: pick('job_id'),
    drawingId: pick('drawing_id'),
    ...(reason ? { errorCode: reason.code, errorMessage: reason.message } : reasonFromAttributes(attributes)),
  };
}

function reasonFromAttributes(attributes: Readonly<Record<string, string>>): { errorCode: string; errorMessage: string } {
  if (attributes.error_code) return { errorCode: attributes.error_code, errorMessage: attributes.error_message ?? '' };
  const count = attributes.CloudPubSubDeadLetterSourceDeliveryCount;
  if (count) {
    return { errorCode: MAX_ATTEMPTS_CODE, errorMessage: `moved by the subscription's dead-letter policy after ${count} delivery attempts` };
  }
  return { errorCode: 'unknown', errorMessage: 'no reason attached (published to the dead-letter topic by hand?)' };
}

/** The top-level string fields of a JSON task body; nothing when it is not a JSON object. */
function bodyFields(data: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(data.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
