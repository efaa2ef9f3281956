/**
 * The commit stage: writes one batch of outcomes to the sink, and only after the write is durable
 * counts the fresh ones and settles every delivery. A failed write settles nothing but nacks, so
 * no task is acked before its result exists.
 */
import type { Anomaly } from '../src/domain/types.js';
import type { FailureRecord, ResultRecord, ResultSink, WriteReceipt } from '../sinks/sink.js';
import type { Logger } from '../src/log.js';
import { type Outcome, type PendingFailure, type PendingResult, toResultRecord } from './process.js';

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
  /** How long a failing sink write is retried in process (messages stay leased) before nacking. */
  readonly maxWriteRetryMs: number;
  /**
   * A time (ms, same clock) after which a failing write is not retried at all: set when shutdown
   * begins, so a sink outage cannot hold the process past its grace period.
   */
  readonly retryDeadline?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface CommitStats {
  written: number;
  duplicates: number;
  failedWrites: number;
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

  const receipt = await writeWithRetry(
    deps,
    { results, failures: failures.map((f) => f.record), anomalies },
    batch.length,
  );
  if (!receipt) {
    deps.outbox.putBack(outboxed);
    stats.failedWrites += 1;
    for (const o of pendingResults) o.delivery.nack();
    for (const o of failures) o.delivery.nack();
    return;
  }

  // A key is fresh once per write, however many copies of the task the batch held.
  const counted = new Set<string>();
  for (const r of results) {
    if (receipt.fresh.has(r.taskKey) && !counted.has(r.taskKey)) {
      counted.add(r.taskKey);
      stats.written += 1;
      observe(deps, 'counted', () => deps.observer.counted({ result: r }), undefined);
    } else {
      stats.duplicates += 1;
    }
  }
  for (const f of failures) {
    if (receipt.fresh.has(f.record.taskKey) && !counted.has(f.record.taskKey)) {
      counted.add(f.record.taskKey);
      observe(deps, 'counted', () => deps.observer.counted({ failure: f.record }), undefined);
    }
  }

  for (const o of pendingResults) o.delivery.ack();
  await Promise.all(failures.map((o) => settleFailure(o, deps)));
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

async function writeWithRetry(
  deps: CommitDeps,
  batch: Parameters<ResultSink['writeBatch']>[0],
  size: number,
): Promise<WriteReceipt | null> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = deps.clock();
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.sink.writeBatch(batch);
    } catch (err) {
      const now = deps.clock();
      const delay = Math.min(5_000, 100 * 2 ** (attempt - 1));
      const deadline = Math.min(started + deps.maxWriteRetryMs, deps.retryDeadline?.() ?? Infinity);
      if (now + delay > deadline) {
        deps.logger.error({ err, attempt, size }, 'sink write failed; nacking the batch');
        return null;
      }
      deps.logger.warn({ err: (err as Error).message, attempt, size, retryInMs: delay }, 'sink write failed; retrying');
      await sleep(delay);
    }
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
