/**
 * The SINKS=gcp sink: three sinks behind one fan-out (sinks/fan-out.ts), each with its role —
 * BigQuery rows (the records sink: durability and per-item rejection; also the queryable store
 * every replica reads), Cloud Storage result objects (the freshness sink: create-if-absent
 * markers, and a durable copy), and Cloud Monitoring metrics (telemetry that never fails a batch)
 * — as one ResultSink and ResultStore.
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
import type { Anomaly, Severity } from '../src/domain/types.js';
import type { Logger } from '../src/log.js';
import { ERROR_CODES, TransientError, errorMessage } from '../src/domain/errors.js';
import { createBigQueryClient } from './bigquery/config.js';
import { BigQueryRecords } from './bigquery/records.js';
import { BigQueryWriter, errorCode, type BigQueryClient } from './bigquery/sink.js';
import { BigQueryStore, type ResultLists } from './bigquery/store.js';
import { createStorageClient } from '../src/infra/storage/client.js';
import { DeadlineExceededError, withHttpDeadline } from './http-deadline.js';
import { QUERY_DEADLINE_MS } from './bigquery/store.js';
import { resultObjectName } from './cloud-storage/encode.js';
import { CloudStorageMarkers, type BucketClient } from './cloud-storage/sink.js';
import { createMonitoringClient } from '../src/infra/monitoring/config.js';
import { detectResource } from '../src/infra/monitoring/resource.js';
import { CloudMonitoringSink, type MonitoringClient, type MonitoringStats } from './cloud-monitoring/sink.js';
import type { SeriesSource } from '../src/infra/monitoring/encode.js';
import { FanOutSink, type TelemetrySink } from './fan-out.js';
import type { DrawingCursor, DrawingSummary, JobRecord, HourlyOutcome, JobStatus, JobTasks, MetricSample, PartWriteListener, ResultRecord, ResultSink, ResultStore, Rollup, SinkBatch, StoredChange, WriteReceipt } from '../src/domain/sink.js';

/** The three clients, narrowed to what the sinks call; tests pass real clients at local fakes. */
export interface GcpClients {
  readonly bigquery: BigQueryClient;
  readonly storage: { bucket(name: string): BucketClient };
  /** For reads of result objects, whose retries end at the read's deadline; else `storage`. */
  readonly resultReads?: { bucket(name: string): BucketClient };
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
  /**
   * The three sinks, each replaceable and tested alone, and which decides what: BigQuery the
   * records (durability, per-item rejection), Cloud Storage the freshness (first writer wins),
   * Cloud Monitoring telemetry (never fails a batch).
   */
  readonly parts: { readonly records: BigQueryRecords; readonly freshness: CloudStorageMarkers; readonly telemetry: TelemetrySink };
  private readonly fanOut: FanOutSink;
  private readonly store: BigQueryStore;
  private readonly monitoring: CloudMonitoringSink;

