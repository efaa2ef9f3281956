/**
 * The SINKS=gcp sink: BigQuery rows (the queryable store every replica reads), Cloud Storage
 * result objects (the create-if-absent marker that decides freshness, and a durable copy), and
 * Cloud Monitoring metrics (telemetry that never fails a batch), behind one ResultSink and
 * ResultStore.
 *
 * Write order, and why: BigQuery rows first, then the Cloud Storage markers, then the metrics.
 * A batch is durable only when both stores hold it; freshness is decided by whichever object
 * create wins. Creating the marker LAST means a marker exists only for a task whose rows are
 * already written: if the BigQuery insert fails, no marker is left behind, so the redelivered
 * task is still fresh and is counted exactly once. (Marker first would leave markers for a
 * failed batch; its redelivery would then be "not fresh" and its counts lost.) Replays and
 * concurrent duplicates still write their BigQuery rows — with the same insertIds, and the
 * queries dedupe — so the rows are there whichever attempt survives.
 */
import type { Config } from '../src/config.js';
import type { Anomaly } from '../src/domain/types.js';
import type { Logger } from '../src/log.js';
import { createBigQueryClient, type RetryPolicy } from './bigquery/config.js';
import { anomalyRow, changeResultRow, failureMetricRow, resultMetricRow, rollupRow } from './bigquery/encode.js';
import { BigQueryWriter, type BigQueryClient, type RowsByTable } from './bigquery/sink.js';
import { BigQueryStore } from './bigquery/store.js';
import { createStorageClient } from './cloud-storage/config.js';
import { CloudStorageMarkers, type BucketClient } from './cloud-storage/sink.js';
import { createMonitoringClient } from './cloud-monitoring/config.js';
import { detectResource } from './cloud-monitoring/resource.js';
import { CloudMonitoringSink, type MonitoringClient, type MonitoringStats } from './cloud-monitoring/sink.js';
import type { DrawingCursor, DrawingSummary, JobRecord, JobStatus, MetricSample, ResultSink, ResultStore, Rollup, SinkBatch, StoredChange, WriteReceipt } from './sink.js';

/** The three clients, narrowed to what the sinks call; tests pass real clients at local fakes. */
export interface GcpClients {
  readonly bigquery: BigQueryClient;
  readonly storage: { bucket(name: string): BucketClient };
  readonly monitoring: MonitoringClient & { close?(): Promise<void> };
}

export interface GcpSinkOptions {
  /** Row retry policy for BigQuery (tests shrink the backoff). */
  readonly retry?: RetryPolicy;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Minimum spacing of Monitoring points (the API's 5 s by default). */
  readonly monitoringMinPointSpacingMs?: number;
  /** Monitoring interval override in ms (tests); else MONITORING_INTERVAL_SECONDS. */
  readonly monitoringIntervalMs?: number;
  /** Environment for monitored-resource detection (defaults to process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** BigQuery dataset location when the sink creates the dataset. */
  readonly location?: string;
  /** Result-object creates in flight per batch (Cloud Storage latency bounds throughput: ~16 / 40 ms). */
  readonly markerConcurrency?: number;
}

export interface GcpSinkStats {
  readonly bigqueryRetainedRows: number;
  readonly bigqueryDroppedRows: number;
  readonly monitoring: MonitoringStats;
}

export class GcpSink implements ResultSink, ResultStore {
  readonly name = 'gcp';
  private readonly writer: BigQueryWriter;
  private readonly store: BigQueryStore;
  private readonly markers: CloudStorageMarkers;
  private readonly monitoring: CloudMonitoringSink;
  private readonly init: Promise<unknown>;
  private closed: Promise<void> | null = null;

  constructor(
    config: Config,
    private readonly logger: Logger,
    clients: GcpClients,
    private readonly ownedMonitoringClient: { close(): Promise<void> } | null,
    options: GcpSinkOptions = {},
  ) {
    const projectId = requireProject(config);
    this.writer = new BigQueryWriter({
      client: clients.bigquery,
      datasetId: config.gcp.dataset,
      logger,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.location ? { location: options.location } : {}),
    });
    this.store = new BigQueryStore({ client: clients.bigquery, writer: this.writer, projectId, datasetId: config.gcp.dataset });
    this.markers = new CloudStorageMarkers({
      bucket: clients.storage.bucket(config.gcp.outputBucket),
      logger,
      ...(options.markerConcurrency ? { concurrency: options.markerConcurrency } : {}),
    });
    this.monitoring = new CloudMonitoringSink({
      client: clients.monitoring,
      projectId,
      resource: detectResource({ projectId, replicaId: config.replicaId }, options.env),
      logger,
      intervalMs: options.monitoringIntervalMs ?? config.gcp.monitoringIntervalSeconds * 1000,
      ...(options.monitoringMinPointSpacingMs !== undefined ? { minPointSpacingMs: options.monitoringMinPointSpacingMs } : {}),
    });
    // Set up in the background: a slow or down API at start-up must not crash the process;
    // writes and readiness wait for (and retry) the schema themselves.
    this.init = Promise.allSettled([
      this.writer.ensureSchema().catch((err: unknown) => logger.warn({ err: String(err) }, 'BigQuery schema not ready yet')),
      this.monitoring.ensureDescriptors(),
    ]);
    this.monitoring.startTimer();
  }

