/**
 * What every simulator target (files, Cloud Storage, Pub/Sub, `POST /process`) promises, and
 * what the service is expected to make of each pair it carries, so the ground truth says what
 * `/metrics` should show for that target and not merely what was generated.
 */
import type { SimItem } from './scenario.js';
import { CodedError } from '../domain/errors.js';

/**
 * What the service should do with a pair: store a `result`, count a `malformed` failure (dead
 * letter), refuse it at `POST /process` with 400 (`refused`), or report a `missing_upload`
 * anomaly when it lists the folder.
 */
export type Fate = 'result' | 'malformed' | 'refused' | 'missing_upload';

export const SIMULATE_ERROR_CODES = {
  usage: 'usage',
  targetUnavailable: 'target_unavailable',
  targetRefused: 'target_refused',
  tooLarge: 'too_large',
  timeout: 'timeout',
} as const;
export type SimulateErrorCode = (typeof SIMULATE_ERROR_CODES)[keyof typeof SIMULATE_ERROR_CODES];

/** A target could not take the pairs (unreachable, refused, too large): exit status 1. */
export class SimulateError extends CodedError<SimulateErrorCode> {
  override readonly name = 'SimulateError';
}

/** Called as pairs become durable at the target: how many, and the bytes they took. */
export type WrittenListener = (pairs: number, bytes: number) => void;

export interface TargetReport {
  /** Pairs the target accepted (written, published, or answered 202). */
  readonly written: number;
  /** Pairs refused with the expected 400 (`POST /process` only). */
  readonly refused: number;
  /** Refusals expected but not received: the server accepted a pair it should have refused. */
  readonly unexpectedlyAccepted: number;
  readonly bytes: number;
  /** `POST /process` job ids, in order. */
  readonly jobs?: readonly string[];
  /** Folders or prefixes to hand to `POST /process {storage_path}`, in order. */
  readonly storagePaths?: readonly string[];
  /** Where the pairs went, for the summary. */
  readonly description: string;
  /** `--wait`: how the jobs ended. */
  readonly jobsDone?: { readonly completed: number; readonly failed: number };
}

export interface Target {
  readonly name: 'files' | 'gcs' | 'pubsub' | 'http';
  /** What the service should do with this pair when it arrives through this target. */
  fate(item: SimItem): Fate;
  /**
   * Takes one pair; resolves once there is room for the next (writes overlap up to the target's
   * bound), rejects with the first failure of any earlier write.
   */
  write(item: SimItem): Promise<void>;
  /** Sends what is buffered, waits for every write, and reports. */
  finish(): Promise<TargetReport>;
  /** Releases clients; safe after a failure. */
  close(): Promise<void>;
}

/**
 * Keeps at most `limit` writes in flight: `run` waits for a free slot, starts the write and
 * returns; the first failure is rethrown by the next `run` or by `drain`, and stops the run.
 */
export class Bounded {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`Expected limit to be a whole number from 1 and up, got ${limit}`);
  }

  async run(write: () => Promise<void>): Promise<void> {
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const p: Promise<void> = write().then(
      () => void this.inFlight.delete(p),
      (error: unknown) => {
        this.failure ??= { error };
        this.inFlight.delete(p);
      },
    );
    this.inFlight.add(p);
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/**
 * Where pairs go in the seed layout: `<base>/<drawing_id>/`, or `<base>/rev-NNN/<drawing_id>/`
 * when drawings have several revisions (one folder holds one pair), each `rev-NNN` then a prefix
 * to post in order.
 */
export function seedLayoutFolder(item: SimItem, revisions: number): { prefix: string; folder: string } {
  if (revisions <= 1) return { prefix: '', folder: item.drawingId };
  const rev = `rev-${String(item.revision).padStart(Math.max(3, String(revisions - 1).length), '0')}`;
  return { prefix: rev, folder: `${rev}/${item.drawingId}` };
}

/** File targets: a malformed file fails in the pipeline; a lone version is a missing upload. */
export function fileFate(item: SimItem): Fate {
  return item.kind === 'good' ? 'result' : item.kind === 'malformed' ? 'malformed' : 'missing_upload';
}
