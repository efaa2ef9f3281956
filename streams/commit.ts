/**
 * The commit stage: writes one batch of outcomes to the sink, and only after the write is durable
 * counts the fresh ones and settles every delivery. The write goes through the sink breaker (the
 * one retry policy): an unavailable sink is retried, the deliveries staying leased, until it
 * answers; only shutdown nacks them. An item the sink rejects for good fails its own task alone
 * (failure record, processing_error anomaly, dead letter, ack); the rest of the batch is acked.
 */
import type { Anomaly } from '../src/domain/types.js';
import { ERROR_CODES } from '../src/domain/errors.js';
import type { FailureRecord, Rejection, ResultRecord, ResultSink, SinkBatch, WriteReceipt } from '../src/domain/sink.js';
import type { Logger } from '../src/log.js';
import { type Outcome, type PendingFailure, type PendingResult, toResultRecord } from './process.js';
import { processingErrorAnomaly } from './detect/anomalies.js';
import type { SinkBreaker } from './retry/sink-breaker.js';

/** What the commit stage feeds after a durable write: the windows and the detectors. */
export interface CommitObserver {
  /** Anomalies a result raises (spikes, delays), written in the same batch. */
  inspect(result: ResultRecord): readonly Anomaly[];
  /** Called once per result or failure written for the first time. */
  counted(outcome: { result: ResultRecord } | { failure: FailureRecord }): void;
}

export interface CommitDeps {
  readonly sink: ResultSink;
  readonly observer: CommitObserver;
  /** Anomalies raised outside a batch (system-wide spikes, backlog) waiting to be written. */
  readonly outbox: AnomalyOutbox;
  readonly replicaId: string;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Retries writes through outages and says when the sink is down. */
  readonly breaker: SinkBreaker;
  /**
   * Aborts when retrying must stop (shutdown, in time to exit within the grace period): the
   * batch being written is then nacked.
   */
  readonly stopRetrying: AbortSignal;
}

export interface CommitStats {
  written: number;
  duplicates: number;
  failedWrites: number;
  /** Items the sink refused for good (each failed its own task). */
  rejected: number;
}

/** Writes a batch, then acks (or nacks) each of its deliveries. Never rejects. */
export async function commitBatch(batch: readonly Outcome[], deps: CommitDeps, stats: CommitStats): Promise<void> {
  const pendingResults = batch.filter((o): o is PendingResult => o.kind === 'result');
  const failures = batch.filter((o): o is PendingFailure => o.kind === 'failure');
  if (pendingResults.length === 0 && failures.length === 0 && deps.outbox.size === 0) return;

  const now = deps.clock();
  const results = pendingResults.map((p) => toResultRecord(p, now, deps.replicaId));
  const anomalies: Anomaly[] = failures.map((f) => f.anomaly);
  for (const r of results) anomalies.push(...observe(deps, 'inspect', () => deps.observer.inspect(r), []));
  const outboxed = deps.outbox.drain();
  anomalies.push(...outboxed);

  const receipt = await write(deps, { results, failures: failures.map((f) => f.record), anomalies }, batch.length);
  if (!receipt) {
    deps.outbox.putBack(outboxed);
    stats.failedWrites += 1;
    for (const o of pendingResults) o.delivery.nack();
    for (const o of failures) o.delivery.nack();
    return;
  }
  const rejected = receipt.rejected ?? new Map<string, Rejection>();

  // A key is fresh once per write, however many copies of the task the batch held.
  const counted = new Set<string>();
  const refused: { pending: PendingResult; record: ResultRecord; rejection: Rejection }[] = [];
  results.forEach((r, i) => {
    const rejection = rejected.get(r.taskKey);
    if (rejection) {
      refused.push({ pending: pendingResults[i]!, record: r, rejection });
    } else if (receipt.fresh.has(r.taskKey) && !counted.has(r.taskKey)) {
      counted.add(r.taskKey);
      stats.written += 1;
      observe(deps, 'counted', () => deps.observer.counted({ result: r }), undefined);
    } else {
      stats.duplicates += 1;
    }
  });
  for (const f of failures) {
    if (rejected.has(f.record.taskKey)) continue;
    if (receipt.fresh.has(f.record.taskKey) && !counted.has(f.record.taskKey)) {
      counted.add(f.record.taskKey);
      observe(deps, 'counted', () => deps.observer.counted({ failure: f.record }), undefined);
    }
  }

  for (const o of pendingResults) if (!rejected.has(o.task.taskKey)) o.delivery.ack();
  await Promise.all([
    ...failures.map((o) => {
      const rejection = rejected.get(o.record.taskKey);
      return rejection ? deadLetterRejected(o.delivery, o.record, rejection, deps) : settleFailure(o, deps);
    }),
    refused.length > 0 ? failRejected(refused, deps, stats) : Promise.resolve(),
  ]);
}

/**
 * Fails the tasks whose results the sink refused for good: a failure record with the reason and
 * a processing_error anomaly are written (through the same breaker), then each is dead-lettered
 * with the reason and acked. Another copy of the same result would be refused the same way, so
 * retrying it would only spend attempts.
 */