  /**
   * BigQuery rows, then create-if-absent result objects (which decide `fresh`), then metrics.
   * Rejects with TransientError('sink_unavailable') if either store did not take the batch.
   */
  async writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    if (batch.results.length + batch.failures.length + batch.anomalies.length === 0) return { fresh: new Set() };
    await this.writer.insert(rowsOf(batch));
    const receipt = await this.markers.writeBatch(batch);
    this.monitoring.record(batch, { tasks: receipt.freshTasks, anomalies: receipt.freshAnomalies });
    return { fresh: receipt.freshTasks };
  }

  /**
   * Appends a version of each rollup; readers take the newest `updated_at` per (replica, hour),
   * which is an upsert as far as every query can tell.
   */
  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    if (rollups.length === 0) return;
    await this.writer.insert({ hourly_rollups: rollups.map(rollupRow) });
  }

  /** Re-sends rows kept after failures, and writes a metrics point if one is due. */
  async flush(): Promise<void> {
    await this.writer.flush();
    await this.monitoring.flushIfDue();
  }

  /** Writes the final metrics point and releases the Monitoring channel. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.init;
      await this.monitoring.close();
      const { retained } = this.writer.retainedStats();
      if (retained > 0) this.logger.warn({ retained }, 'closing with BigQuery rows not written (their tasks were not acked)');
      await this.ownedMonitoringClient?.close().catch(() => undefined);
    })();
    return this.closed;
  }

  /** Ready when the tables exist and the dataset and the output bucket answer. */
  async healthcheck(): Promise<void> {
    await this.writer.ensureSchema();
    await Promise.all([this.writer.healthcheck(), this.markers.healthcheck()]);
  }

  stats(): GcpSinkStats {
    const { retained, dropped } = this.writer.retainedStats();
    return { bigqueryRetainedRows: retained, bigqueryDroppedRows: dropped, monitoring: this.monitoring.stats() };
  }

  changes(drawingId: string, limit: number): Promise<StoredChange[]> {
    return this.store.changes(drawingId, limit);
  }

  drawings(limit: number, after: DrawingCursor | null): Promise<DrawingSummary[]> {
    return this.store.drawings(limit, after);
  }

  createJob(job: JobRecord): Promise<void> {
    return this.store.createJob(job);
  }

  job(jobId: string): Promise<JobStatus | null> {
    return this.store.job(jobId);
  }

  samples(since: Date, replicaId: string): AsyncIterable<MetricSample> {
    return this.store.samples(since, replicaId);
  }

  rollups(since: Date): Promise<Rollup[]> {
    return this.store.rollups(since);
  }

  anomalies(since: Date, limit: number): Promise<Anomaly[]> {
    return this.store.anomalies(since, limit);
  }

  dataQualityIssues(since: Date): Promise<number> {
    return this.store.dataQualityIssues(since);
  }
}

function rowsOf(batch: SinkBatch): RowsByTable {
  const rows: { -readonly [K in keyof RowsByTable]: RowsByTable[K] } = {};
  if (batch.results.length > 0) rows.change_results = batch.results.map(changeResultRow);
  const metrics = [...batch.results.map(resultMetricRow), ...batch.failures.map(failureMetricRow)];
  if (metrics.length > 0) rows.processing_metrics = metrics;
  if (batch.anomalies.length > 0) rows.anomalies = batch.anomalies.map(anomalyRow);
  return rows;
}

function requireProject(config: Config): string {
  if (!config.projectId) throw new RangeError('SINKS=gcp needs GOOGLE_CLOUD_PROJECT');
  return config.projectId;
}

/**
 * The GCP sink for SINKS=gcp. Clients not supplied are built from the configuration
 * (Application Default Credentials; *_API_ENDPOINT overrides).
 *
 * @example
 * const sink = createGcpSink(config, logger);
 * const { fresh } = await sink.writeBatch(batch);
 */
export function createGcpSink(config: Config, logger: Logger, clients: Partial<GcpClients> = {}, options: GcpSinkOptions = {}): GcpSink {
  const monitoring = clients.monitoring ?? createMonitoringClient(config);
  return new GcpSink(
    config,
    logger,
    {
      bigquery: clients.bigquery ?? createBigQueryClient(config),
      storage: clients.storage ?? createStorageClient(config),
      monitoring,
    },
    clients.monitoring ? null : (monitoring as { close(): Promise<void> }),
    options,
  );
}
