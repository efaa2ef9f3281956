/**
 * One delivery through decode → load → diff, ending in an Outcome the commit stage can write.
 * Every error is classified here, so nothing thrown by one task can end the stream: bad input
 * becomes a dead-lettered failure, anything else a retry.
 */
import { decodeTask } from '../src/domain/task.js';
import { countChanges } from '../src/domain/diff.js';
import { matchModeFor } from '../src/domain/match.js';
import type { MatchFallback } from '../src/domain/match.js';
import { ERROR_CODES, MalformedInputError, TransientError, errorMessage } from '../src/domain/errors.js';
import type { Anomaly, ChangeSet, Task } from '../src/domain/types.js';
import type { FailureRecord, ResultRecord, VersionRefs } from '../src/domain/sink.js';
import type { DeadLetterReason, Delivery } from '../src/domain/source.js';
import type { InputStore } from './load/input-store.js';
import { loadVersions, versionRefs } from './load/load-versions.js';
import type { DiffRequest } from './diff/diff-pair.js';
import { malformedInputAnomaly, processingErrorAnomaly } from './detect/anomalies.js';

/** A result waiting for the sink. `processingTimeMs` is filled in just before the write. */
export interface PendingResult {
  readonly kind: 'result';
  readonly delivery: Delivery;
  readonly task: Task;
  readonly changes: ChangeSet;
  /** Where the versions were read from, kept with the result for the overlay; null for inline tasks. */
  readonly versions: VersionRefs | null;
}

/**
 * How a failure is settled once its record is durable: malformed input is dead-lettered by us with
 * its reason, then acked; exhausted retries are nacked, for the broker's own dead-letter policy.
 */
export type FailureSettlement = { readonly kind: 'deadLetter'; readonly reason: DeadLetterReason } | { readonly kind: 'nack' };

/** A task that ends without a result: recorded, then settled as `settle` says. */
export interface PendingFailure {
  readonly kind: 'failure';
  readonly delivery: Delivery;
  readonly record: FailureRecord;
  readonly anomaly: Anomaly;
  readonly settle: FailureSettlement;
}

/** Transient failure with attempts left: already nacked, nothing to write. */
export interface Retried {
  readonly kind: 'retried';
  readonly delivery: Delivery;
}

export type Outcome = PendingResult | PendingFailure | Retried;

export interface ProcessDeps {
  readonly input: InputStore;
  readonly diff: (request: DiffRequest) => Promise<ChangeSet>;
  readonly tolerance: number;
  /** MATCH_FALLBACK and MATCH_RADIUS; `none` when absent. A task's `"match"` overrides the first. */
  readonly matchFallback?: MatchFallback;
  readonly matchRadius?: number;
  readonly maxDeliveryAttempts: number;
  readonly replicaId: string;
  readonly clock: () => number;
  readonly onError: (err: unknown, delivery: Delivery, task: Task | null) => void;
}

/** Decodes, loads and diffs one delivery. Never rejects. */
export async function processDelivery(delivery: Delivery, deps: ProcessDeps): Promise<Outcome> {
  let task: Task | null = null;
  try {
    const decoded: Task = decodeTask(delivery.data, delivery.attributes);
    task = decoded;
    const pair = await loadVersions(decoded, deps.input);
    // Hashed before the diff, which may hand the bytes to a worker thread.
    const versions = versionRefs(decoded, pair);
    const match = matchModeFor(decoded.match, deps.matchFallback ?? 'none');
    const changes = await deps.diff({
      drawingId: decoded.drawingId,
      pair,
      tolerance: deps.tolerance,
      ...(match === 'id' ? {} : { match, radius: deps.matchRadius }),
    });
    return { kind: 'result', delivery, task: decoded, changes, versions };
  } catch (err) {
    deps.onError(err, delivery, task);
    if (err instanceof MalformedInputError) return malformedFailure(delivery, task, err, deps);
    return retryOrGiveUp(delivery, task, err, deps);
  }
}

/** The ResultRecord for a pending result, stamped at the moment of the write. */
export function toResultRecord(pending: PendingResult, now: number, replicaId: string): ResultRecord {
  const { task, delivery, changes, versions } = pending;
  const origin = task.uploadedAt?.getTime() ?? delivery.publishedAt.getTime();
  return {
    taskKey: task.taskKey,
    jobId: task.jobId,
    drawingId: task.drawingId,
    changes,
    versions,
    counts: countChanges(changes),
    processingTimeMs: Math.max(0, now - delivery.receivedAt),
    endToEndMs: Math.max(0, now - origin),
    createdAt: new Date(now),
    replicaId,
  };
}

function identity(delivery: Delivery, task: Task | null, drawingIdHint: string | null) {
  return {
    taskKey: task?.taskKey ?? delivery.attributes.task_id ?? `message:${delivery.id}`,
    jobId: task?.jobId ?? delivery.attributes.job_id ?? null,
    drawingId: task?.drawingId ?? drawingIdHint ?? delivery.attributes.drawing_id ?? null,
  };
}

/**
 * The failure of malformed input. It is dead-lettered only after its record is durable (by the
 * commit stage): a dead letter sent first would be sent again for every redelivery a failed
 * record write causes.
 */
function malformedFailure(delivery: Delivery, task: Task | null, err: MalformedInputError, deps: ProcessDeps): PendingFailure {
  const who = identity(delivery, task, err.drawingId);
  const at = new Date(deps.clock());
  const record: FailureRecord = {
    ...who,
    kind: 'malformed',
    code: err.code,
    message: err.message,
    createdAt: at,
    replicaId: deps.replicaId,
  };
  const settle: FailureSettlement = { kind: 'deadLetter', reason: { code: err.code, message: err.message, drawingId: who.drawingId } };
  const anomaly = malformedInputAnomaly({ ...who, code: err.code, message: err.message, now: at, location: err.location });
  // A version file that never arrived is a missing upload, not bad data: same record, its own type.
  if (err.code === ERROR_CODES.missingUpload) {
    return { kind: 'failure', delivery, record, anomaly: { ...anomaly, id: `missing_upload:${who.taskKey}`, type: 'missing_upload' }, settle };
  }
  return { kind: 'failure', delivery, record, anomaly, settle };
}

function retryOrGiveUp(delivery: Delivery, task: Task | null, err: unknown, deps: ProcessDeps): Outcome {
  if (delivery.deliveryAttempt < deps.maxDeliveryAttempts) {
    delivery.nack();
    return { kind: 'retried', delivery };
  }
  const who = identity(delivery, task, null);
  const at = new Date(deps.clock());
  const code = err instanceof TransientError ? err.code : ERROR_CODES.internal;
  const message = errorMessage(err);
  const record: FailureRecord = { ...who, kind: 'failed', code, message, createdAt: at, replicaId: deps.replicaId };
  const anomaly = processingErrorAnomaly({ ...who, code, message, attempts: delivery.deliveryAttempt, now: at });
  return { kind: 'failure', delivery, record, anomaly, settle: { kind: 'nack' } };
}