async function failRejected(
  refused: readonly { pending: PendingResult; record: ResultRecord; rejection: Rejection }[],
  deps: CommitDeps,
  stats: CommitStats,
): Promise<void> {
  const at = new Date(deps.clock());
  const failures = refused.map(({ pending, record, rejection }) => {
    const message = `the ${deps.sink.name} sink refused the result: ${rejection.code}: ${rejection.message}`;
    const failure: FailureRecord = {
      taskKey: record.taskKey,
      jobId: record.jobId,
      drawingId: record.drawingId,
      kind: 'failed',
      code: ERROR_CODES.resultRejected,
      message,
      createdAt: at,
      replicaId: deps.replicaId,
    };
    const anomaly = processingErrorAnomaly({
      taskKey: record.taskKey,
      drawingId: record.drawingId,
      code: ERROR_CODES.resultRejected,
      message,
      attempts: pending.delivery.deliveryAttempt,
      now: at,
    });
    return { pending, failure, anomaly };
  });
  stats.rejected += failures.length;
  deps.logger.error(
    { rejected: failures.map((f) => ({ taskKey: f.failure.taskKey, reason: f.failure.message })).slice(0, 10), count: failures.length },
    'sink refused results for good; failing those tasks alone',
  );
  const receipt = await write(deps, { results: [], failures: failures.map((f) => f.failure), anomalies: failures.map((f) => f.anomaly) }, failures.length);
  if (!receipt) {
    for (const f of failures) f.pending.delivery.nack();
    return;
  }
  const counted = new Set<string>();
  for (const f of failures) {
    if (receipt.fresh.has(f.failure.taskKey) && !counted.has(f.failure.taskKey) && !receipt.rejected?.has(f.failure.taskKey)) {
      counted.add(f.failure.taskKey);
      observe(deps, 'counted', () => deps.observer.counted({ failure: f.failure }), undefined);
    }
  }
  await Promise.all(failures.map((f) => deadLetterRejected(f.pending.delivery, f.failure, f.failure, deps)));
}

/** Dead-letters a task whose record is durable (or refused for good) with `reason`, then acks it. */
async function deadLetterRejected(
  delivery: PendingResult['delivery'],
  record: FailureRecord,
  reason: { readonly code: string; readonly message: string },
  deps: CommitDeps,
): Promise<void> {
  try {
    await delivery.deadLetter({ code: reason.code, message: reason.message, drawingId: record.drawingId });
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, taskKey: record.taskKey }, 'dead-lettering failed; the message will be redelivered');
    delivery.nack();
    return;
  }
  delivery.ack();
}

/**
 * Settles a failure whose record is durable. A dead letter that cannot be sent leaves the message
 * unacked: its redelivery finds the record already written (not counted again) and sends it then.
 */
async function settleFailure(failure: PendingFailure, deps: CommitDeps): Promise<void> {
  if (failure.settle.kind === 'nack') return failure.delivery.nack();
  try {
    await failure.delivery.deadLetter(failure.settle.reason);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, taskKey: failure.record.taskKey }, 'dead-lettering failed; the message will be redelivered');
    failure.delivery.nack();
    return;
  }
  failure.delivery.ack();
}

/**
 * Runs an observer call so that a bug in aggregation or detection costs a count or an anomaly,
 * never the stream: a throw here would end the pipeline with every delivery unsettled.
 */
function observe<T>(deps: CommitDeps, what: string, call: () => T, fallback: T): T {
  try {
    return call();
  } catch (err) {
    deps.logger.error({ err }, `commit observer ${what} failed; continuing`);
    return fallback;
  }
}

/** The write through the breaker; null once shutdown abandons it (the caller nacks). */
async function write(deps: CommitDeps, batch: SinkBatch, size: number): Promise<WriteReceipt | null> {
  let attempt = 0;
  try {
    return await deps.breaker.write(async () => {
      attempt += 1;
      try {
        return await deps.sink.writeBatch(batch);
      } catch (err) {
        deps.logger.warn({ err: (err as Error).message, attempt, size, breaker: deps.breaker.status.state }, 'sink write failed; retrying while the deliveries stay leased');
        throw err;
      }
    }, deps.stopRetrying);
  } catch (err) {
    deps.logger.error({ err: (err as Error).message, attempt, size }, 'sink write abandoned at shutdown; nacking the batch');
    return null;
  }
}

/**
 * A bounded queue of anomalies raised between batches. When full the oldest are dropped (and
 * counted): anomalies are derived data, and memory must not grow with traffic.
 */
export class AnomalyOutbox {
  private items: Anomaly[] = [];
  dropped = 0;

  constructor(private readonly capacity = 10_000) {}

  get size(): number {
    return this.items.length;
  }

  push(...anomalies: readonly Anomaly[]): void {
    this.items.push(...anomalies);
    const excess = this.items.length - this.capacity;
    if (excess > 0) {
      this.items.splice(0, excess);
      this.dropped += excess;
    }
  }

  drain(): Anomaly[] {
    const out = this.items;
    this.items = [];
    return out;
  }

  putBack(anomalies: readonly Anomaly[]): void {
    this.items.unshift(...anomalies);
    this.push();
  }
}
