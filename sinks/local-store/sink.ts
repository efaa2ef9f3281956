/**
 * The embedded default for both sides of the store: results, failures, anomalies and rollups are
 * written to one SQLite file in short transactions, and every replica sharing that file answers
 * the API's questions from it.
 */
import Database from 'better-sqlite3';
import type { Anomaly, Severity } from '../../src/domain/types.js';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import type {
  DrawingCursor,
  HourlyCounts,
  DrawingSummary,
  HourlyOutcome,
  JobRecord,
  JobStatus,
  JobTasks,
  MetricSample,
  Rejection,
  ResultSink,
  ResultStore,
  Rollup,
  SinkBatch,
  StoredChange,
  WriteReceipt,
} from '../../src/domain/sink.js';
import { openDatabase, type Db } from '../../src/infra/sqlite/database.js';
import { bucketSql, HourlyOutcomeBuilder, microsSql } from '../hourly-outcomes.js';
import {
  anomalyFromRow,
  anomalyRow,
  changeRow,
  completedMetricRow,
  failureMetricRow,
  isoTime,
  jobTaskRows,
  rollupFromRow,
  rollupRow,
  sampleFromRow,
  storedChange,
  type AnomalyRow,
  type ChangeRow,
  type JobTaskRow,
  type MetricRow,
  type RollupRow,
} from './encode.js';

interface DrawingRow {
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly created_at: string;
  readonly added_count: number;
  readonly removed_count: number;
  readonly moved_count: number;
  readonly modified_count: number;
}

/** One hour's counts summed in SQL: the count columns of a rollup row. */
type HourlyCountsRow = { readonly hour: string } & Pick<RollupRow, keyof HourlyCounts>;

interface HourlyBucketRow {
  readonly hour: string;
  readonly which: 'processing' | 'end_to_end';
  readonly value: number;
  readonly n: number;
}

/** `YYYY-MM-DDTHH`, the first 13 characters of a stored time, as ms since epoch. */
const hourOf = (prefix: string): number => Date.parse(`${prefix}:00:00.000Z`);

/** Rows read per query while streaming samples: bounds memory however many rows there are. */
const SAMPLE_CHUNK = 1000;

const METRIC_COLUMNS = `task_key, job_id, drawing_id, status, latency_ms, end_to_end_ms, added_count,
  removed_count, moved_count, modified_count, renamed_count, error_code, error_message, created_at, replica_id`;
const METRIC_VALUES = `@task_key, @job_id, @drawing_id, @status, @latency_ms, @end_to_end_ms, @added_count,
  @removed_count, @moved_count, @modified_count, @renamed_count, @error_code, @error_message, @created_at, @replica_id`;

const DRAWING_COLUMNS = 'drawing_id, job_id, created_at, added_count, removed_count, moved_count, modified_count';

/**
 * A page of `GET /drawings`: a walk down the index on (created_at, drawing_id) that stops at the
 * limit, from the top or from just below the cursor (a row-value comparison, which SQLite answers
 * with a range of the index), however many results and drawings there are. Exported for the test
 * that reads their query plans.
 */
export const DRAWINGS_FIRST_PAGE_SQL = `SELECT ${DRAWING_COLUMNS} FROM drawing_latest
  ORDER BY created_at DESC, drawing_id DESC LIMIT @limit`;
export const DRAWINGS_NEXT_PAGE_SQL = `SELECT ${DRAWING_COLUMNS} FROM drawing_latest
  WHERE (created_at, drawing_id) < (@at, @id)
  ORDER BY created_at DESC, drawing_id DESC LIMIT @limit`;

