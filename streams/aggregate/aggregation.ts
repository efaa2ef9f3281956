/**
 * The aggregate stage as the pipeline sees it: feeds durable, fresh outcomes into the hourly
 * windows and the anomaly detectors, flushes rollups on a timer, rebuilds after a restart, and
 * answers `/metrics`. The pure window and detector classes stay free of timers and I/O.
 */
import type { Logger } from '../../src/log.js';
import type { Anomaly } from '../../src/domain/types.js';
import type { FailureRecord, MetricSample, ResultRecord, ResultSink, ResultStore, Rollup } from '../../src/domain/sink.js';
import type { AnomalyOutbox, CommitObserver } from '../commit.js';
import { HourlyWindows, HOUR_MS } from './hourly-windows.js';
import { buildMetricsView, RollupHourCache } from './metrics-view.js';
import { StoreSnapshot } from './store-snapshot.js';
import { SpikeDetector } from '../detect/spike.js';
import { DelayDetector } from '../detect/delay.js';

/** How long to wait before trying a failed restore again. */
const RESTORE_RETRY_MS = 5_000;
/** Bound on rememberRecent's set: memory stays bounded whatever the traffic before a crash. */
const MAX_REMEMBERED_KEYS = 200_000;
/** How often the queue depth is sampled for the backlog detector. */
const BACKLOG_SAMPLE_MS = 30_000;
/** The configuration's settings the aggregation reads. */
export interface AggregationSettings {
  readonly replicaId: string;
  readonly retentionHours: number;
  readonly rollupFlushSeconds: number;
  readonly spikeFactor: number;
  readonly delayedUploadSeconds: number;
  readonly leaseSeconds: number;
  readonly pubsub: { readonly maxLeaseSeconds: number };
}

/**
 * How long `/metrics` reuses its store readings (other replicas' rollups, which change once per
 * their flush, and the data-quality count, which this process's own writes refresh at once), and
 * how long stale ones may be served while a refresh runs.
 */
const STORE_READINGS_FRESH_MS = 2_000;
const STORE_READINGS_STALE_MS = 30_000;

export class Aggregation implements CommitObserver {
  readonly windows: HourlyWindows;
  private readonly spikes: SpikeDetector;
  private readonly delays: DelayDetector;
  private readonly cache = new RollupHourCache();
  private readonly storeReadings: StoreSnapshot;
  /** Rollups whose write failed, retried on the next flush (newer copies replace them). */
  private unflushed = new Map<number, Rollup>();
  private timers: NodeJS.Timeout[] = [];
  /** Until the previous run's state is restored, rollups are not flushed (they would overwrite it). */
  private restored = false;
  private readonly startedAt: number;
  /**
   * Outcomes restored from rows stored just before this start, as `kind:taskKey` (see
   * rememberRecent): a task that failed before the restart and completes after it still counts.
   */
  private readonly restoredRecently = new Set<string>();

  constructor(
    private readonly config: AggregationSettings,
    private readonly parts: { readonly sink: ResultSink; readonly store: ResultStore },
    private readonly outbox: AnomalyOutbox,
    private readonly clock: () => number,
    private readonly logger: Logger,
  ) {
    this.windows = new HourlyWindows({ retentionHours: config.retentionHours, clock });
    this.spikes = new SpikeDetector({ clock, factor: config.spikeFactor });
    this.delays = new DelayDetector({ clock, thresholdSeconds: config.delayedUploadSeconds });
    this.startedAt = clock();
    this.storeReadings = new StoreSnapshot({
      read: async () => {
        const since = new Date(this.clock() - this.config.retentionHours * HOUR_MS - HOUR_MS);
        const [rollups, dataQualityIssues] = await Promise.all([this.parts.store.rollups(since), this.parts.store.dataQualityIssues(since)]);
        return { rollups, dataQualityIssues };
      },
      clock,
      freshMs: STORE_READINGS_FRESH_MS,
      staleMs: STORE_READINGS_STALE_MS,
      onBackgroundError: (err) => this.logger.warn({ err: (err as Error).message }, 'metrics store readings could not be refreshed; serving the previous ones'),
    });
  }

  /**
   * Notes that this process wrote anomalies the data-quality count may include (a failure's
   * malformed_input, a missing_upload): the next `/metrics` answer reads the store again.
   */
  anomaliesWritten(): void {
    this.storeReadings.changed();
  }

