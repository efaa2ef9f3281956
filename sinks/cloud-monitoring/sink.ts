/**
 * Custom metrics in Cloud Monitoring: totals accumulate in memory from written batches and are
 * written as cumulative points on a timer (never more often than the interval, so points stay in
 * order and within the API's sampling limit). Metrics are telemetry: a failed write is logged and
 * counted, never passed on to the pipeline.
 */
import type { MetricServiceClient, protos } from '@google-cloud/monitoring';
import type { Logger } from '../../src/log.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { MetricTotals, type TotalsSnapshot } from '../../src/infra/monitoring/accumulate.js';
import { MAX_SERIES_PER_REQUEST, MIN_POINT_SPACING_MS } from '../../src/infra/monitoring/metrics.js';
import { encodeTimeSeries, metricDescriptors } from '../../src/infra/monitoring/encode.js';
import type { MonitoredResource } from '../../src/infra/monitoring/resource.js';
import type { SeriesSource } from '../../src/infra/monitoring/encode.js';
import { errorMessage } from '../../src/domain/errors.js';

/** The slice of the client this sink uses; tests hand in the real client at a local gRPC server. */
export type MonitoringClient = Pick<MetricServiceClient, 'createTimeSeries' | 'createMetricDescriptor'>;

export interface CloudMonitoringSinkOptions {
  readonly client: MonitoringClient;
  readonly projectId: string;
  readonly resource: MonitoredResource;
  readonly logger: Logger;
  /** Time between points (MONITORING_INTERVAL_SECONDS · 1000). */
  readonly intervalMs: number;
  /** Floor between two points of a series, also for the final one at close. */
  readonly minPointSpacingMs?: number;
  /** Start of every cumulative interval; defaults to when the sink was made (process start). */
  readonly startTime?: Date;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface MonitoringStats {
  readonly pointsWritten: number;
  readonly writeFailures: number;
  readonly lastError: string | null;
}

/** What the composite learned about freshness, so replays are not counted again. */
export interface Freshness {
  readonly tasks: ReadonlySet<string>;
  readonly anomalies: ReadonlySet<string>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class CloudMonitoringSink {
  private readonly totals = new MetricTotals();
  private readonly start: Date;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly minSpacing: number;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private writing = false;
  private lastEnd = 0;
  private descriptorsReady = false;
  private extra: SeriesSource | null = null;
  private closed = false;
  private stats_: MonitoringStats = { pointsWritten: 0, writeFailures: 0, lastError: null };
  private readonly writeListeners: ((latencyMs: number, ok: boolean) => void)[] = [];

  constructor(private readonly options: CloudMonitoringSinkOptions) {
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? defaultSleep;
    this.start = options.startTime ?? new Date(this.now());
    this.minSpacing = Math.max(0, options.minPointSpacingMs ?? MIN_POINT_SPACING_MS);
  }

  /**
   * Creates the custom metric descriptors (an existing identical descriptor is left as is).
   * Resolves false instead of rejecting when Monitoring cannot be reached; the next write retries.
   */
  async ensureDescriptors(): Promise<boolean> {
    if (this.descriptorsReady) return true;
    // A source attached while this runs needs its own descriptors: ready only for the one read here.
    const extra = this.extra;
    try {
      for (const metricDescriptor of [...metricDescriptors(), ...(extra?.descriptors() ?? [])]) {
        await this.options.client.createMetricDescriptor({ name: `projects/${this.options.projectId}`, metricDescriptor });
      }
      this.descriptorsReady = this.extra === extra;
      if (!this.descriptorsReady) return this.ensureDescriptors();
      return true;
    } catch (err) {
      this.failed(err, 'Cloud Monitoring: creating metric descriptors failed');
      return false;
    }
  }

  /** Adds metrics to every point from now on; their descriptors are created before the next write. */
  attach(source: SeriesSource): void {
    this.extra = source;
    this.descriptorsReady = false;
  }

  /** Starts the timer that writes a point every interval. */
  startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.flushIfDue(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Adds a written batch to the totals; only fresh results, failures and anomalies count. */
  record(batch: SinkBatch, fresh: Freshness): void {
    for (const r of batch.results) {
      if (fresh.tasks.has(r.taskKey)) this.totals.recordResult(r.counts, r.processingTimeMs, r.endToEndMs);
    }
    for (const f of batch.failures) {
      if (fresh.tasks.has(f.taskKey)) this.totals.recordDeadLetter(f.kind);
    }
    for (const a of batch.anomalies) {
      if (fresh.anomalies.has(a.id)) this.totals.recordAnomaly(a.type);
    }
  }

  snapshot(): TotalsSnapshot {
    return this.totals.snapshot();
  }

  stats(): MonitoringStats {
    return this.stats_;
  }

  /** Times each point's createTimeSeries requests from now on (self-telemetry of this sink). */
  observeWrites(listener: (latencyMs: number, ok: boolean) => void): void {
    this.writeListeners.push(listener);
  }

  /** Writes a point if the interval has passed since the last one and no write is under way. */
  async flushIfDue(): Promise<void> {
    if (this.writing || this.now() - this.lastEnd < this.options.intervalMs) return;
    await this.flush();
  }

  /**
   * Writes a point now (after the minimum spacing since the previous one). Never rejects.
   *
   * @example
   * await monitoring.flush(); // stats().writeFailures tells whether it landed
   */
  flush(): Promise<void> {
    this.chain = this.chain.then(() => this.writePoint());
    return this.chain;
  }

  /** Stops the timer and writes the final point. */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  private async writePoint(): Promise<void> {
    this.writing = true;
    try {
      const wait = this.lastEnd + this.minSpacing - this.now();
      if (this.lastEnd > 0 && wait > 0) await this.sleep(wait);
      if (!(await this.ensureDescriptors())) return;
      // End times strictly increase and follow the start, as Monitoring requires of a series.
      const end = Math.max(this.now(), this.lastEnd + 1, this.start.getTime() + 1);
      const at = { resource: this.options.resource, start: this.start, end: new Date(end) };
      const series = [...encodeTimeSeries(this.totals.snapshot(), at), ...((await this.extra?.series(at)) ?? [])];
      // Counted as attempted: a series Monitoring accepted from a failed request must not get this end time again.
      this.lastEnd = end;
      const started = performance.now();
      try {
        for (let i = 0; i < series.length; i += MAX_SERIES_PER_REQUEST) {
          await this.options.client.createTimeSeries({
            name: `projects/${this.options.projectId}`,
            timeSeries: series.slice(i, i + MAX_SERIES_PER_REQUEST),
          });
        }
      } catch (err) {
        for (const l of this.writeListeners) l(performance.now() - started, false);
        throw err;
      }
      for (const l of this.writeListeners) l(performance.now() - started, true);
      this.stats_ = { ...this.stats_, pointsWritten: this.stats_.pointsWritten + 1 };
    } catch (err) {
      // The totals are cumulative: the next point carries everything this one would have.
      this.failed(err, 'Cloud Monitoring: writing time series failed');
    } finally {
      this.writing = false;
    }
  }

  private failed(err: unknown, message: string): void {
    const text = errorMessage(err);
    this.stats_ = { ...this.stats_, writeFailures: this.stats_.writeFailures + 1, lastError: text };
    this.options.logger.warn({ err: text, failures: this.stats_.writeFailures }, message);
  }
}