function prepareStatements(db: Db) {
  return {
    insertChange: db.prepare<[ChangeRow]>(
      `INSERT OR IGNORE INTO change_results (task_key, drawing_id, job_id, added, removed, moved, modified,
         renamed, ambiguous, summary, processing_time_ms, end_to_end_ms, created_at, replica_id,
         version_a_ref, version_a_sha256, version_b_ref, version_b_sha256)
       VALUES (@task_key, @drawing_id, @job_id, @added, @removed, @moved, @modified,
         @renamed, @ambiguous, @summary, @processing_time_ms, @end_to_end_ms, @created_at, @replica_id,
         @version_a_ref, @version_a_sha256, @version_b_ref, @version_b_sha256)`,
    ),
    // A result is the final word on a task: it replaces a failure recorded by an earlier attempt.
    upsertCompleted: db.prepare<[MetricRow]>(
      `INSERT INTO processing_metrics (${METRIC_COLUMNS}) VALUES (${METRIC_VALUES})
       ON CONFLICT (task_key) DO UPDATE SET
         status = excluded.status, latency_ms = excluded.latency_ms, end_to_end_ms = excluded.end_to_end_ms,
         added_count = excluded.added_count, removed_count = excluded.removed_count,
         moved_count = excluded.moved_count, modified_count = excluded.modified_count,
         renamed_count = excluded.renamed_count,
         error_code = NULL, error_message = NULL, created_at = excluded.created_at,
         replica_id = excluded.replica_id
       WHERE processing_metrics.status <> 'completed'`,
    ),
    insertFailure: db.prepare<[MetricRow]>(
      `INSERT OR IGNORE INTO processing_metrics (${METRIC_COLUMNS}) VALUES (${METRIC_VALUES})`,
    ),
    insertAnomaly: db.prepare<[AnomalyRow]>(
      `INSERT OR IGNORE INTO anomalies (id, drawing_id, anomaly_type, severity, details, created_at)
       VALUES (@id, @drawing_id, @anomaly_type, @severity, @details, @created_at)`,
    ),
    // Never let an older snapshot of an hour overwrite a newer one.
    upsertRollup: db.prepare<[RollupRow]>(
      `INSERT INTO hourly_rollups (replica_id, hour_start, pairs, added, removed, moved, modified, renamed, failed,
         malformed, processing_histogram, end_to_end_histogram, updated_at)
       VALUES (@replica_id, @hour_start, @pairs, @added, @removed, @moved, @modified, @renamed, @failed,
         @malformed, @processing_histogram, @end_to_end_histogram, @updated_at)
       ON CONFLICT (replica_id, hour_start) DO UPDATE SET
         pairs = excluded.pairs, added = excluded.added, removed = excluded.removed, moved = excluded.moved,
         modified = excluded.modified, renamed = excluded.renamed, failed = excluded.failed, malformed = excluded.malformed,
         processing_histogram = excluded.processing_histogram,
         end_to_end_histogram = excluded.end_to_end_histogram, updated_at = excluded.updated_at
       WHERE excluded.updated_at >= hourly_rollups.updated_at`,
    ),
    insertJob: db.prepare<[string, number, string]>(
      `INSERT OR IGNORE INTO jobs (job_id, tasks_created, created_at) VALUES (?, ?, ?)`,
    ),
    insertJobTask: db.prepare<[JobTaskRow]>(
      `INSERT OR IGNORE INTO job_tasks (job_id, task_key, created_at) VALUES (@job_id, @task_key, @created_at)`,
    ),
    // The keys travel as one JSON array: any number of them in one statement, no SQL built per call.
    selectKnownTaskKeys: db.prepare<[string], string>(
      `SELECT DISTINCT task_key FROM job_tasks WHERE task_key IN (SELECT value FROM json_each(?))`,
    ).pluck(),
    selectChanges: db.prepare<[string, number], ChangeRow>(
      `SELECT * FROM change_results WHERE drawing_id = ?
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    // A later result replaces a drawing's latest; at the same instant the later write wins.
    upsertLatest: db.prepare<[MetricRow]>(
      `INSERT INTO drawing_latest (drawing_id, task_key, job_id, created_at, added_count, removed_count, moved_count, modified_count)
       VALUES (@drawing_id, @task_key, @job_id, @created_at, @added_count, @removed_count, @moved_count, @modified_count)
       ON CONFLICT (drawing_id) DO UPDATE SET
         task_key = excluded.task_key, job_id = excluded.job_id, created_at = excluded.created_at,
         added_count = excluded.added_count, removed_count = excluded.removed_count,
         moved_count = excluded.moved_count, modified_count = excluded.modified_count
       WHERE excluded.created_at >= drawing_latest.created_at`,
    ),
    selectDrawings: db.prepare<[{ limit: number }], DrawingRow>(DRAWINGS_FIRST_PAGE_SQL),
    selectDrawingsAfter: db.prepare<[{ at: string; id: string; limit: number }], DrawingRow>(DRAWINGS_NEXT_PAGE_SQL),
    // A job's tasks: those whose outcome carries its id, and its own client-chosen keys, whose
    // outcome may carry the id of another job that enqueued the same key at the same moment.
    selectJob: db.prepare<[{ job: string }], { tasks_created: number; completed: number; failed: number }>(
      `WITH keys AS (
         SELECT task_key FROM processing_metrics WHERE job_id = @job
         UNION SELECT task_key FROM job_tasks WHERE job_id = @job
       )
       SELECT j.tasks_created AS tasks_created,
         (SELECT count(*) FROM processing_metrics m JOIN keys USING (task_key) WHERE m.status = 'completed') AS completed,
         (SELECT count(*) FROM processing_metrics m JOIN keys USING (task_key) WHERE m.status <> 'completed') AS failed
       FROM jobs j WHERE j.job_id = @job`,
    ),
    selectRollups: db.prepare<[string], RollupRow>(
      `SELECT * FROM hourly_rollups WHERE hour_start >= ? ORDER BY hour_start, replica_id`,
    ),
    selectAnomalies: db.prepare<[string, number], AnomalyRow>(
      `SELECT * FROM anomalies WHERE created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    // Walks the (severity, created_at) index backwards: the newest of one severity, whatever
    // number of others arrived since.
    selectAnomaliesOfSeverity: db.prepare<[string, string, number], AnomalyRow>(
      `SELECT * FROM anomalies WHERE severity = ? AND created_at >= ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
    countDataQuality: db.prepare<[string], number>(
      `SELECT count(*) FROM anomalies
       WHERE created_at >= ? AND anomaly_type IN ('malformed_input', 'missing_upload')`,
    ).pluck(),
    // Keyset pagination on (created_at, rowid): each page is a fresh short read, so no statement
    // stays open between pages while writers (or this connection) carry on.
    selectSamples: db.prepare<[{ replica: string; at: string; rid: number; limit: number }], MetricRow & { rid: number }>(
      `SELECT rowid AS rid, * FROM processing_metrics
       WHERE replica_id = @replica AND (created_at > @at OR (created_at = @at AND rowid > @rid))
       ORDER BY created_at, rowid LIMIT @limit`,
    ),
    // Per hour in the query: the restore reads 25 rows of counts and the histograms' buckets,
    // however many rows the hours hold (sinks/hourly-outcomes.ts).
    hourlyCounts: db.prepare<[{ replica: string; since: string; before: string }], HourlyCountsRow>(
      `SELECT substr(created_at, 1, 13) AS hour,
         SUM(status = 'completed') AS pairs,
         SUM(CASE WHEN status = 'completed' AND added_count > 0 THEN added_count ELSE 0 END) AS added,
         SUM(CASE WHEN status = 'completed' AND removed_count > 0 THEN removed_count ELSE 0 END) AS removed,
         SUM(CASE WHEN status = 'completed' AND moved_count > 0 THEN moved_count ELSE 0 END) AS moved,
         SUM(CASE WHEN status = 'completed' AND modified_count > 0 THEN modified_count ELSE 0 END) AS modified,
         SUM(CASE WHEN status = 'completed' AND renamed_count > 0 THEN renamed_count ELSE 0 END) AS renamed,
         SUM(status <> 'completed') AS failed,
         SUM(status = 'malformed') AS malformed
       FROM processing_metrics
       WHERE replica_id = @replica AND created_at >= @since AND created_at < @before
       GROUP BY hour`,
    ),
    hourlyBuckets: db.prepare<[{ replica: string; since: string; before: string }], HourlyBucketRow>(
      `SELECT hour, which, ${bucketSql('v')} AS value, count(*) AS n FROM (
         SELECT substr(created_at, 1, 13) AS hour, 'processing' AS which, ${microsSql('latency_ms')} AS v
         FROM processing_metrics
         WHERE replica_id = @replica AND status = 'completed' AND created_at >= @since AND created_at < @before
         UNION ALL
         SELECT substr(created_at, 1, 13), 'end_to_end', ${microsSql('end_to_end_ms')}
         FROM processing_metrics
         WHERE replica_id = @replica AND status = 'completed' AND created_at >= @since AND created_at < @before
       )
       GROUP BY hour, which, value`,
    ),
    begin: db.prepare('BEGIN IMMEDIATE'),
    rollback: db.prepare('ROLLBACK'),
  };
}

export interface LocalStoreOptions {
  readonly dataDir: string;
  /** This process's replica id, for its log lines. @default 'local' */
  readonly replicaId?: string;
  readonly logger?: Logger;
  /** @default DEFAULT_BUSY_TIMEOUT_MS */
  readonly busyTimeoutMs?: number;
  /** @default MAX_RESULT_COLUMN_BYTES */
  readonly maxColumnBytes?: number;
}

/**
 * Largest JSON column of a stored result. SQLite refuses any string over SQLITE_MAX_LENGTH
 * (1,000,000,000 bytes by default) with an error that would repeat on every retry; a result this
 * large is refused for good instead (its task fails alone). A 100,000-object pair with every
 * object moved is about 31 MB, far below.
 */
export const MAX_RESULT_COLUMN_BYTES = 512 * 1024 * 1024;

/** `ResultSink` and `ResultStore` over `<dataDir>/buildtrace.db`. */
export class LocalStore implements ResultSink, ResultStore {
  readonly name = 'local';
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly writeAll: (batch: SinkBatch) => WriteReceipt;
  private readonly upsertRollups: (rollups: readonly Rollup[]) => void;

  constructor(
    private readonly db: Db,
    readonly replicaId: string = 'local',
    private readonly logger: Logger = silentLogger,
    maxColumnBytes: number = MAX_RESULT_COLUMN_BYTES,
  ) {
    const s = (this.statements = prepareStatements(db));
    this.writeAll = (batch) => {
      const fresh = new Set<string>();
      const rejected = new Map<string, Rejection>();
      // Encoded before the transaction: the write lock is held only for the inserts.
      const rows = batch.results.map((r) => {
        const row = changeRow(r);
        const largest = Math.max(row.added.length, row.removed.length, row.moved.length, row.modified.length, row.summary.length);
        if (largest > maxColumnBytes) {
          rejected.set(r.taskKey, { code: 'result_too_large', message: `a column of ${largest} characters, over the store's ${maxColumnBytes}` });
          return null;
        }
        return { r, row };
      });
      db.transaction(() => {
        for (const entry of rows) {
          if (!entry) continue;
          const metric = completedMetricRow(entry.r);
          if (s.insertChange.run(entry.row).changes === 1) {
            fresh.add(entry.r.taskKey);
            s.upsertLatest.run(metric);
          }
          s.upsertCompleted.run(metric);
        }
        for (const f of batch.failures) {
          if (s.insertFailure.run(failureMetricRow(f)).changes === 1) fresh.add(f.taskKey);
        }
        for (const a of batch.anomalies) s.insertAnomaly.run(anomalyRow(a));
      }).immediate();
      return rejected.size > 0 ? { fresh, rejected } : { fresh };
    };
    this.upsertRollups = (rollups) => {
      db.transaction(() => {
        for (const r of rollups) s.upsertRollup.run(rollupRow(r));
      }).immediate();
    };
  }

  async writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    if (batch.results.length + batch.failures.length + batch.anomalies.length === 0) return { fresh: new Set() };
    return this.guard('write', () => this.writeAll(batch));
  }

  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    if (rollups.length === 0) return;
    this.guard('rollup write', () => this.upsertRollups(rollups));
  }

  /** Each `writeBatch` commits before it resolves, so there is nothing left to flush. */
  async flush(): Promise<void> {}

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  async healthcheck(): Promise<void> {
    this.guard('health check', () => {
      // Taking the write lock proves the file is writable now, without writing anything.
      this.statements.begin.run();
      this.statements.rollback.run();
    });
  }

  async changes(drawingId: string, limit: number): Promise<StoredChange[]> {
    if (limit <= 0) return [];
    return this.guard('read', () => this.statements.selectChanges.all(drawingId, limit).map(storedChange));
  }

  async drawings(limit: number, after: DrawingCursor | null): Promise<DrawingSummary[]> {
    if (limit <= 0) return [];
    return this.guard('read', () =>
      (after
        ? this.statements.selectDrawingsAfter.all({ at: isoTime(after.latestAt), id: after.drawingId, limit })
        : this.statements.selectDrawings.all({ limit })
      ).map((r) => ({
        drawing_id: r.drawing_id,
        job_id: r.job_id,
        latest_result_at: r.created_at,
        counts: { added: r.added_count, removed: r.removed_count, moved: r.moved_count, modified: r.modified_count },
      })),
    );
  }

  async createJob(job: JobRecord): Promise<void> {
    this.guard('job write', () => this.statements.insertJob.run(job.jobId, job.tasksCreated, isoTime(job.createdAt)));
  }

  async recordJobTasks(tasks: JobTasks): Promise<void> {
    const rows = jobTaskRows(tasks);
    if (rows.length === 0) return;
    this.guard('job write', () =>
      this.db
        .transaction(() => {
          for (const row of rows) this.statements.insertJobTask.run(row);
        })
        .immediate(),
    );
  }

  async knownTaskKeys(taskKeys: readonly string[]): Promise<ReadonlySet<string>> {
    if (taskKeys.length === 0) return new Set();
    return new Set(this.guard('read', () => this.statements.selectKnownTaskKeys.all(JSON.stringify(taskKeys))));
  }

  async job(jobId: string): Promise<JobStatus | null> {
    const row = this.guard('read', () => this.statements.selectJob.get({ job: jobId }));
    if (!row) return null;
    return {
      job_id: jobId,
      tasks_created: row.tasks_created,
      completed: row.completed,
      failed: row.failed,
      pending: Math.max(0, row.tasks_created - row.completed - row.failed),
    };
  }

  async rollups(since: Date): Promise<Rollup[]> {
    return this.guard('read', () => this.statements.selectRollups.all(isoTime(since)).map(rollupFromRow));
  }

  async anomalies(since: Date, limit: number, severity?: Severity): Promise<Anomaly[]> {
    if (limit <= 0) return [];
    const s = this.statements;
    return this.guard('read', () =>
      (severity === undefined ? s.selectAnomalies.all(isoTime(since), limit) : s.selectAnomaliesOfSeverity.all(severity, isoTime(since), limit)).map(
        anomalyFromRow,
      ),
    );
  }

  async dataQualityIssues(since: Date): Promise<number> {
    return this.guard('read', () => this.statements.countDataQuality.get(isoTime(since)) ?? 0);
  }

  async *samples(since: Date, replicaId: string): AsyncIterable<MetricSample> {
    let at = isoTime(since);
    let rid = -1;
    for (;;) {
      const page: MetricSample[] = [];
      this.guard('read', () => {
        for (const row of this.statements.selectSamples.iterate({ replica: replicaId, at, rid, limit: SAMPLE_CHUNK })) {
          page.push(sampleFromRow(row));
          at = row.created_at;
          rid = row.rid;
        }
      });
      yield* page;
      if (page.length < SAMPLE_CHUNK) return;
    }
  }

  async hourlyOutcomes(since: Date, before: Date, replicaId: string): Promise<HourlyOutcome[]> {
    const params = { replica: replicaId, since: isoTime(since), before: isoTime(before) };
    return this.guard('read', () => {
      const outcomes = new HourlyOutcomeBuilder();
      for (const { hour, ...counts } of this.statements.hourlyCounts.iterate(params)) outcomes.counts(hourOf(hour), counts);
      for (const row of this.statements.hourlyBuckets.iterate(params)) outcomes.bucket(hourOf(row.hour), row.which, row.value, row.n);
      return outcomes.build();
    });
  }

  /** Runs one synchronous database step, turning any SQLite failure into a retryable error. */
  private guard<T>(what: string, step: () => T): T {
    if (!this.db.open) {
      throw new TransientError(ERROR_CODES.sinkUnavailable, `local store ${what} failed: the database is closed`);
    }
    try {
      return step();
    } catch (err) {
      if (err instanceof Database.SqliteError) {
        this.logger.warn({ err, replicaId: this.replicaId }, `local store ${what} failed`);
        throw new TransientError(ERROR_CODES.sinkUnavailable, `local store ${what} failed: ${err.code}: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

/**
 * Opens the embedded store in `<dataDir>/buildtrace.db`, creating the directory and tables.
 *
 * @example
 * const store = openLocalStore({ dataDir: config.dataDir, replicaId: config.replicaId, logger });
 * const { fresh } = await store.writeBatch({ results, failures: [], anomalies: [] });
 */
export function openLocalStore(options: LocalStoreOptions): LocalStore {
  const db = openDatabase(options.dataDir, { busyTimeoutMs: options.busyTimeoutMs });
  return new LocalStore(db, options.replicaId, options.logger, options.maxColumnBytes);
}
