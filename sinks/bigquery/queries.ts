/**
 * The read-side SQL, as text plus named parameters: every value a caller supplies travels as a
 * typed query parameter, never inside the SQL text. Duplicate rows (insertId dedupe is best-effort)
 * are removed in the queries with QUALIFY, so a replay never shows up twice.
 */
import type { TableId } from './schema.js';

/** A scalar type, or `['STRING']` for ARRAY<STRING> (the client library's spelling). */
export type ParamType = 'STRING' | 'INT64' | 'TIMESTAMP' | ['STRING'];

export interface QuerySpec {
  readonly query: string;
  readonly params: Readonly<Record<string, string | number | Date | readonly string[]>>;
  readonly types: Readonly<Record<string, ParamType>>;
}

/** Fully qualified table names. Identifiers cannot be parameters; these come from validated config. */
export interface TableNames {
  readonly projectId: string;
  readonly datasetId: string;
}

const IDENT = /^[A-Za-z0-9_:.-]+$/;

/** `` `project.dataset.table` `` for validated project and dataset ids. */
export function tableRef(names: TableNames, table: TableId): string {
  if (!IDENT.test(names.projectId) || !IDENT.test(names.datasetId)) {
    throw new RangeError(`Invalid BigQuery project or dataset id: ${names.projectId}.${names.datasetId}`);
  }
  return `\`${names.projectId}.${names.datasetId}.${table}\``;
}

/** Results of one drawing, newest first; each task once (its first stored row). */
export function changesQuery(names: TableNames, drawingId: string, limit: number): QuerySpec {
  return {
    query: `SELECT task_key, drawing_id, job_id, added, removed, moved, modified, renamed, ambiguous, summary, processing_time_ms, created_at, result_object,
  version_a_ref, version_a_sha256, version_b_ref, version_b_sha256
FROM ${tableRef(names, 'change_results')}
WHERE drawing_id = @drawing_id
QUALIFY ROW_NUMBER() OVER (PARTITION BY task_key ORDER BY created_at, replica_id) = 1
ORDER BY created_at DESC, task_key DESC
LIMIT @limit`,
    params: { drawing_id: drawingId, limit },
    types: { drawing_id: 'STRING', limit: 'INT64' },
  };
}

/** The job's row (its first, if inserted twice). */
export function jobQuery(names: TableNames, jobId: string): QuerySpec {
  return {
    query: `SELECT job_id, tasks_created, created_at
FROM ${tableRef(names, 'jobs')}
WHERE job_id = @job_id
QUALIFY ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY created_at) = 1`,
    params: { job_id: jobId },
    types: { job_id: 'STRING' },
  };
}

/**
 * Completed and failed tasks of a job, each task counted once (a completed row beats a failed
 * one): the tasks whose outcome carries the job's id, and the job's own client-chosen keys, whose
 * outcome may carry another job's id. `since` bounds the scan to the partitions after the job
 * was created.
 */
export function jobCountsQuery(names: TableNames, jobId: string, since: Date): QuerySpec {
  return {
    query: `SELECT
  COUNT(CASE WHEN status = 'completed' THEN 1 END) AS completed,
  COUNT(CASE WHEN status != 'completed' THEN 1 END) AS failed
FROM (
  SELECT task_key, status
  FROM ${tableRef(names, 'processing_metrics')}
  WHERE created_at >= @since AND (job_id = @job_id OR task_key IN (
    SELECT task_key FROM ${tableRef(names, 'job_tasks')} WHERE job_id = @job_id AND created_at >= @since
  ))
  QUALIFY ROW_NUMBER() OVER (PARTITION BY task_key ORDER BY CASE WHEN status = 'completed' THEN 0 ELSE 1 END, created_at) = 1
)`,
    params: { job_id: jobId, since },
    types: { job_id: 'STRING', since: 'TIMESTAMP' },
  };
}

/** Which of `taskKeys` an earlier job enqueued (job_tasks is clustered by task_key). */
export function knownTaskKeysQuery(names: TableNames, taskKeys: readonly string[]): QuerySpec {
  return {
    query: `SELECT DISTINCT task_key
FROM ${tableRef(names, 'job_tasks')}
WHERE task_key IN UNNEST(@task_keys)`,
    params: { task_keys: taskKeys },
    types: { task_keys: ['STRING'] },
  };
}

