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
 *
 * A result too large for one BigQuery row (over SPILL_ROW_BYTES) keeps its summary and an excerpt
 * in the row, with `result_object` pointing at its result object, which holds it whole; reads
 * answer it whole from there. A row BigQuery refuses for good fails its task alone (`rejected`).
 */
import type { Config } from '../src/config.js';
import type { Anomaly } from '../src/domain/types.js';
import type { Logger } from '../src/log.js';
import { ERROR_CODES, TransientError } from '../src/domain/errors.js';
import { createBigQueryClient, EXCERPT_ITEMS, SPILL_ROW_BYTES } from './bigquery/config.js';
import { anomalyRow, changeResultRow, excerptChangeResultRow, failureMetricRow, resultMetricRow, rollupRow, rowBytes, type InsertRow } from './bigquery/encode.js';
import { BigQueryWriter, describe, errorCode, type BigQueryClient, type InsertReceipt, type RowsByTable } from './bigquery/sink.js';
import { BigQueryStore, type ResultLists } from './bigquery/store.js';
import { createStorageClient } from './cloud-storage/config.js';
import { resultObjectName } from './cloud-storage/encode.js';
import { CloudStorageMarkers, type BucketClient } from './cloud-storage/sink.js';
import { createMonitoringClient } from './cloud-monitoring/config.js';
import { detectResource } from './cloud-monitoring/resource.js';
import { CloudMonitoringSink, type MonitoringClient, type MonitoringStats } from './cloud-monitoring/sink.js';
import type { JobRecord, JobStatus, MetricSample, Rejection, ResultRecord, ResultSink, ResultStore, Rollup, SinkBatch, StoredChange, WriteReceipt } from './sink.js';

/** The three clients, narrowed to what the sinks call; tests pass real clients at local fakes. */
export interface GcpClients {
  readonly bigquery: BigQueryClient;
  readonly storage: { bucket(name: string): BucketClient };
  readonly monitoring: MonitoringClient & { close?(): Promise<void> };
}