  constructor(
    config: GcpSinkSettings,
    logger: Logger,
    clients: GcpClients,
    ownedMonitoringClient: { close(): Promise<void> } | null,
    options: GcpSinkOptions = {},
  ) {
    const projectId = requireProject(config);
    const writer = new BigQueryWriter({
      client: clients.bigquery,
      datasetId: config.gcp.dataset,
      logger,
      location: options.location ?? config.gcp.bigqueryLocation,
    });
    const resultObjects = (clients.resultReads ?? clients.storage).bucket(config.gcp.outputBucket);
    // A result too large for one row is kept whole in its result object, which the freshness
    // sink creates for every result anyway; its row points there.
    const wholeResultUri = (r: ResultRecord) => `gs://${config.gcp.outputBucket}/${resultObjectName(r)}`;
    this.store = new BigQueryStore({
      client: clients.bigquery,
      writer,
      projectId,
      datasetId: config.gcp.dataset,
      readObject: (uri) => readResultObject(resultObjects, config.gcp.outputBucket, uri),
    });
    this.monitoring = new CloudMonitoringSink({
      client: clients.monitoring,
      projectId,
      resource: detectResource({ projectId, replicaId: config.replicaId }, options.env),
      logger,
      intervalMs: options.monitoringIntervalMs ?? config.gcp.monitoringIntervalSeconds * 1000,
      ...(options.monitoringMinPointSpacingMs !== undefined ? { minPointSpacingMs: options.monitoringMinPointSpacingMs } : {}),
    });
    const monitoring = this.monitoring;
    const descriptors = monitoring.ensureDescriptors().catch(() => false);
    monitoring.startTimer();
    let monitoringClosed: Promise<void> | null = null;
    this.parts = {
      records: new BigQueryRecords({ writer, logger, wholeResultUri }),
      freshness: new CloudStorageMarkers({
        bucket: clients.storage.bucket(config.gcp.outputBucket),
        logger,
        ...(options.markerConcurrency ? { concurrency: options.markerConcurrency } : {}),
      }),
      telemetry: {
        name: 'cloud-monitoring',
        observe: (batch, fresh) => monitoring.record(batch, fresh),
        flush: () => monitoring.flushIfDue(),
        // Writes the final point, then releases the channel this sink opened.
        close: () =>
          (monitoringClosed ??= (async () => {
            await descriptors;
            await monitoring.close();
            await ownedMonitoringClient?.close().catch(() => undefined);
          })()),
      },
    };
    this.fanOut = new FanOutSink('gcp', { records: this.parts.records, freshness: this.parts.freshness, telemetry: [this.parts.telemetry] });
  }

  /**
   * BigQuery rows, then create-if-absent result objects (which decide `fresh`), then metrics.
   * A task any of whose rows BigQuery refused for good is `rejected` and gets no result object
   * (so it is never counted). Rejects with TransientError('sink_unavailable') if either store
   * could not take the batch now.
   */
  writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    return this.fanOut.writeBatch(batch);
  }

  writeRollups(rollups: readonly Rollup[]): Promise<void> {
    return this.fanOut.writeRollups(rollups);
  }

  /**
   * Times every write of each of the three sinks under its own name (`bigquery`, `cloud-storage`,
   * `cloud-monitoring`: a Monitoring write is a point's createTimeSeries requests, on its timer).
   */
  observeWrites(listener: PartWriteListener): void {
    this.fanOut.observeWrites(listener);
    this.monitoring.observeWrites((ms, ok) => listener(this.parts.telemetry.name, ms, ok, 'telemetry'));
  }

  /** Writes these metrics (the service's self-telemetry) with every Monitoring point. */
  attachMetrics(source: SeriesSource): void {
    this.monitoring.attach(source);
  }

  /** Writes a metrics point if one is due (BigQuery and Cloud Storage keep nothing to flush). */
  flush(): Promise<void> {
    return this.fanOut.flush();
  }

  /** Writes the final metrics point and releases the Monitoring channel. Idempotent. */
  close(): Promise<void> {
    return this.fanOut.close();
  }

  /** Ready when the tables exist and the dataset and the output bucket answer. */
  healthcheck(): Promise<void> {
    return this.fanOut.healthcheck();
  }

  stats(): GcpSinkStats {
    return { bigqueryRejectedRows: this.parts.records.refusedRows, monitoring: this.monitoring.stats() };
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

  recordJobTasks(tasks: JobTasks): Promise<void> {
    return this.store.recordJobTasks(tasks);
  }

  knownTaskKeys(taskKeys: readonly string[]): Promise<ReadonlySet<string>> {
    return this.store.knownTaskKeys(taskKeys);
  }

  job(jobId: string): Promise<JobStatus | null> {
    return this.store.job(jobId);
  }

  samples(since: Date, replicaId: string): AsyncIterable<MetricSample> {
    return this.store.samples(since, replicaId);
  }

  hourlyOutcomes(since: Date, before: Date, replicaId: string): Promise<HourlyOutcome[]> {
    return this.store.hourlyOutcomes(since, before, replicaId);
  }

  baselineSamples(since: Date, before: Date, replicaId: string, perDrawing: number): AsyncIterable<MetricSample> {
    return this.store.baselineSamples(since, before, replicaId, perDrawing);
  }

  rollups(since: Date): Promise<Rollup[]> {
    return this.store.rollups(since);
  }

  anomalies(since: Date, limit: number, severity?: Severity): Promise<Anomaly[]> {
    return this.store.anomalies(since, limit, severity);
  }

  dataQualityIssues(since: Date): Promise<number> {
    return this.store.dataQualityIssues(since);
  }
}