/** Every replica's newest rollup version per hour, for hours starting at or after `since`. */
export function rollupsQuery(names: TableNames, since: Date): QuerySpec {
  return {
    query: `SELECT replica_id, hour_start, pairs, added, removed, moved, modified, renamed, failed, malformed, processing_histogram, end_to_end_histogram, updated_at
FROM ${tableRef(names, 'hourly_rollups')}
WHERE hour_start >= @since
QUALIFY ROW_NUMBER() OVER (PARTITION BY replica_id, hour_start ORDER BY updated_at DESC) = 1
ORDER BY hour_start, replica_id`,
    params: { since },
    types: { since: 'TIMESTAMP' },
  };
}

/** Anomalies since, newest first, each id once; only those of `severity` when given. */
export function anomaliesQuery(names: TableNames, since: Date, limit: number, severity?: string): QuerySpec {
  const one = severity !== undefined;
  return {
    query: `SELECT id, drawing_id, anomaly_type, severity, details, created_at
FROM ${tableRef(names, 'anomalies')}
WHERE created_at >= @since${one ? ' AND severity = @severity' : ''}
QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY created_at) = 1
ORDER BY created_at DESC, id DESC
LIMIT @limit`,
    params: one ? { since, limit, severity } : { since, limit },
    types: one ? { since: 'TIMESTAMP', limit: 'INT64', severity: 'STRING' } : { since: 'TIMESTAMP', limit: 'INT64' },
  };
}

/** Distinct malformed_input and missing_upload anomalies since. */
export function dataQualityQuery(names: TableNames, since: Date): QuerySpec {
  return {
    query: `SELECT COUNT(DISTINCT id) AS issues
FROM ${tableRef(names, 'anomalies')}
WHERE created_at >= @since AND anomaly_type IN ('malformed_input', 'missing_upload')`,
    params: { since },
    types: { since: 'TIMESTAMP' },
  };
}

/**
 * One replica's results and failures since, oldest first, each task once (a completed row beats a
 * failed one): what a restarted replica with the same REPLICA_ID rebuilds its windows from.
 */
export function samplesQuery(names: TableNames, since: Date, replicaId: string): QuerySpec {
  return {
    query: `SELECT task_key, drawing_id, status, latency_ms, end_to_end_ms, added_count, removed_count, moved_count, modified_count, renamed_count, created_at
FROM ${tableRef(names, 'processing_metrics')}
WHERE replica_id = @replica_id AND created_at >= @since
QUALIFY ROW_NUMBER() OVER (PARTITION BY task_key ORDER BY CASE WHEN status = 'completed' THEN 0 ELSE 1 END, created_at) = 1
ORDER BY created_at, task_key`,
    params: { replica_id: replicaId, since },
    types: { replica_id: 'STRING', since: 'TIMESTAMP' },
  };
}

/**
 * Each drawing's latest completed task (counts from processing_metrics, so no JSON is read),
 * newest first, after the cursor when one is given, among the rows created at or after `since`
 * (null: all). The `since` bound prunes partitions: the scan covers only the days from `since` to
 * now. Every drawing it returns is right (its latest row is at or after `since`, and every newer
 * row of it is scanned too), and any drawing it misses has its latest before `since`, so after all
 * of these: a page that comes back full is the true page, and a short one is asked again with an
 * earlier `since` (see BigQueryStore.drawings).
 */
export function drawingsQuery(names: TableNames, limit: number, after: { at: Date; drawingId: string } | null, since: Date | null): QuerySpec {
  const params: Record<string, string | number | Date> = { limit };
  const types: Record<string, ParamType> = { limit: 'INT64' };
  if (after) {
    Object.assign(params, { after_at: after.at, after_id: after.drawingId });
    Object.assign(types, { after_at: 'TIMESTAMP', after_id: 'STRING' });
  }
  if (since) {
    params.since = since;
    types.since = 'TIMESTAMP';
  }
  return {
    query: `SELECT drawing_id, job_id, created_at, added_count, removed_count, moved_count, modified_count
FROM (
  SELECT drawing_id, job_id, created_at, added_count, removed_count, moved_count, modified_count
  FROM ${tableRef(names, 'processing_metrics')}
  WHERE status = 'completed' AND drawing_id IS NOT NULL${since ? ' AND created_at >= @since' : ''}
  QUALIFY ROW_NUMBER() OVER (PARTITION BY drawing_id ORDER BY created_at DESC, task_key DESC) = 1
)${after ? '\nWHERE created_at < @after_at OR (created_at = @after_at AND drawing_id < @after_id)' : ''}
ORDER BY created_at DESC, drawing_id DESC
LIMIT @limit`,
    params,
    types,
  };
}

