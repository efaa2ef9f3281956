/**
 * Pure mapping between the sink contract's records and the embedded tables' rows, kept apart from
 * the I/O so the row shapes can be read (and tested) without a database.
 */
import type { Anomaly, AnomalyType, Severity } from '../../src/domain/types.js';
import type { MetricSample, Rollup, StoredChange } from '../../src/domain/sink.js';
import { isoTime, versionRefsOf, type AnomalyRow, type ChangeRow, type MetricRow, type RollupRow } from '../rows.js';

export {
  anomalyRow,
  changeRow,
  completedMetricRow,
  failureMetricRow,
  isoTime,
  jobTaskRows,
  rollupRow,
  type AnomalyRow,
  type ChangeRow,
  type JobTaskRow,
  type MetricRow,
  type RollupRow,
} from '../rows.js';

export function storedChange(row: ChangeRow): StoredChange {
  return {
    drawing_id: row.drawing_id,
    job_id: row.job_id,
    added: JSON.parse(row.added) as StoredChange['added'],
    removed: JSON.parse(row.removed) as StoredChange['removed'],
    moved: JSON.parse(row.moved) as StoredChange['moved'],
    modified: JSON.parse(row.modified) as StoredChange['modified'],
    ...(row.renamed === null || row.renamed === undefined ? {} : { renamed: JSON.parse(row.renamed) as StoredChange['renamed'] }),
    ...(row.ambiguous === null || row.ambiguous === undefined ? {} : { ambiguous: JSON.parse(row.ambiguous) as StoredChange['ambiguous'] }),
    summary: row.summary,
    processing_time_ms: row.processing_time_ms,
    created_at: row.created_at,
    ...withVersions(versionRefsOf(row)),
  };
}

const withVersions = (versions: StoredChange['versions']): Pick<StoredChange, 'versions'> => (versions ? { versions } : {});

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
      renamed: row.renamed ?? 0,
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
  const about = { taskKey: row.task_key, ...(row.drawing_id === null ? {} : { drawingId: row.drawing_id }) };
  if (row.status === 'completed') {
    return {
      kind: 'result',
      ...about,
      at,
      processingTimeMs: row.latency_ms ?? 0,
      endToEndMs: row.end_to_end_ms ?? 0,
      counts: {
        added: row.added_count,
        removed: row.removed_count,
        moved: row.moved_count,
        modified: row.modified_count,
        // As countChanges: named only when there is some.
        ...(row.renamed_count > 0 ? { renamed: row.renamed_count } : {}),
      },
    };
  }
  return { kind: 'failure', ...about, at, malformed: row.status === 'malformed' };
}
