/**
 * The aggregate stage as the pipeline sees it: feeds durable, fresh outcomes into the hourly
 * windows and the anomaly detectors, flushes rollups on a timer, rebuilds after a restart, and
 * answers `/metrics`. The pure window and detector classes stay free of timers and I/O.
 */
import type { Config } from '../../src/config.js';
import type { Logger } from '../../src/log.js';
import type { Anomaly } from '../../src/domain/types.js';
import type { FailureRecord, ResultRecord, ResultSink, ResultStore, Rollup } from '../../sinks/sink.js';
import type { AnomalyOutbox, CommitObserver } from '../commit.js';
import { HourlyWindows, HOUR_MS } from './hourly-windows.js';
import { buildMetricsView, RollupHourCache } from './metrics-view.js';
import { SpikeDetector } from '../detect/spike.js';
import { DelayDetector } from '../detect/delay.js';

/** How often the queue depth is sampled for the backlog detector. */
const BACKLOG_SAMPLE_MS = 30_000;

export class Aggregation implements CommitObserver {
  readonly windows: HourlyWindows;
  private readonly spikes: SpikeDetector;
  private readonly delays: DelayDetector;
  private readonly cache = new RollupHourCache();
  /** Rollups whose write failed, retried on the next flush (newer copies replace them). */
  private unflushed = new Map<number, Rollup>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: Config,
    private readonly parts: { readonly sink: ResultSink; readonly store: ResultStore },
    private readonly outbox: AnomalyOutbox,
    private readonly clock: () => number,
    private readonly logger: Logger,
  ) {
    this.windows = new HourlyWindows({ retentionHours: config.retentionHours, clock });
    this.spikes = new SpikeDetector({ clock, factor: config.spikeFactor });
    this.delays = new DelayDetector({ clock, thresholdSeconds: config.delayedUploadSeconds });
  }

  /** Rebuilds this replica's windows from what was stored before a restart. */
  async restore(): Promise<void> {
    const since = new Date(this.clock() - (this.config.retentionHours + 1) * HOUR_MS);
    const { store } = this.parts;
    if (store.samples) {
      const counted = await this.windows.restore(store.samples(since, this.config.replicaId));
      this.logger.info({ counted }, 'windows rebuilt from stored results');
    } else {
      const own = (await store.rollups(since)).filter((r) => r.replicaId === this.config.replicaId);
      const invalid = this.windows.restoreRollups(own);
      for (const { rollup, error } of invalid) this.logger.warn({ hour: rollup.hourStart, err: error }, 'rollup could not be restored');
    }
  }

  inspect(result: ResultRecord): readonly Anomaly[] {
    return this.delays.observeResult({ drawingId: result.drawingId, taskKey: result.taskKey, endToEndMs: result.endToEndMs });
  }

  counted(outcome: { result: ResultRecord } | { failure: FailureRecord }): void {
    if ('result' in outcome) {
      const r = outcome.result;
      this.windows.recordResult({ at: r.createdAt, processingTimeMs: r.processingTimeMs, endToEndMs: r.endToEndMs, counts: r.counts });
      const spikes = this.spikes.observe({ drawingId: r.drawingId, taskKey: r.taskKey, counts: r.counts, at: r.createdAt });
      if (spikes.length > 0) this.outbox.push(...spikes);
    } else {
      const f = outcome.failure;
      this.windows.recordFailure({ at: f.createdAt, malformed: f.kind === 'malformed' });
    }
  }

  startTimers(backlog?: () => Promise<number>): void {
    const flush = setInterval(() => void this.flush(), this.config.rollupFlushSeconds * 1000);
    flush.unref();
    this.timers.push(flush);
    if (backlog) {
      const sample = setInterval(() => {
        backlog()
          .then((depth) => {
            const anomalies = this.delays.observeBacklog(depth, this.clock());
            if (anomalies.length > 0) this.outbox.push(...anomalies);
          })
          .catch((err: unknown) => this.logger.warn({ err: (err as Error).message }, 'backlog sample failed'));
      }, BACKLOG_SAMPLE_MS);
      sample.unref();
      this.timers.push(sample);
    }
  }

  stopTimers(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Releases the histograms (WebAssembly memory). */
  close(): void {
    this.stopTimers();
    this.windows.close();
    this.cache.close();
  }

  /** Writes the rollups changed since the last flush, and anomalies still waiting in the outbox. */
  async flush(): Promise<void> {
    this.windows.rotate();
    for (const r of this.windows.dirtyRollups(this.config.replicaId)) this.unflushed.set(r.hourStart.getTime(), r);
    const rollups = [...this.unflushed.values()];
    try {
      if (rollups.length > 0) await this.parts.sink.writeRollups(rollups);
      this.unflushed = new Map();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, rollups: rollups.length }, 'rollup flush failed; retrying on the next flush');
    }
    if (this.outbox.size > 0) {
      const anomalies = this.outbox.drain();
      try {
        await this.parts.sink.writeBatch({ results: [], failures: [], anomalies });
      } catch (err) {
        this.outbox.putBack(anomalies);
        this.logger.warn({ err: (err as Error).message }, 'anomaly flush failed; retrying on the next flush');
      }
    }
  }

  /** The `GET /metrics` body: own live windows merged with every other replica's stored rollups. */
  async metricsView(): Promise<Record<string, unknown>> {
    const now = this.clock();
    const since = new Date(now - this.config.retentionHours * HOUR_MS - HOUR_MS);
    const [others, dataQualityIssues] = await Promise.all([
      this.parts.store.rollups(since),
      this.parts.store.dataQualityIssues(since),
    ]);
    const view = buildMetricsView({
      now,
      retentionHours: this.config.retentionHours,
      replicaId: this.config.replicaId,
      own: this.windows,
      others,
      dataQualityIssues,
      cache: this.cache,
      onInvalidRollup: (invalid) => this.logger.warn({ invalid }, 'a stored rollup could not be merged'),
    });
    return view as unknown as Record<string, unknown>;
  }
}
