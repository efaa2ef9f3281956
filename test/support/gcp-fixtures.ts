/**
 * Small builders for the records the GCP sink tests write (results, failures, anomalies,
 * rollups), so each test states only the fields it cares about.
 */
import type { Anomaly } from '../../src/domain/types.js';
import type { FailureRecord, ResultRecord, Rollup } from '../../src/domain/sink.js';

export function result(taskKey: string, overrides: Partial<ResultRecord> = {}): ResultRecord {
  return {
    taskKey,
    jobId: 'job-1',
    drawingId: 'D1',
    changes: {
      added: [{ id: 'A1', type: 'door', to: { x: 1, y: 2, width: 1, height: 2 }, description: 'A1 (door at 1.0,2.0)' }],
      removed: [],
      moved: [],
      modified: [],
      summary: '1 object added: A1 (door at 1.0,2.0).',
    },
    counts: { added: 1, removed: 0, moved: 0, modified: 0 },
    processingTimeMs: 12.5,
    endToEndMs: 40.25,
    createdAt: new Date('2026-11-29T10:15:00.000Z'),
    replicaId: 'replica-a',
    ...overrides,
  };
}

export function failure(taskKey: string, overrides: Partial<FailureRecord> = {}): FailureRecord {
  return {
    taskKey,
    jobId: 'job-1',
    drawingId: 'D9',
    kind: 'malformed',
    code: 'malformed_version',
    message: 'version_a[2].x is not a finite number',
    createdAt: new Date('2026-11-29T10:16:00.000Z'),
    replicaId: 'replica-a',
    ...overrides,
  };
}

export function anomaly(id: string, overrides: Partial<Anomaly> = {}): Anomaly {
  return {
    id,
    drawingId: 'D9',
    type: 'malformed_input',
    severity: 'medium',
    details: { code: 'malformed_version' },
    timestamp: new Date('2026-11-29T10:16:00.000Z'),
    ...overrides,
  };
}

export function rollup(replicaId: string, hourIso: string, updatedIso: string, pairs: number): Rollup {
  return {
    replicaId,
    hourStart: new Date(hourIso),
    counts: { pairs, added: pairs, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 },
    processingHistogram: `hist-p-${pairs}`,
    endToEndHistogram: `hist-e-${pairs}`,
    updatedAt: new Date(updatedIso),
  };
}
