/**
 * The BigQuery tables BuildTrace writes, as table-creation metadata: one place that says which
 * columns exist, how each table is partitioned and clustered, so `ensureSchema`, the row encoder
 * and the queries cannot drift apart.
 */

export type BigQueryFieldType = 'STRING' | 'INT64' | 'FLOAT64' | 'TIMESTAMP' | 'JSON' | 'BOOL';

export interface FieldSpec {
  readonly name: string;
  readonly type: BigQueryFieldType;
  readonly mode: 'REQUIRED' | 'NULLABLE';
  readonly description?: string;
}

export interface TableSpec {
  readonly id: TableId;
  readonly description: string;
  readonly fields: readonly FieldSpec[];
  /** Day partitions on this TIMESTAMP column, so time-bounded queries scan only recent days. */
  readonly partitionField: string;
  /** Clustering columns, most selective first (at most 4, an API limit). */
  readonly clustering: readonly string[];
  /** Partitions older than this many days are dropped by BigQuery itself; absent: kept. */
  readonly partitionExpirationDays?: number;
}

/**
 * Rollups keep a bit over a year (a year-on-year comparison still finds last year's hour); raw
 * rows are kept until an operator decides otherwise.
 */
export const ROLLUP_PARTITION_EXPIRATION_DAYS = 400;

export const TABLE_IDS = ['change_results', 'processing_metrics', 'anomalies', 'hourly_rollups', 'jobs', 'job_tasks'] as const;
export type TableId = (typeof TABLE_IDS)[number];

const req = (name: string, type: BigQueryFieldType, description?: string): FieldSpec =>
  description === undefined ? { name, type, mode: 'REQUIRED' } : { name, type, mode: 'REQUIRED', description };
const opt = (name: string, type: BigQueryFieldType, description?: string): FieldSpec =>
  description === undefined ? { name, type, mode: 'NULLABLE' } : { name, type, mode: 'NULLABLE', description };

