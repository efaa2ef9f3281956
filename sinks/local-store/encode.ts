/**
 * Pure mapping between the sink contract's records and the embedded tables' rows, kept apart from
 * the I/O so the row shapes can be read (and tested) without a database.
 */
import type { Anomaly, AnomalyType, Severity } from '../../src/domain/types.js';
import type { FailureRecord, MetricSample, ResultRecord, Rollup, StoredChange } from '../sink.js';

export interface ChangeRow {
  readonly task_key: string;
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly added: string;
  readonly removed: string;
  readonly moved: string;
  readonly modified: string;
  readonly summary: string;
  readonly processing_time_ms: number;
  readonly end_to_end_ms: number;
  readonly created_at: string;
  readonly replica_id: string;
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
  readonly failed: number;
  readonly malformed: number;
  readonly processing_histogram: string;
  readonly end_to_end_histogram: string;
  readonly updated_at: string;
}

/** ISO-8601 UTC with milliseconds: fixed width, so text order is time order. */
export const isoTime = (d: Date): string => d.toISOString();

export function changeRow(r: ResultRecord): ChangeRow {
  return {
    task_key: r.taskKey,
    drawing_id: r.drawingId,
    job_id: r.jobId,
    added: JSON.stringify(r.changes.added),
    removed: JSON.stringify(r.changes.removed),
    moved: JSON.stringify(r.changes.moved),
    modified: JSON.stringify(r.changes.modified),
    summary: r.changes.summary,
    processing_time_ms: r.processingTimeMs,
    end_to_end_ms: r.endToEndMs,
    created_at: isoTime(r.createdAt),
    replica_id: r.replicaId,
  };
}

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
    error_code: f.code,
    error_message: f.message,
    created_at: isoTime(f.createdAt),
    replica_id: f.replicaId,
  };
}

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

export function rollupRow(r: Rollup): RollupRow {
  return {
    replica_id: r.replicaId,
    hour_start: isoTime(r.hourStart),
    pairs: r.counts.pairs,
    added: r.counts.added,
    removed: r.counts.removed,
    moved: r.counts.moved,
    modified: r.counts.modified,
    failed: r.counts.failed,
    malformed: r.counts.malformed,
    processing_histogram: r.processingHistogram,
    end_to_end_histogram: r.endToEndHistogram,
    updated_at: isoTime(r.updatedAt),
  };
}

export function storedChange(row: ChangeRow): StoredChange {
  return {
    drawing_id: row.drawing_id,
    job_id: row.job_id,
    added: JSON.parse(row.added) as StoredChange['added'],
    removed: JSON.parse(row.removed) as StoredChange['removed'],
    moved: JSON.parse(row.moved) as StoredChange['moved'],
    modified: JSON.parse(row.modified) as StoredChange['modified'],
    summary: row.summary,
    processing_time_ms: row.processing_time_ms,
    created_at: row.created_at,
  };
}

export function anomalyFromRow(row: AnomalyRow): Anomaly {
  return {
    id: row.id,
    drawingId: row.drawing_id,
    type: row.anomaly_type as AnomalyType,
    severity: row.severity as Severity,
    details: JSON.parse(row.details) as Record<string, unknown>,
    timestamp: new Date(row.created_at),
  };
}

export function rollupFromRow(row: RollupRow): Rollup {
  return {
    replicaId: row.replica_id,
    hourStart: new Date(row.hour_start),
    counts: {
      pairs: row.pairs,
      added: row.added,
      removed: row.removed,
      moved: row.moved,
      modified: row.modified,
      failed: row.failed,
      malformed: row.malformed,
    },
    processingHistogram: row.processing_histogram,
    endToEndHistogram: row.end_to_end_histogram,
    updatedAt: new Date(row.updated_at),
  };
}

export function sampleFromRow(row: MetricRow): MetricSample {
  const at = new Date(row.created_at);
  if (row.status === 'completed') {
    return {
      kind: 'result',
      at,
      processingTimeMs: row.latency_ms ?? 0,
      endToEndMs: row.end_to_end_ms ?? 0,
      counts: {
        added: row.added_count,
        removed: row.removed_count,
        moved: row.moved_count,
        modified: row.modified_count,
      },
    };
  }
  return { kind: 'failure', at, malformed: row.status === 'malformed' };
}