export interface GcpSinkOptions {
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
  /** Rows BigQuery refused for good since start (their tasks failed alone). */
  readonly bigqueryRejectedRows: number;
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
  private rejectedRows = 0;
  /**
   * The change_results row of a result: whole when it fits, else an excerpt pointing at the
   * result object in OUTPUT_BUCKET, which is the same object the marker creates (it holds the
   * whole result). Between the row and the marker a reader sees the excerpt; once acked, the whole.
   */
  private readonly resultRow: (r: ResultRecord) => InsertRow;

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
      ...(options.location ? { location: options.location } : {}),
    });
    const outputBucket = clients.storage.bucket(config.gcp.outputBucket);
    this.resultRow = (r) => {
      const row = changeResultRow(r);
      return rowBytes(row) > SPILL_ROW_BYTES ? excerptChangeResultRow(r, `gs://${config.gcp.outputBucket}/${resultObjectName(r)}`, EXCERPT_ITEMS) : row;
    };
    this.store = new BigQueryStore({
      client: clients.bigquery,
      writer: this.writer,
      projectId,
      datasetId: config.gcp.dataset,
      readObject: (uri) => readResultObject(outputBucket, config.gcp.outputBucket, uri),
    });
    this.markers = new CloudStorageMarkers({
      bucket: outputBucket,
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
   * A task any of whose rows BigQuery refused for good is `rejected` and gets no result object
   * (so it is never counted). Rejects with TransientError('sink_unavailable') if either store
   * could not take the batch now.
   */
  async writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    if (batch.results.length + batch.failures.length + batch.anomalies.length === 0) return { fresh: new Set() };
    // Result rows first, then the metrics rows of the results BigQuery took: a `completed`
    // metrics row of a refused result would count its task as completed in /jobs.
    const rejected = new Map<string, Rejection>();
    const refuse = (inserted: InsertReceipt, taskOf: ReadonlyMap<string, string>) => {
      for (const r of inserted.rejected) {
        this.rejectedRows += 1;
        const taskKey = taskOf.get(`${r.table}\u0000${r.insertId}`);
        if (taskKey && !rejected.has(taskKey)) rejected.set(taskKey, { code: r.code, message: `BigQuery ${r.table}: ${r.message}` });
      }
    };
    const first = rowsOf({ results: batch.results, failures: [], anomalies: batch.anomalies }, { metrics: false, resultRow: this.resultRow });
    refuse(await this.writer.insert(first.rows), first.taskOf);
    const second = rowsOf(
      { results: batch.results.filter((r) => !rejected.has(r.taskKey)), failures: batch.failures, anomalies: [] },
      { metrics: true, resultRow: this.resultRow },
    );
    refuse(await this.writer.insert(second.rows), second.taskOf);
    const accepted: SinkBatch =
      rejected.size === 0
        ? batch
        : {
            results: batch.results.filter((r) => !rejected.has(r.taskKey)),
            failures: batch.failures.filter((f) => !rejected.has(f.taskKey)),
            anomalies: batch.anomalies,
          };
    const receipt = await this.markers.writeBatch(accepted);
    this.monitoring.record(accepted, { tasks: receipt.freshTasks, anomalies: receipt.freshAnomalies });
    return { fresh: receipt.freshTasks, rejected };
  }

  /**
   * Appends a version of each rollup; readers take the newest `updated_at` per (replica, hour),
   * which is an upsert as far as every query can tell.
   */
  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    if (rollups.length === 0) return;
    const { rejected } = await this.writer.insert({ hourly_rollups: rollups.map(rollupRow) });
    // A refused rollup is logged by the writer; the next flush writes a newer version of it.
    this.rejectedRows += rejected.length;
  }

  /** Writes a metrics point if one is due (BigQuery keeps nothing to flush). */
  async flush(): Promise<void> {
    await this.writer.flush();
    await this.monitoring.flushIfDue();
  }

  /** Writes the final metrics point and releases the Monitoring channel. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.init;
      await this.monitoring.close();
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
    return { bigqueryRejectedRows: this.rejectedRows, monitoring: this.monitoring.stats() };
  }

  changes(drawingId: string, limit: number): Promise<StoredChange[]> {
    return this.store.changes(drawingId, limit);
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

/** The rows of a batch, and the task each row belongs to (by `table \0 insertId`), to map refusals back. */
function rowsOf(
  batch: SinkBatch,
  parts: { readonly metrics: boolean; readonly resultRow: (r: SinkBatch['results'][number]) => InsertRow },
): { rows: RowsByTable; taskOf: Map<string, string> } {
  const rows: { -readonly [K in keyof RowsByTable]: RowsByTable[K] } = {};
  const taskOf = new Map<string, string>();
  const tag = (table: string, taskKey: string, row: InsertRow) => (taskOf.set(`${table}\u0000${row.insertId}`, taskKey), row);
  if (batch.anomalies.length > 0) rows.anomalies = batch.anomalies.map(anomalyRow);
  if (!parts.metrics) {
    if (batch.results.length > 0) rows.change_results = batch.results.map((r) => tag('change_results', r.taskKey, parts.resultRow(r)));
    return { rows, taskOf };
  }
  const metrics = [
    ...batch.results.map((r) => tag('processing_metrics', r.taskKey, resultMetricRow(r))),
    ...batch.failures.map((f) => tag('processing_metrics', f.taskKey, failureMetricRow(f))),
  ];
  if (metrics.length > 0) rows.processing_metrics = metrics;
  return { rows, taskOf };
}

/**
 * The lists of a result object this sink wrote (`gs://<OUTPUT_BUCKET>/<name>`), or null when it
 * does not exist (yet: its row is written before it).
 */
async function readResultObject(bucket: BucketClient, bucketName: string, uri: string): Promise<ResultLists | null> {
  const prefix = `gs://${bucketName}/`;
  if (!uri.startsWith(prefix)) throw new TransientError(ERROR_CODES.sinkUnavailable, `result object ${uri} is not in OUTPUT_BUCKET ${bucketName}`);
  try {
    const [bytes] = await bucket.file(uri.slice(prefix.length)).download();
    const body = JSON.parse(bytes.toString('utf8')) as ResultLists;
    return { added: body.added, removed: body.removed, moved: body.moved, modified: body.modified };
  } catch (err) {
    if (errorCode(err) === 404) return null;
    throw new TransientError(ERROR_CODES.sinkUnavailable, `cannot read result object ${uri}: ${describe(err)}`, { cause: err });
  }
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
