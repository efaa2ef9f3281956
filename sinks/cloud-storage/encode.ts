/**
 * Pure mapping from sink records to Cloud Storage objects: where each result, failure and anomaly
 * lives in OUTPUT_BUCKET and the JSON document stored there.
 */
import type { Anomaly } from '../../src/domain/types.js';
import type { FailureRecord, ResultRecord } from '../../src/domain/sink.js';

export interface ObjectToWrite {
  readonly name: string;
  readonly body: string;
}

/** One path segment from a key: keys come from producers, so `/` and other specials are escaped. */
export function segment(key: string): string {
  return encodeURIComponent(key);
}

/** `results/<drawing_id>/<task_key>.json` */
export function resultObjectName(r: Pick<ResultRecord, 'drawingId' | 'taskKey'>): string {
  return `results/${segment(r.drawingId)}/${segment(r.taskKey)}.json`;
}

/** `failures/<task_key>.json` */
export function failureObjectName(f: Pick<FailureRecord, 'taskKey'>): string {
  return `failures/${segment(f.taskKey)}.json`;
}

/** `anomalies/<id>.json` */
export function anomalyObjectName(a: Pick<Anomaly, 'id'>): string {
  return `anomalies/${segment(a.id)}.json`;
}

/** The result as `GET /changes` serves it, plus the fields an operator needs to trace it. */
export function resultObject(r: ResultRecord): ObjectToWrite {
  return {
    name: resultObjectName(r),
    body: JSON.stringify({
      task_key: r.taskKey,
      drawing_id: r.drawingId,
      job_id: r.jobId,
      added: r.changes.added,
      removed: r.changes.removed,
      moved: r.changes.moved,
      modified: r.changes.modified,
      // Only where geometry matching ran: JSON.stringify leaves out the undefined ones.
      renamed: r.changes.renamed,
      ambiguous: r.changes.ambiguous,
      summary: r.changes.summary,
      counts: r.counts,
      processing_time_ms: r.processingTimeMs,
      end_to_end_ms: r.endToEndMs,
      created_at: r.createdAt.toISOString(),
      replica_id: r.replicaId,
    }),
  };
}

export function failureObject(f: FailureRecord): ObjectToWrite {
  return {
    name: failureObjectName(f),
    body: JSON.stringify({
      task_key: f.taskKey,
      drawing_id: f.drawingId,
      job_id: f.jobId,
      status: f.kind,
      error: { code: f.code, message: f.message },
      created_at: f.createdAt.toISOString(),
      replica_id: f.replicaId,
    }),
  };
}

export function anomalyObject(a: Anomaly): ObjectToWrite {
  return {
    name: anomalyObjectName(a),
    body: JSON.stringify({
      id: a.id,
      drawing_id: a.drawingId,
      type: a.type,
      severity: a.severity,
      details: a.details,
      timestamp: a.timestamp.toISOString(),
    }),
  };
}
