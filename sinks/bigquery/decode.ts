/**
 * Pure mapping from query result rows (as the BigQuery client parses them) back to the shapes the
 * API serves, tolerant of the client's representations (BigQueryTimestamp objects, JSON as text).
 */
import { ANOMALY_TYPES, type Anomaly, type AnomalyType, type Severity } from '../../src/domain/types.js';
import type { DrawingSummary, HourlyCounts, JobStatus, MetricSample, Rollup, StoredChange } from '../../src/domain/sink.js';
import { versionRefsOf } from '../rows.js';

export type Row = Readonly<Record<string, unknown>>;

/** A stored row that does not have the shape this code wrote: someone else wrote the table. */
export class RowDecodeError extends Error {
  override readonly name = 'RowDecodeError';
  readonly code = 'internal_error' as const;
  constructor(
    readonly column: string,
    readonly value: unknown,
  ) {
    super(`Unexpected value in column ${column}: ${JSON.stringify(value)?.slice(0, 100)}`);
  }
}

/** TIMESTAMP values arrive as BigQueryTimestamp ({ value: ISO }), Date, ISO text or epoch µs. */
export function toDate(row: Row, column: string): Date {
  const v = row[column];
  const raw = v !== null && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v;
  const d =
    raw instanceof Date ? raw : typeof raw === 'string' || typeof raw === 'number' ? new Date(raw) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw new RowDecodeError(column, v);
  return d;
}

export function toNumber(row: Row, column: string): number {
  const v = row[column];
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : v === null ? 0 : NaN;
  if (!Number.isFinite(n)) throw new RowDecodeError(column, v);
  return n;
}

export function toText(row: Row, column: string): string {
  const v = row[column];
  if (typeof v !== 'string') throw new RowDecodeError(column, v);
  return v;
}

export function toNullableText(row: Row, column: string): string | null {
  const v = row[column];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new RowDecodeError(column, v);
  return v;
}

/** JSON columns come back as JSON text unless the client was told to parse them. */
export function toJson(row: Row, column: string): unknown {
  const v = row[column];
  if (typeof v !== 'string') return v ?? null;
  try {
    return JSON.parse(v);
  } catch {
    throw new RowDecodeError(column, v);
  }
}

function toArray<T>(row: Row, column: string): readonly T[] {
  const v = toJson(row, column);
  if (!Array.isArray(v)) throw new RowDecodeError(column, v);
  return v as T[];
}

/** As countChanges: a result's counts name `renamed` only when there is some. */
const renamedCount = (n: number): { renamed?: number } => (n > 0 ? { renamed: n } : {});

/** A nullable JSON array column: absent from the result where NULL (geometry matching did not run). */
function optionalArray(row: Row, column: 'renamed' | 'ambiguous'): Partial<Record<typeof column, readonly never[]>> {
  if (row[column] === null || row[column] === undefined) return {};
  return { [column]: toArray<never>(row, column) };
}

/** A `change_results` row as `GET /changes` serves it. */
export function decodeChange(row: Row): StoredChange {
  return {
    drawing_id: toText(row, 'drawing_id'),
    job_id: toNullableText(row, 'job_id'),
    added: toArray(row, 'added'),
    removed: toArray(row, 'removed'),
    moved: toArray(row, 'moved'),
    modified: toArray(row, 'modified'),
    ...optionalArray(row, 'renamed'),
    ...optionalArray(row, 'ambiguous'),
    summary: toText(row, 'summary'),
    processing_time_ms: toNumber(row, 'processing_time_ms'),
    created_at: toDate(row, 'created_at').toISOString(),
    ...versionsOf(row),
  };
}

/** The version references of a row, where it keeps them (columns absent from older queries read as none). */
function versionsOf(row: Row): Pick<StoredChange, 'versions'> {
  const text = (column: string) => (row[column] === undefined ? null : toNullableText(row, column));
  const versions = versionRefsOf({
    version_a_ref: text('version_a_ref'),
    version_a_sha256: text('version_a_sha256'),
    version_b_ref: text('version_b_ref'),
    version_b_sha256: text('version_b_sha256'),
  });
  return versions ? { versions } : {};
}

