/**
 * Pure mapping from the sink records to BigQuery `insertAll` rows, with deterministic insertIds
 * (a retried or replayed row carries the same id, so BigQuery's best-effort dedupe can drop it),
 * and the splitting of rows into requests that stay inside the API's limits.
 */
import { createHash } from 'node:crypto';
import type { Anomaly } from '../../src/domain/types.js';
import type { FailureRecord, JobRecord, ResultRecord, Rollup } from '../../src/domain/sink.js';
import * as rows from '../rows.js';
import { INSERT_LIMITS } from './config.js';

/** One element of `insertAll.rows`, sent with `table.insert(rows, { raw: true })`. */
export interface InsertRow {
  readonly insertId: string;
  readonly json: Readonly<Record<string, unknown>>;
}

/** insertId is at most 128 characters (API limit); longer keys are hashed, still deterministic. */
const MAX_INSERT_ID = 128;

/**
 * A stable insertId for a key: the key itself when it fits, else a SHA-256 of it.
 *
 * @example
 * insertIdFor('task-1') // 'task-1'
 */
export function insertIdFor(key: string): string {
  if (key.length <= MAX_INSERT_ID) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

const ts = rows.isoTime;

/** The `change_results` row of a result; insertId = task key. */
export function changeResultRow(r: ResultRecord): InsertRow {
  return { insertId: insertIdFor(r.taskKey), json: { ...rows.changeRow(r) } };
}

/**
 * The `change_results` row of a result too large for one row: the summary and the first
 * `excerptItems` items of each kind, and `result_object` naming where the whole result is.
 * Counts per kind are in the result's `processing_metrics` row, as for any result.
 *
 * @example
 * excerptChangeResultRow(huge, 'gs://out/results/D1/k.json', 100).json.result_object // 'gs://out/results/D1/k.json'
 */
export function excerptChangeResultRow(r: ResultRecord, resultObject: string, excerptItems: number): InsertRow {
  const c = r.changes;
  const excerpt: ResultRecord = {
    ...r,
    changes: {
      ...c,
      added: c.added.slice(0, excerptItems),
      removed: c.removed.slice(0, excerptItems),
      moved: c.moved.slice(0, excerptItems),
      modified: c.modified.slice(0, excerptItems),
      // Where geometry matching ran, its lists can be as long as the others (a re-export).
      ...(c.renamed ? { renamed: c.renamed.slice(0, excerptItems) } : {}),
      ...(c.ambiguous ? { ambiguous: c.ambiguous.slice(0, excerptItems) } : {}),
    },
  };
  const row = changeResultRow(excerpt);
  return { insertId: row.insertId, json: { ...row.json, result_object: resultObject } };
}

/**
 * The `processing_metrics` row of a result. The insertId carries the status as well as the task
 * key: a task that first failed (retries exhausted) and later completed has two rows, and
 * BigQuery's dedupe must not drop the second as a copy of the first.
 */
export function resultMetricRow(r: ResultRecord): InsertRow {
  return { insertId: insertIdFor(`completed:${r.taskKey}`), json: { ...rows.completedMetricRow(r) } };
}

/** The `processing_metrics` row of a malformed or failed task. */
export function failureMetricRow(f: FailureRecord): InsertRow {
  return { insertId: insertIdFor(`${f.kind}:${f.taskKey}`), json: { ...rows.failureMetricRow(f) } };
}

/** The `anomalies` row; insertId = the anomaly's deterministic id. */
export function anomalyRow(a: Anomaly): InsertRow {
  return { insertId: insertIdFor(a.id), json: { ...rows.anomalyRow(a) } };
}

/**
 * The `hourly_rollups` row. Streaming inserts cannot update, so each flush appends a version and
 * readers keep the newest `updated_at` per (replica_id, hour_start); the insertId
 * `replica:hour:updatedAt` makes a retried flush the same version, never a new one.
 */
export function rollupRow(r: Rollup): InsertRow {
  return { insertId: insertIdFor(`${r.replicaId}:${ts(r.hourStart)}:${ts(r.updatedAt)}`), json: { ...rows.rollupRow(r) } };
}

/** The `jobs` row; insertId = job id. */
export function jobRow(j: JobRecord): InsertRow {
  return {
    insertId: insertIdFor(j.jobId),
    json: { job_id: j.jobId, tasks_created: j.tasksCreated, created_at: ts(j.createdAt) },
  };
}

/** A `job_tasks` row; insertId = job id and task key. */
export function jobTaskRow(row: rows.JobTaskRow): InsertRow {
  return { insertId: insertIdFor(`${row.job_id}:${row.task_key}`), json: { ...row } };
}

/** Approximate wire size of one row inside an insertAll body. */
export function rowBytes(row: InsertRow): number {
  return Buffer.byteLength(JSON.stringify(row)) + 1;
}

/**
 * Splits rows into insertAll requests of at most `maxRows` rows and about `maxBytes` bytes each,
 * preserving order. A single row larger than `maxBytes` travels alone (the API then judges it).
 *
 * @example
 * chunkRows(rows) // → [[...500 rows], [...]] with the default limits
 */
export function chunkRows(
  rows: readonly InsertRow[],
  limits: { readonly maxRows: number; readonly maxBytes: number } = INSERT_LIMITS,
): InsertRow[][] {
  const chunks: InsertRow[][] = [];
  let current: InsertRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = rowBytes(row);
    if (current.length > 0 && (current.length >= limits.maxRows || bytes + size > limits.maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Keeps the first row of each insertId (duplicates inside one batch are one row). */
export function uniqueRows(rows: readonly InsertRow[]): InsertRow[] {
  const seen = new Set<string>();
  return rows.filter((r) => (seen.has(r.insertId) ? false : (seen.add(r.insertId), true)));
}
