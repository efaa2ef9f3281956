/**
 * The read side over BigQuery, shared by every replica: each answer is one parameterised query
 * that removes duplicate rows itself, because streaming-insert dedupe is only best-effort.
 */
import type { Anomaly, Severity } from '../../src/domain/types.js';
import { ERROR_CODES, TransientError, errorMessage } from '../../src/domain/errors.js';
import type { DrawingCursor, DrawingSummary, HourlyOutcome, JobRecord, JobStatus, JobTasks, MetricSample, ResultStore, Rollup, StoredChange } from '../../src/domain/sink.js';
import { decodeAnomaly, decodeChange, decodeHourlyCounts, decodeDrawing, decodeJobStatus, decodeRollup, decodeSample, RowDecodeError, toDate, toNullableText, toNumber, toText, type Row } from './decode.js';
import { bucketSql, HourlyOutcomeBuilder, microsSql } from '../hourly-outcomes.js';
import { jobRow, jobTaskRow } from './encode.js';
import { jobTaskRows } from '../rows.js';
import {
  anomaliesQuery,
  baselineSamplesQuery,
  changesQuery,
  hourlyBucketsQuery,
  hourlyCountsQuery,
  dataQualityQuery,
  drawingsQuery,
  jobCountsQuery,
  jobQuery,
  knownTaskKeysQuery,
  rollupsQuery,
  samplesQuery,
  type QuerySpec,
  type TableNames,
} from './queries.js';
import { enforceQueryDeadlines } from './query-deadline.js';
import { withHttpDeadline } from '../http-deadline.js';
import type { BigQueryClient, BigQueryWriter } from './sink.js';

/**
 * How far back from the cursor (or now) `drawings` looks before it looks further: each window
 * scans only the partitions from its start to now; a page not filled by the last of them is
 * asked of the whole table.
 */
export const DRAWINGS_WINDOWS_DAYS = [1, 7, 31, 366] as const;

/**
 * Task keys per lookup query: 10,000 keys of at most 128 characters are about 1.5 MB of
 * parameters, well inside the 10 MB request limit.
 */
const KNOWN_KEYS_PER_QUERY = 10_000;

/**
 * How long an API read waits for BigQuery: just under the HTTP layer's read deadline (10 s,
 * src/service.ts), so the query is cancelled before the route answers 503.
 */
export const QUERY_DEADLINE_MS = 9_000;
/** How long a restore query (a replica's last 25 hours, aggregated) may run. */
export const RESTORE_QUERY_DEADLINE_MS = 120_000;

/** Results may be stamped by a replica whose clock is behind the one that created the job. */
const JOB_CLOCK_SKEW_MS = 60 * 60 * 1000;

/** The four lists of a result, as its Cloud Storage object holds them. */
export type ResultLists = Pick<StoredChange, 'added' | 'removed' | 'moved' | 'modified' | 'renamed' | 'ambiguous'>;

export interface BigQueryStoreOptions extends TableNames {
  readonly client: BigQueryClient;
  readonly writer: BigQueryWriter;
  /**
   * Reads the whole result of a row that holds an excerpt (`result_object` set); null when the
   * object does not exist yet (the excerpt is answered then).
   */
  readonly readObject?: (uri: string) => Promise<ResultLists | null>;
  /** Location of the dataset, passed to jobs.query when known. */
  readonly location?: string;
  /** Epoch ms; where the first page of drawings starts looking back from. @default Date.now */
  readonly clock?: () => number;
  /** @default QUERY_DEADLINE_MS */
  readonly queryDeadlineMs?: number;
  /** @default RESTORE_QUERY_DEADLINE_MS */
  readonly restoreDeadlineMs?: number;
}