  /**
   * Rebuilds this replica's windows from what was stored before a restart. A store that cannot
   * answer yet (a fresh BigQuery dataset, an outage) must not stop the service from starting: the
   * restore is retried in the background, and rollups are not flushed until it has succeeded, so
   * the previous run's rollups are never overwritten by partial windows.
   */
  async restore(): Promise<void> {
    try {
      await this.restoreOnce();
      this.restored = true;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'windows could not be restored yet; retrying in the background');
      const retry = setTimeout(() => void this.restore(), RESTORE_RETRY_MS);
      retry.unref();
      this.timers.push(retry);
    }
  }

  private async restoreOnce(): Promise<void> {
    const since = new Date(this.startedAt - (this.config.retentionHours + 1) * HOUR_MS);
    const { store } = this.parts;
    if (store.samples) {
      const samples = this.rebuildBaselines(this.rememberRecent(store.samples(since, this.config.replicaId)));
      const counted = await this.windows.restore(samples, this.startedAt);
      this.logger.info({ counted, drawings: this.spikes.trackedDrawings }, 'windows and spike baselines rebuilt from stored results');
    } else {
      const own = (await store.rollups(since)).filter((r) => r.replicaId === this.config.replicaId);
      const invalid = this.windows.restoreRollups(own);
      for (const { rollup, error } of invalid) this.logger.warn({ hour: rollup.hourStart, err: error }, 'rollup could not be restored');
    }
    // The first hour after a restart is compared with the hours before it, not with nothing.
    this.spikes.seedHourlyTotals(
      this.windows.snapshot().map(({ hourStart, counts }) => ({ hourStart, changes: counts.added + counts.removed + counts.moved + counts.modified })),
    );
  }

  /** Passes samples through, adding each stored result to its drawing's spike baseline. */
  private async *rebuildBaselines(samples: AsyncIterable<MetricSample>): AsyncIterable<MetricSample> {
    for await (const sample of samples) {
      if (sample.kind === 'result' && sample.drawingId !== undefined && sample.taskKey !== undefined && sample.at.getTime() <= this.startedAt) {
        this.spikes.remember({ drawingId: sample.drawingId, taskKey: sample.taskKey, counts: sample.counts, at: sample.at });
      }
      yield sample;
    }
  }

  /**
   * Notes the task keys of samples stored shortly before this start. A task in flight at a crash
   * may have its rows stored but not be acked; where the store decides freshness by something
   * else than those rows (the GCP sink's Cloud Storage markers), its redelivery would count it a
   * second time on top of the restore.
   */
  private async *rememberRecent(samples: AsyncIterable<MetricSample>): AsyncIterable<MetricSample> {
    const recentFrom = this.startedAt - (this.config.pubsub.maxLeaseSeconds + this.config.leaseSeconds) * 1000;
    for await (const sample of samples) {
      if (sample.taskKey !== undefined && sample.at.getTime() >= recentFrom) {
        this.restoredRecently.add(`${sample.kind}:${sample.taskKey}`);
        if (this.restoredRecently.size > MAX_REMEMBERED_KEYS) {
          this.restoredRecently.delete(this.restoredRecently.values().next().value as string);
        }
      }
      yield sample;
    }
  }

  inspect(result: ResultRecord): readonly Anomaly[] {
    return this.delays.observeResult({ drawingId: result.drawingId, taskKey: result.taskKey, endToEndMs: result.endToEndMs });
  }

  counted(outcome: { result: ResultRecord } | { failure: FailureRecord }): void {
    const key = 'result' in outcome ? `result:${outcome.result.taskKey}` : `failure:${outcome.failure.taskKey}`;
    if (this.restoredRecently.delete(key)) return;
    if ('result' in outcome) {
      const r = outcome.result;
      this.windows.recordResult({ at: r.createdAt, processingTimeMs: r.processingTimeMs, endToEndMs: r.endToEndMs, counts: r.counts });
      const spikes = this.spikes.observe({ drawingId: r.drawingId, taskKey: r.taskKey, counts: r.counts, at: r.createdAt });
      if (spikes.length > 0) this.outbox.push(...spikes);
    } else {
      const f = outcome.failure;
      this.windows.recordFailure({ at: f.createdAt, malformed: f.kind === 'malformed' });
      // Its anomaly was written in the same batch.
      this.anomaliesWritten();
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
    for (const t of this.timers) clearTimeout(t);
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
    if (!this.restored) return;
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
        this.anomaliesWritten();
      } catch (err) {
        this.outbox.putBack(anomalies);
        this.logger.warn({ err: (err as Error).message }, 'anomaly flush failed; retrying on the next flush');
      }
    }
  }

  /** The `GET /metrics` body: own live windows merged with every other replica's stored rollups. */
  async metricsView(): Promise<Record<string, unknown>> {
    const { rollups: others, dataQualityIssues } = await this.storeReadings.get();
    const view = buildMetricsView({
      now: this.clock(),
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