/** A `processing_metrics` row of a drawing's latest completed task as `GET /drawings` lists it. */
export function decodeDrawing(row: Row): DrawingSummary {
  return {
    drawing_id: toText(row, 'drawing_id'),
    job_id: toNullableText(row, 'job_id'),
    latest_result_at: toDate(row, 'created_at').toISOString(),
    counts: {
      added: toNumber(row, 'added_count'),
      removed: toNumber(row, 'removed_count'),
      moved: toNumber(row, 'moved_count'),
      modified: toNumber(row, 'modified_count'),
    },
  };
}

/** The hourly count columns a rollup row and a per-hour restore row share. */
export function decodeHourlyCounts(row: Row): HourlyCounts {
  return {
    pairs: toNumber(row, 'pairs'),
    added: toNumber(row, 'added'),
    removed: toNumber(row, 'removed'),
    moved: toNumber(row, 'moved'),
    modified: toNumber(row, 'modified'),
    renamed: toNumber(row, 'renamed'),
    failed: toNumber(row, 'failed'),
    malformed: toNumber(row, 'malformed'),
  };
}

export function decodeRollup(row: Row): Rollup {
  return {
    replicaId: toText(row, 'replica_id'),
    hourStart: toDate(row, 'hour_start'),
    counts: decodeHourlyCounts(row),
    processingHistogram: toText(row, 'processing_histogram'),
    endToEndHistogram: toText(row, 'end_to_end_histogram'),
    updatedAt: toDate(row, 'updated_at'),
  };
}

const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high'];

export function decodeAnomaly(row: Row): Anomaly {
  const type = toText(row, 'anomaly_type');
  if (!(ANOMALY_TYPES as readonly string[]).includes(type)) throw new RowDecodeError('anomaly_type', type);
  const severity = toText(row, 'severity');
  if (!(SEVERITIES as readonly string[]).includes(severity)) throw new RowDecodeError('severity', severity);
  const details = toJson(row, 'details');
  return {
    id: toText(row, 'id'),
    drawingId: toNullableText(row, 'drawing_id'),
    type: type as AnomalyType,
    severity: severity as Severity,
    details: details !== null && typeof details === 'object' && !Array.isArray(details) ? (details as Record<string, unknown>) : {},
    timestamp: toDate(row, 'created_at'),
  };
}

/** `GET /jobs/:id` from the job row and the deduplicated outcome counts. */
export function decodeJobStatus(jobRow: Row, countsRow: Row | undefined): JobStatus {
  const tasksCreated = toNumber(jobRow, 'tasks_created');
  const completed = countsRow ? toNumber(countsRow, 'completed') : 0;
  const failed = countsRow ? toNumber(countsRow, 'failed') : 0;
  return {
    job_id: toText(jobRow, 'job_id'),
    tasks_created: tasksCreated,
    completed,
    failed,
    pending: Math.max(0, tasksCreated - completed - failed),
  };
}

/** A processing_metrics row as the windows record it. */
export function decodeSample(row: Row): MetricSample {
  const at = toDate(row, 'created_at');
  const taskKey = toText(row, 'task_key');
  const drawingId = toNullableText(row, 'drawing_id');
  const about = { taskKey, ...(drawingId === null ? {} : { drawingId }) };
  const status = toText(row, 'status');
  if (status !== 'completed') return { kind: 'failure', at, malformed: status === 'malformed', ...about };
  return {
    kind: 'result',
    ...about,
    at,
    processingTimeMs: toNumber(row, 'latency_ms'),
    endToEndMs: toNumber(row, 'end_to_end_ms'),
    counts: {
      added: toNumber(row, 'added_count'),
      removed: toNumber(row, 'removed_count'),
      moved: toNumber(row, 'moved_count'),
      modified: toNumber(row, 'modified_count'),
      ...renamedCount(toNumber(row, 'renamed_count')),
    },
  };
}