/** One replica's rows since, each task once (a completed row beats a failed one), as in samplesQuery. */
function latestPerTask(names: TableNames): string {
  return `SELECT task_key, drawing_id, status, latency_ms, end_to_end_ms, added_count, removed_count, moved_count, modified_count, renamed_count, created_at
  FROM ${tableRef(names, 'processing_metrics')}
  WHERE replica_id = @replica_id AND created_at >= @since
  QUALIFY ROW_NUMBER() OVER (PARTITION BY task_key ORDER BY CASE WHEN status = 'completed' THEN 0 ELSE 1 END, created_at) = 1`;
}

const positive = (column: string) => `SUM(CASE WHEN status = 'completed' AND ${column} > 0 THEN ${column} ELSE 0 END)`;

/**
 * One replica's outcomes stored in [since, before), counted per hour (`hour` = whole hours since
 * the epoch), each task once: the counts half of ResultStore.hourlyOutcomes.
 */
export function hourlyCountsQuery(names: TableNames, since: Date, before: Date, replicaId: string): QuerySpec {
  return {
    query: `SELECT DIV(UNIX_SECONDS(created_at), 3600) AS hour,
  SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS pairs,
  ${positive('added_count')} AS added, ${positive('removed_count')} AS removed, ${positive('moved_count')} AS moved,
  ${positive('modified_count')} AS modified, ${positive('renamed_count')} AS renamed,
  SUM(CASE WHEN status != 'completed' THEN 1 ELSE 0 END) AS failed,
  SUM(CASE WHEN status = 'malformed' THEN 1 ELSE 0 END) AS malformed
FROM (
  ${latestPerTask(names)}
)
WHERE created_at < @before
GROUP BY hour`,
    params: { replica_id: replicaId, since, before },
    types: { replica_id: 'STRING', since: 'TIMESTAMP', before: 'TIMESTAMP' },
  };
}

/**
 * The histograms half of ResultStore.hourlyOutcomes: per hour and latency, how many completed
 * tasks fell in each HDR bucket (its lowest value in µs), computed in the query
 * (sinks/hourly-outcomes.ts), so the answer is bounded by the buckets, not the rows.
 */
export function hourlyBucketsQuery(names: TableNames, since: Date, before: Date, replicaId: string, sql: { micros: (column: string) => string; bucket: (micros: string) => string }): QuerySpec {
  const side = (which: string, column: string) => `SELECT DIV(UNIX_SECONDS(created_at), 3600) AS hour, '${which}' AS which, ${sql.micros(column)} AS v
  FROM (
  ${latestPerTask(names)}
  )
  WHERE status = 'completed' AND created_at < @before`;
  return {
    query: `SELECT hour, which, ${sql.bucket('v')} AS bucket, COUNT(*) AS n
FROM (
  ${side('processing', 'latency_ms')}
  UNION ALL
  ${side('end_to_end', 'end_to_end_ms')}
)
GROUP BY hour, which, bucket`,
    params: { replica_id: replicaId, since, before },
    types: { replica_id: 'STRING', since: 'TIMESTAMP', before: 'TIMESTAMP' },
  };
}

/** Each drawing's last `perDrawing` completed tasks of one replica in [since, before), oldest first. */
export function baselineSamplesQuery(names: TableNames, since: Date, before: Date, replicaId: string, perDrawing: number): QuerySpec {
  return {
    query: `SELECT task_key, drawing_id, status, latency_ms, end_to_end_ms, added_count, removed_count, moved_count, modified_count, renamed_count, created_at
FROM (
  SELECT task_key, drawing_id, status, latency_ms, end_to_end_ms, added_count, removed_count, moved_count, modified_count, renamed_count, created_at
  FROM (
  ${latestPerTask(names)}
  )
  WHERE status = 'completed' AND drawing_id IS NOT NULL AND created_at < @before
  QUALIFY ROW_NUMBER() OVER (PARTITION BY drawing_id ORDER BY created_at DESC, task_key DESC) <= @per_drawing
)
ORDER BY created_at, task_key`,
    params: { replica_id: replicaId, since, before, per_drawing: perDrawing },
    types: { replica_id: 'STRING', since: 'TIMESTAMP', before: 'TIMESTAMP', per_drawing: 'INT64' },
  };
}
