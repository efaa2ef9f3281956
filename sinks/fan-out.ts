/**
 * One ResultSink over several sinks, each with an explicit role, so each can be tested and
 * replaced alone: the records sink decides durability and per-item rejection (written first;
 * what it rejects goes no further), the freshness sink decides which items are written for the
 * first time (written second, only with what the records sink took), and telemetry sinks observe
 * the outcome and never fail a batch.
 */
import type { PartWriteListener, Rejection, ResultSink, Rollup, SinkBatch, WriteReceipt } from '../src/domain/sink.js';

/** What a records sink answers: everything not rejected is durable. */
export interface RecordsReceipt {
  readonly rejected: ReadonlyMap<string, Rejection>;
}

/** What a freshness sink answers: the task keys and anomaly ids written for the first time. */
export interface FreshnessReceipt {
  readonly freshTasks: ReadonlySet<string>;
  readonly freshAnomalies: ReadonlySet<string>;
}

interface SinkPartBase {
  readonly name: string;
  /** Resolves when writable; rejects with the reason otherwise. */
  healthcheck(): Promise<void>;
  flush(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Decides durability: rejects with TransientError when unavailable. */
export interface RecordsSink extends SinkPartBase {
  write(batch: SinkBatch): Promise<RecordsReceipt>;
  writeRollups(rollups: readonly Rollup[]): Promise<void>;
}

/** Decides freshness: rejects with TransientError when unavailable, having created nothing. */
export interface FreshnessSink extends SinkPartBase {
  write(batch: SinkBatch): Promise<FreshnessReceipt>;
}

/** Observes written batches; never throws, never fails a batch. */
export interface TelemetrySink extends Omit<SinkPartBase, 'healthcheck'> {
  observe(batch: SinkBatch, fresh: { readonly tasks: ReadonlySet<string>; readonly anomalies: ReadonlySet<string> }): void;
}

export interface FanOutParts {
  readonly records: RecordsSink;
  readonly freshness: FreshnessSink;
  readonly telemetry: readonly TelemetrySink[];
}

export class FanOutSink implements ResultSink {
  private closed: Promise<void> | null = null;
  private readonly writeListeners: PartWriteListener[] = [];

  constructor(
    readonly name: string,
    readonly parts: FanOutParts,
  ) {}

  /**
   * Records first, then freshness for the accepted items, then telemetry. A refused item is in
   * `rejected` and reaches neither freshness nor telemetry.
   */
  async writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    if (batch.results.length + batch.failures.length + batch.anomalies.length === 0) return { fresh: new Set() };
    const { rejected } = await this.timed(this.parts.records.name, 'records', () => this.parts.records.write(batch));
    const accepted: SinkBatch =
      rejected.size === 0
        ? batch
        : {
            results: batch.results.filter((r) => !rejected.has(r.taskKey)),
            failures: batch.failures.filter((f) => !rejected.has(f.taskKey)),
            anomalies: batch.anomalies,
          };
    const fresh = await this.timed(this.parts.freshness.name, 'freshness', () => this.parts.freshness.write(accepted));
    for (const t of this.parts.telemetry) t.observe(accepted, { tasks: fresh.freshTasks, anomalies: fresh.freshAnomalies });
    return rejected.size === 0 ? { fresh: fresh.freshTasks } : { fresh: fresh.freshTasks, rejected };
  }

  writeRollups(rollups: readonly Rollup[]): Promise<void> {
    return this.parts.records.writeRollups(rollups);
  }

  /**
   * Times each part's batch writes from now on, so self-telemetry tells the stores apart (the
   * composite's own time would hide which one is slow or failing).
   *
   * @example
   * fanOut.observeWrites((part, ms, ok) => telemetry.sinkWrite(part, ms, ok));
   */
  observeWrites(listener: PartWriteListener): void {
    this.writeListeners.push(listener);
  }

  private async timed<T>(part: string, role: keyof FanOutParts, write: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const answer = await write();
      for (const l of this.writeListeners) l(part, performance.now() - started, true, role);
      return answer;
    } catch (err) {
      for (const l of this.writeListeners) l(part, performance.now() - started, false, role);
      throw err;
    }
  }

  async flush(): Promise<void> {
    await this.parts.records.flush();
    await this.parts.freshness.flush();
    await Promise.all(this.parts.telemetry.map((t) => t.flush()));
  }

  /** Ready when the records and freshness sinks are; telemetry never holds readiness back. */
  async healthcheck(): Promise<void> {
    // Both checks run to their end, so none is left in flight behind an answer already given.
    const checks = await Promise.allSettled([this.parts.records.healthcheck(), this.parts.freshness.healthcheck()]);
    const failed = checks.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason;
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await Promise.all(this.parts.telemetry.map((t) => t.close()));
      await this.parts.freshness.close();
      await this.parts.records.close();
    })();
    return this.closed;
  }
}
