/**
 * The rows both stores keep for a result, a failure, an anomaly, an hourly rollup and a job's task
 * keys: one shape for the embedded tables and BigQuery's, so the two stores cannot drift apart
 * column by column.
 */
import type { Anomaly } from '../src/domain/types.js';
import type { FailureRecord, JobTasks, ResultRecord, Rollup, VersionRefs } from '../src/domain/sink.js';

/** ISO-8601 UTC with milliseconds: fixed width, so text order is time order. */
export const isoTime = (d: Date): string => d.toISOString();

export interface ChangeRow {
  readonly task_key: string;
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly added: string;
  readonly removed: string;
  readonly moved: string;
  readonly modified: string;
  /** JSON text; null where geometry matching did not run (the seed's result shape). */
  readonly renamed: string | null;
  readonly ambiguous: string | null;
  readonly summary: string;
  readonly processing_time_ms: number;
  readonly end_to_end_ms: number;
  readonly created_at: string;
  readonly replica_id: string;
  /** Where the versions were read from and their SHA-256; all four null for inline tasks. */
  readonly version_a_ref: string | null;
  readonly version_a_sha256: string | null;
  readonly version_b_ref: string | null;
  readonly version_b_sha256: string | null;
}

export interface MetricRow {
  readonly task_key: string;
  readonly job_id: string | null;
  readonly drawing_id: string | null;
  readonly status: 'completed' | 'malformed' | 'failed';
  readonly latency_ms: number | null;
  readonly end_to_end_ms: number | null;
  readonly added_count: number;
  readonly removed_count: number;
  readonly moved_count: number;
  readonly modified_count: number;
  readonly renamed_count: number;
  readonly error_code: string | null;
  readonly error_message: string | null;
  readonly created_at: string;
  readonly replica_id: string;
}

export interface AnomalyRow {
  readonly id: string;
  readonly drawing_id: string | null;
  readonly anomaly_type: string;
  readonly severity: string;
  readonly details: string;
  readonly created_at: string;
}

export interface RollupRow {
  readonly replica_id: string;
  readonly hour_start: string;
  readonly pairs: number;
  readonly added: number;
  readonly removed: number;
  readonly moved: number;
  readonly modified: number;
  readonly renamed: number;
  readonly failed: number;
  readonly malformed: number;
  readonly processing_histogram: string;
  readonly end_to_end_histogram: string;
  readonly updated_at: string;
}

/** The `change_results` row of a result; JSON columns as JSON text. */
export function changeRow(r: ResultRecord): ChangeRow {
  return {
    task_key: r.taskKey,
    drawing_id: r.drawingId,
    job_id: r.jobId,
    added: JSON.stringify(r.changes.added),
    removed: JSON.stringify(r.changes.removed),
    moved: JSON.stringify(r.changes.moved),
    modified: JSON.stringify(r.changes.modified),
    renamed: r.changes.renamed === undefined ? null : JSON.stringify(r.changes.renamed),
    ambiguous: r.changes.ambiguous === undefined ? null : JSON.stringify(r.changes.ambiguous),
    summary: r.changes.summary,
    processing_time_ms: r.processingTimeMs,
    end_to_end_ms: r.endToEndMs,
    created_at: isoTime(r.createdAt),
    replica_id: r.replicaId,
    version_a_ref: r.versions?.a.ref ?? null,
    version_a_sha256: r.versions?.a.sha256 ?? null,
    version_b_ref: r.versions?.b.ref ?? null,
    version_b_sha256: r.versions?.b.sha256 ?? null,
  };
}

/**
 * The version references of a stored row, or undefined when it keeps none (an inline task, or a
 * row written before they were kept).
 */
export function versionRefsOf(row: Pick<ChangeRow, 'version_a_ref' | 'version_a_sha256' | 'version_b_ref' | 'version_b_sha256'>): VersionRefs | undefined {
  const { version_a_ref: aRef, version_a_sha256: aHash, version_b_ref: bRef, version_b_sha256: bHash } = row;
  if (!aRef || !aHash || !bRef || !bHash) return undefined;
  return { a: { ref: aRef, sha256: aHash }, b: { ref: bRef, sha256: bHash } };
}

/** The `processing_metrics` row of a result. */
export function completedMetricRow(r: ResultRecord): MetricRow {
  return {
    task_key: r.taskKey,
    job_id: r.jobId,
    drawing_id: r.drawingId,
    status: 'completed',
    latency_ms: r.processingTimeMs,
    end_to_end_ms: r.endToEndMs,
    added_count: r.counts.added,
    removed_count: r.counts.removed,
    moved_count: r.counts.moved,
    modified_count: r.counts.modified,
    renamed_count: r.counts.renamed ?? 0,
    error_code: null,
    error_message: null,
    created_at: isoTime(r.createdAt),
    replica_id: r.replicaId,
  };
}

/** A failure keeps its kind in `status` and the reason in its own columns (never `error: msg`). */
export function failureMetricRow(f: FailureRecord): MetricRow {
  return {
    task_key: f.taskKey,
    job_id: f.jobId,
    drawing_id: f.drawingId,
    status: f.kind,
    latency_ms: null,
    end_to_end_ms: null,
    added_count: 0,
    removed_count: 0,
    moved_count: 0,
    modified_count: 0,
    renamed_count: 0,
    error_code: f.code,
    error_message: f.message,
    created_at: isoTime(f.createdAt),
    replica_id: f.replicaId,
  };
}

/** The `anomalies` row; `details` as JSON text. */
export function anomalyRow(a: Anomaly): AnomalyRow {
  return {
    id: a.id,
    drawing_id: a.drawingId,
    anomaly_type: a.type,
    severity: a.severity,
    details: JSON.stringify(a.details),
    created_at: isoTime(a.timestamp),
  };
}

/** The `hourly_rollups` row of one replica's hour; histograms as encoded text. */
export function rollupRow(r: Rollup): RollupRow {
  return {
    replica_id: r.replicaId,
    hour_start: isoTime(r.hourStart),
    pairs: r.counts.pairs,
    added: r.counts.added,
    removed: r.counts.removed,
    moved: r.counts.moved,
    modified: r.counts.modified,
    renamed: r.counts.renamed ?? 0,
    failed: r.counts.failed,
    malformed: r.counts.malformed,
    processing_histogram: r.processingHistogram,
    end_to_end_histogram: r.endToEndHistogram,
    updated_at: isoTime(r.updatedAt),
  };
}

/**
 * A `job_tasks` row: one client-chosen task key a job enqueued. `GET /jobs` counts the outcome of
 * these keys whichever job's delivery wrote it, and `POST /process` finds a repeated key here.
 */
export interface JobTaskRow {
  readonly job_id: string;
  readonly task_key: string;
  readonly created_at: string;
}

/** The `job_tasks` rows of a job, one per distinct key. */
export function jobTaskRows(j: JobTasks): JobTaskRow[] {
  return [...new Set(j.taskKeys)].map((task_key) => ({ job_id: j.jobId, task_key, created_at: isoTime(j.createdAt) }));
}