/**
 * The lists of a result object this sink wrote (`gs://<OUTPUT_BUCKET>/<name>`), or null when it
 * does not exist (yet: its row is written before it).
 */
export async function readResultObject(
  bucket: BucketClient,
  bucketName: string,
  uri: string,
  deadlineMs: number = QUERY_DEADLINE_MS,
): Promise<ResultLists | null> {
  const prefix = `gs://${bucketName}/`;
  if (!uri.startsWith(prefix)) throw new TransientError(ERROR_CODES.sinkUnavailable, `result object ${uri} is not in OUTPUT_BUCKET ${bucketName}`);
  // The object is created just after the row (the fan-out's order), so a read can fall in that
  // gap: wait for it briefly before answering with the row's excerpt.
  for (let attempt = 0; ; attempt++) {
    try {
      // Like every store read, cancelled on the wire at its deadline, so reads abandoned while
      // Cloud Storage hangs do not pile up.
      const [bytes] = await withHttpDeadline(deadlineMs, () => bucket.file(uri.slice(prefix.length)).download());
      const body = JSON.parse(bytes.toString('utf8')) as ResultLists;
      return {
        added: body.added,
        removed: body.removed,
        moved: body.moved,
        modified: body.modified,
        ...(body.renamed ? { renamed: body.renamed } : {}),
        ...(body.ambiguous ? { ambiguous: body.ambiguous } : {}),
      };
    } catch (err) {
      if (err instanceof DeadlineExceededError) {
        throw new TransientError(ERROR_CODES.sinkUnavailable, `cannot read result object ${uri}: ${err.message}`, { cause: err });
      }
      if (errorCode(err) !== 404) throw new TransientError(ERROR_CODES.sinkUnavailable, `cannot read result object ${uri}: ${errorMessage(err)}`, { cause: err });
      if (attempt >= RESULT_OBJECT_WAITS) return null;
      await new Promise((resolve) => setTimeout(resolve, RESULT_OBJECT_WAIT_MS));
    }
  }
}

/** How long a read waits for a result object its row already points to: 5 × 200 ms. */
const RESULT_OBJECT_WAITS = 5;
const RESULT_OBJECT_WAIT_MS = 200;

function requireProject(config: GcpSinkSettings): string {
  if (!config.projectId) throw new RangeError('SINKS=gcp needs GOOGLE_CLOUD_PROJECT');
  return config.projectId;
}

/** The configuration's settings the GCP sink and its clients are made from. */
export interface GcpSinkSettings {
  readonly projectId: string | null;
  readonly replicaId: string;
  readonly gcp: {
    readonly dataset: string;
    readonly bigqueryLocation: string;
    readonly outputBucket: string;
    readonly monitoringIntervalSeconds: number;
    readonly bigqueryEndpoint: string | null;
    readonly storageEndpoint: string | null;
    readonly monitoringEndpoint: string | null;
  };
}

/**
 * The GCP sink for SINKS=gcp. Clients not supplied are built from the configuration
 * (Application Default Credentials; *_API_ENDPOINT overrides).
 *
 * @example
 * const sink = createGcpSink(config, logger);
 * const { fresh } = await sink.writeBatch(batch);
 */
export function createGcpSink(config: GcpSinkSettings, logger: Logger, clients: Partial<GcpClients> = {}, options: GcpSinkOptions = {}): GcpSink {
  const monitoring = clients.monitoring ?? createMonitoringClient(config);
  return new GcpSink(
    config,
    logger,
    {
      bigquery: clients.bigquery ?? createBigQueryClient(config),
      storage: clients.storage ?? createStorageClient(config),
      resultReads: clients.resultReads ?? clients.storage ?? createStorageClient(config, { retryForMs: QUERY_DEADLINE_MS }),
      monitoring,
    },
    clients.monitoring ? null : (monitoring as { close(): Promise<void> }),
    options,
  );
}
