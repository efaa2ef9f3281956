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

type RestorableStore = ResultStore & Required<Pick<ResultStore, 'samples' | 'hourlyOutcomes'>>;

/** How long to wait before trying a failed restore again (unless `restoreRetryMs` says). */
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
  /** Outcomes counted live before the restore completed, as `kind:taskKey`: the restore skips them. */
  private readonly countedWhileRestoring = new Set<string>();
  private restoring: Promise<void> | null = null;
  private restoreError: string | null = null;
  /** Ends the wait between two restore attempts early (at shutdown). */
  private wakeRestore: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly config: AggregationSettings,
    private readonly parts: { readonly sink: ResultSink; readonly store: ResultStore },
    private readonly outbox: AnomalyOutbox,
    private readonly clock: () => number,
    private readonly logger: Logger,
    private readonly restoreRetryMs: number = RESTORE_RETRY_MS,
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
   * Rebuilds this replica's windows from what was stored before a restart, in the background: the
   * service listens and the pipeline consumes meanwhile (`/readyz` says "restoring"). A store that
   * cannot answer yet (a fresh BigQuery dataset, an outage) is tried again every
   * RESTORE_RETRY_MS; rollups are not flushed until the restore has succeeded, so the previous
   * run's rollups are never overwritten by partial windows.
   *
   * Counted exactly once while both run: the restore reads only rows stored up to this process's
   * start, builds its windows apart and adds them in one step when complete (a failed attempt
   * leaves nothing behind); a task counted live whose row from before the start the restore then
   * reads (a redelivery after a crash) is skipped by the restore, and one the restore read first
   * is skipped live (`counted`).
   *
   * @returns resolves once restored (never rejects), or when `stopTimers` gave up on it.
   */
  restore(): Promise<void> {
    this.restoring ??= this.restoreUntilDone();
    return this.restoring;
  }

  /** Whether the previous run's windows are in; `lastError` says why the last try failed. */
  get restoreStatus(): { readonly done: boolean; readonly lastError: string | null } {
    return { done: this.restored, lastError: this.restoreError };
  }

  private async restoreUntilDone(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.restoreOnce();
        if (this.stopped) return;
        this.restored = true;
        this.restoreError = null;
        this.countedWhileRestoring.clear();
        return;
      } catch (err) {
        this.restoreError = (err as Error).message;
        this.logger.warn({ err: this.restoreError }, 'windows could not be restored yet; retrying in the background');
        if (this.stopped) return;
        await new Promise<void>((resolve) => {
          const retry = setTimeout(resolve, this.restoreRetryMs);
          retry.unref();
          this.wakeRestore = () => {
            clearTimeout(retry);
            resolve();
          };
        });
        this.wakeRestore = null;
      }
    }
  }

  private async restoreOnce(): Promise<void> {
    const since = new Date(this.startedAt - (this.config.retentionHours + 1) * HOUR_MS);
    const { store } = this.parts;
    const staged = new HourlyWindows({ retentionHours: this.config.retentionHours, clock: this.clock });
    try {
      if (store.samples && store.hourlyOutcomes) {
        await this.restoreAggregated(store as RestorableStore, since, staged);
      } else if (store.samples) {
        const samples = this.skipCountedLive(this.rebuildBaselines(this.rememberRecent(store.samples(since, this.config.replicaId))));
        const counted = await staged.restore(samples, this.startedAt);
        this.logger.info({ counted, drawings: this.spikes.trackedDrawings }, 'windows and spike baselines rebuilt from stored results');
      } else {
        const own = (await store.rollups(since)).filter((r) => r.replicaId === this.config.replicaId);
        const invalid = staged.restoreRollups(own);
        for (const { rollup, error } of invalid) this.logger.warn({ hour: rollup.hourStart, err: error }, 'rollup could not be restored');
      }
      if (this.stopped) return;
      this.windows.addFrom(staged);
    } finally {
      staged.close();
    }
    // The first hour after a restart is compared with the hours before it, not with nothing.
    this.spikes.seedHourlyTotals(
      this.windows.snapshot().map(({ hourStart, counts }) => ({ hourStart, changes: counts.added + counts.removed + counts.moved + counts.modified })),
    );
  }

  /**
   * The bounded restore: hours before the recent window come aggregated per hour from the store's
   * query (a bounded answer however many rows they hold); the recent window, where a task may be
   * redelivered after a crash, is read row by row, paged, so that each task is counted once (see
   * rememberRecent and skipCountedLive). Spike baselines come from each drawing's last results.
   */
  private async restoreAggregated(store: RestorableStore, since: Date, staged: HourlyWindows): Promise<void> {
    const replica = this.config.replicaId;
    const recentFrom = new Date(Math.min(this.startedAt, Math.max(since.getTime(), this.recentFrom())));
    const hours = await store.hourlyOutcomes(since, recentFrom, replica);
    for (const outcome of hours) staged.restoreHour(outcome);
    const older = store.baselineSamples
      ? store.baselineSamples(since, recentFrom, replica, this.spikes.historySize)
      : this.before(store.samples(since, replica), recentFrom.getTime());
    for await (const sample of this.rebuildBaselines(older)) void sample;
    const recent = this.skipCountedLive(this.rebuildBaselines(this.rememberRecent(store.samples(recentFrom, replica))));
    const counted = await staged.restore(recent, this.startedAt);
    this.logger.info(
      { hours: hours.length, recentCounted: counted, drawings: this.spikes.trackedDrawings },
      'windows (per hour from the store, the recent window row by row) and spike baselines rebuilt',
    );
  }

  /** Start of the window in which a stored task may still be redelivered (see rememberRecent). */
  private recentFrom(): number {
    return this.startedAt - (this.config.pubsub.maxLeaseSeconds + this.config.leaseSeconds) * 1000;
  }

  private async *before(samples: AsyncIterable<MetricSample>, until: number): AsyncIterable<MetricSample> {
    for await (const sample of samples) {
      if (sample.at.getTime() >= until) return;
      yield sample;
    }
  }

  /** Leaves out stored outcomes this process already counted live during the restore. */
  private async *skipCountedLive(samples: AsyncIterable<MetricSample>): AsyncIterable<MetricSample> {
    for await (const sample of samples) {
      if (sample.taskKey !== undefined && this.countedWhileRestoring.has(`${sample.kind}:${sample.taskKey}`)) continue;
      yield sample;
    }
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
    const recentFrom = this.recentFrom();
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
    if (!this.restored) {
      this.countedWhileRestoring.add(key);
      if (this.countedWhileRestoring.size > MAX_REMEMBERED_KEYS) {
        this.countedWhileRestoring.delete(this.countedWhileRestoring.values().next().value as string);
      }
    }
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

  /** Stops the timers and gives up on a restore still retrying (at shutdown). */
  stopTimers(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    this.wakeRestore?.();
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