export class BigQueryStore implements ResultStore {
  constructor(private readonly options: BigQueryStoreOptions) {
    // Every read below carries a deadline; this makes the client cancel it on the wire.
    enforceQueryDeadlines(options.client);
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  async changes(drawingId: string, limit: number): Promise<StoredChange[]> {
    const rows = await this.run(changesQuery(this.options, drawingId, limit));
    // A result too large for one row is whole in Cloud Storage: the store answers it whole.
    return Promise.all(
      rows.map(async (row) => {
        const change = decodeChange(row);
        const uri = toNullableText(row, 'result_object');
        if (uri === null || !this.options.readObject) return change;
        const whole = await this.options.readObject(uri);
        return whole ? { ...change, ...whole } : change;
      }),
    );
  }

  async drawings(limit: number, after: DrawingCursor | null): Promise<DrawingSummary[]> {
    if (limit <= 0) return [];
    const cursor = after && { at: after.latestAt, drawingId: after.drawingId };
    const anchor = after?.latestAt.getTime() ?? this.now();
    for (const days of DRAWINGS_WINDOWS_DAYS) {
      const rows = await this.run(drawingsQuery(this.options, limit, cursor, new Date(anchor - days * 86_400_000)));
      if (rows.length >= limit) return rows.map(decodeDrawing);
    }
    return (await this.run(drawingsQuery(this.options, limit, cursor, null))).map(decodeDrawing);
  }

  async createJob(job: JobRecord): Promise<void> {
    await this.options.writer.insert({ jobs: [jobRow(job)] });
  }

  async recordJobTasks(tasks: JobTasks): Promise<void> {
    const rows = jobTaskRows(tasks).map(jobTaskRow);
    if (rows.length > 0) await this.options.writer.insert({ job_tasks: rows });
  }

  async knownTaskKeys(taskKeys: readonly string[]): Promise<ReadonlySet<string>> {
    const known = new Set<string>();
    // Each query carries at most KNOWN_KEYS_PER_QUERY keys, well inside the request-size limit.
    for (let i = 0; i < taskKeys.length; i += KNOWN_KEYS_PER_QUERY) {
      const rows = await this.run(knownTaskKeysQuery(this.options, taskKeys.slice(i, i + KNOWN_KEYS_PER_QUERY)));
      for (const row of rows) known.add(toText(row, 'task_key'));
    }
    return known;
  }

  async job(jobId: string): Promise<JobStatus | null> {
    const [jobRow] = await this.run(jobQuery(this.options, jobId));
    if (!jobRow) return null;
    const since = new Date(toDate(jobRow, 'created_at').getTime() - JOB_CLOCK_SKEW_MS);
    const [counts] = await this.run(jobCountsQuery(this.options, jobId, since));
    return decodeJobStatus(jobRow, counts);
  }

  async rollups(since: Date): Promise<Rollup[]> {
    return (await this.run(rollupsQuery(this.options, since))).map(decodeRollup);
  }

  async anomalies(since: Date, limit: number, severity?: Severity): Promise<Anomaly[]> {
    return (await this.run(anomaliesQuery(this.options, since, limit, severity))).map(decodeAnomaly);
  }

  /** Rows of one replica since; used after a restart with the same REPLICA_ID (a pod name). */
  async *samples(since: Date, replicaId: string): AsyncIterable<MetricSample> {
    const rows = await this.run(samplesQuery(this.options, since, replicaId), this.options.restoreDeadlineMs ?? RESTORE_QUERY_DEADLINE_MS);
    for (const row of rows) yield decodeSample(row);
  }

  /** Per hour in the query (sinks/hourly-outcomes.ts): a bounded answer however many rows the hours hold. */
  async hourlyOutcomes(since: Date, before: Date, replicaId: string): Promise<HourlyOutcome[]> {
    const deadline = this.options.restoreDeadlineMs ?? RESTORE_QUERY_DEADLINE_MS;
    const [counts, buckets] = await Promise.all([
      this.run(hourlyCountsQuery(this.options, since, before, replicaId), deadline),
      this.run(hourlyBucketsQuery(this.options, since, before, replicaId, { micros: microsSql, bucket: bucketSql }), deadline),
    ]);
    const outcomes = new HourlyOutcomeBuilder();
    const hourOf = (row: Row) => toNumber(row, 'hour') * 3_600_000;
    for (const row of counts) {
      outcomes.counts(hourOf(row), decodeHourlyCounts(row));
    }
    for (const row of buckets) {
      const which = toText(row, 'which');
      if (which !== 'processing' && which !== 'end_to_end') throw new RowDecodeError('which', which);
      outcomes.bucket(hourOf(row), which, toNumber(row, 'bucket'), toNumber(row, 'n'));
    }
    return outcomes.build();
  }

  /** Each drawing's last results, at most `perDrawing` rows per drawing (the spike detector keeps as many). */
  async *baselineSamples(since: Date, before: Date, replicaId: string, perDrawing: number): AsyncIterable<MetricSample> {
    const rows = await this.run(baselineSamplesQuery(this.options, since, before, replicaId, perDrawing), this.options.restoreDeadlineMs ?? RESTORE_QUERY_DEADLINE_MS);
    for (const row of rows) yield decodeSample(row);
  }

  async dataQualityIssues(since: Date): Promise<number> {
    const [row] = await this.run(dataQualityQuery(this.options, since));
    return row ? toNumber(row, 'issues') : 0;
  }

  private async run(spec: QuerySpec, deadlineMs: number = this.options.queryDeadlineMs ?? QUERY_DEADLINE_MS): Promise<Row[]> {
    try {
      const [rows] = await withHttpDeadline(deadlineMs, () =>
        this.options.client.query(
          {
            query: spec.query,
            params: spec.params,
            types: spec.types,
            ...(this.options.location ? { location: this.options.location } : {}),
          },
          { timeoutMs: deadlineMs },
        ),
      );
      return rows as Row[];
    } catch (err) {
      throw new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery query failed: ${errorMessage(err)}`, { cause: err });
    }
  }
}