/** Mirrors the embedded store's tables (sinks/local-store) so both answer the same questions. */
export const TABLES: Readonly<Record<TableId, TableSpec>> = {
  change_results: {
    id: 'change_results',
    description: 'One row per processed drawing pair; duplicates share task_key (queries dedupe).',
    fields: [
      req('task_key', 'STRING', 'Idempotency key of the task'),
      req('drawing_id', 'STRING'),
      opt('job_id', 'STRING'),
      req('added', 'JSON'),
      req('removed', 'JSON'),
      req('moved', 'JSON'),
      req('modified', 'JSON'),
      // Added later (issue 13), so NULLABLE: BigQuery adds only nullable columns to a table.
      opt('renamed', 'JSON', 'Geometry matching: objects that only changed id; NULL where it did not run'),
      opt('ambiguous', 'JSON', 'Geometry matching: groups of equally good candidates; NULL where it did not run'),
      req('summary', 'STRING'),
      req('processing_time_ms', 'FLOAT64', 'received → durable'),
      req('end_to_end_ms', 'FLOAT64', 'published or uploaded_at → durable'),
      req('created_at', 'TIMESTAMP'),
      req('replica_id', 'STRING'),
      opt(
        'result_object',
        'STRING',
        'Set when the result was too large for one row: the Cloud Storage object (gs://bucket/name) holding it whole; added/removed/moved/modified then hold an excerpt',
      ),
      // Added later (the overlay's unchanged objects), NULLABLE like every added column.
      opt('version_a_ref', 'STRING', 'Where version A was read from (version_a_uri, or storage_path/version_a.json); NULL for inline tasks'),
      opt('version_a_sha256', 'STRING', 'SHA-256 of version A as read, to tell whether it changed since'),
      opt('version_b_ref', 'STRING', 'Where version B was read from; NULL for inline tasks'),
      opt('version_b_sha256', 'STRING', 'SHA-256 of version B as read'),
    ],
    partitionField: 'created_at',
    clustering: ['drawing_id'],
  },
  processing_metrics: {
    id: 'processing_metrics',
    description: 'One row per task outcome: completed, malformed or failed.',
    fields: [
      req('task_key', 'STRING'),
      opt('job_id', 'STRING'),
      opt('drawing_id', 'STRING'),
      req('status', 'STRING', 'completed | malformed | failed'),
      opt('latency_ms', 'FLOAT64'),
      opt('end_to_end_ms', 'FLOAT64'),
      req('added_count', 'INT64'),
      req('removed_count', 'INT64'),
      req('moved_count', 'INT64'),
      req('modified_count', 'INT64'),
      opt('renamed_count', 'INT64', 'Objects that only changed id; NULL in rows written before it existed'),
      opt('error_code', 'STRING'),
      opt('error_message', 'STRING'),
      req('created_at', 'TIMESTAMP'),
      req('replica_id', 'STRING'),
    ],
    partitionField: 'created_at',
    // job_id second: GET /jobs/:id filters on it within the partitions after the job's creation.
    clustering: ['drawing_id', 'job_id'],
  },
  anomalies: {
    id: 'anomalies',
    description: 'Detected anomalies; duplicates share id (queries dedupe).',
    fields: [
      req('id', 'STRING'),
      opt('drawing_id', 'STRING'),
      req('anomaly_type', 'STRING'),
      req('severity', 'STRING'),
      req('details', 'JSON'),
      req('created_at', 'TIMESTAMP'),
    ],
    partitionField: 'created_at',
    clustering: ['drawing_id'],
  },
  hourly_rollups: {
    id: 'hourly_rollups',
    description: 'Each replica’s hourly counts and HDR histograms; the newest updated_at per (replica_id, hour_start) wins.',
    fields: [
      req('replica_id', 'STRING'),
      req('hour_start', 'TIMESTAMP'),
      req('pairs', 'INT64'),
      req('added', 'INT64'),
      req('removed', 'INT64'),
      req('moved', 'INT64'),
      req('modified', 'INT64'),
      opt('renamed', 'INT64', 'Objects that only changed id; NULL in rows written before it existed'),
      req('failed', 'INT64'),
      req('malformed', 'INT64'),
      req('processing_histogram', 'STRING', 'hdr-histogram-js compressed base64, µs'),
      req('end_to_end_histogram', 'STRING', 'hdr-histogram-js compressed base64, µs'),
      req('updated_at', 'TIMESTAMP'),
    ],
    partitionField: 'hour_start',
    clustering: ['replica_id'],
    partitionExpirationDays: ROLLUP_PARTITION_EXPIRATION_DAYS,
  },
  jobs: {
    id: 'jobs',
    description: 'One row per POST /process job.',
    fields: [req('job_id', 'STRING'), req('tasks_created', 'INT64'), req('created_at', 'TIMESTAMP')],
    partitionField: 'created_at',
    clustering: ['job_id'],
  },
  job_tasks: {
    id: 'job_tasks',
    description:
      'The client-chosen task_ids each POST /process job enqueued: GET /jobs counts their outcome whichever job delivered them, and a repeated task_id is found here.',
    fields: [req('job_id', 'STRING'), req('task_key', 'STRING', 'Idempotency key of the task'), req('created_at', 'TIMESTAMP', 'When the job was created')],
    partitionField: 'created_at',
    // task_key first: POST /process looks keys up over all days; GET /jobs reads one job's recent days.
    clustering: ['task_key', 'job_id'],
  },
};

/**
 * The `tables.insert` request body for one table: schema, day partitioning and clustering.
 *
 * @example
 * await dataset.table('jobs').create(tableMetadata(TABLES.jobs));
 */
export function tableMetadata(spec: TableSpec): {
  schema: { fields: FieldSpec[] };
  timePartitioning: { type: 'DAY'; field: string; expirationMs?: string };
  clustering: { fields: string[] };
  description: string;
} {
  return {
    schema: { fields: spec.fields.map((f) => ({ ...f })) },
    timePartitioning: { type: 'DAY', field: spec.partitionField, ...partitionExpiration(spec) },
    clustering: { fields: [...spec.clustering] },
    description: spec.description,
  };
}

/** `timePartitioning.expirationMs` as the API spells it (an int64 string), or nothing. */
export function partitionExpiration(spec: TableSpec): { expirationMs?: string } {
  return spec.partitionExpirationDays === undefined ? {} : { expirationMs: String(spec.partitionExpirationDays * 86_400_000) };
}
