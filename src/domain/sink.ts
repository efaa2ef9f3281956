/**
 * The contract every sink meets (embedded database, GCP), small enough that one compliance test
 * runs against all of them: write a batch, write rollups, flush, close, health-check; and the
 * query side the API reads from, so any replica answers from the shared store.
 */
import type { Anomaly, ChangeCounts, ChangeSet, Severity } from './types.js';

/** One version file a result was diffed from, and the SHA-256 of the bytes read then. */
export interface VersionRef {
  /** A task's `version_*_uri`, or `<storage_path>/version_a.json`: what the InputStore reads. */
  readonly ref: string;
  readonly sha256: string;
}

/**
 * Where a result's versions came from (by-reference and seed-layout tasks), so the overlay can
 * read them again and draw the unchanged objects; inline tasks' versions are not kept.
 */
export interface VersionRefs {
  readonly a: VersionRef;
  readonly b: VersionRef;
}

/** A processed pair, durable once `writeBatch` resolves. */
export interface ResultRecord {
  readonly taskKey: string;
  readonly jobId: string | null;
  readonly drawingId: string;
  readonly changes: ChangeSet;
  /** Null (or absent) for inline tasks. */
  readonly versions?: VersionRefs | null;
  readonly counts: ChangeCounts;
  /** received → durable, in ms (measured just before the write). */
  readonly processingTimeMs: number;
  /** published or `uploaded_at` → durable, in ms. */
  readonly endToEndMs: number;
  readonly createdAt: Date;
  readonly replicaId: string;
}

/** A task that ended without a result: malformed input, or retries exhausted. */
export interface FailureRecord {
  readonly taskKey: string;
  readonly jobId: string | null;
  readonly drawingId: string | null;
  readonly kind: 'malformed' | 'failed';
  readonly code: string;
  readonly message: string;
  readonly createdAt: Date;
  readonly replicaId: string;
}

export interface SinkBatch {
  readonly results: readonly ResultRecord[];
  readonly failures: readonly FailureRecord[];
  readonly anomalies: readonly Anomaly[];
}

/** Why a sink refused an item for good: writing it again would fail the same way. */
export interface Rejection {
  /** Low-cardinality, e.g. `row_too_large`, `invalid_row`. */
  readonly code: string;
  readonly message: string;
}

/**
 * The per-item answer of a write. Each task key of the batch is either durable (in `fresh` when
 * written for the first time, absent when a replay), or rejected (permanent, with the reason);
 * an unavailable store is the third outcome, and it applies to the whole batch: `writeBatch`
 * rejects with a TransientError, and a resend of the same batch is idempotent.
 */
export interface WriteReceipt {
  /** Task keys of results and failures written for the first time (replays are absent). */
  readonly fresh: ReadonlySet<string>;
  /** Task keys the sink refused for good, with the reason; nothing of theirs is counted. */
  readonly rejected?: ReadonlyMap<string, Rejection>;
}

export interface HourlyCounts extends ChangeCounts {
  readonly pairs: number;
  readonly failed: number;
  readonly malformed: number;
}

/** One replica's aggregate for one hour, in a form several replicas' rollups merge from. */
export interface Rollup {
  readonly replicaId: string;
  /** Start of the UTC hour. */
  readonly hourStart: Date;
  readonly counts: HourlyCounts;
  /** hdr-histogram-js `encodeIntoCompressedBase64` of processing latency in µs. */
  readonly processingHistogram: string;
  /** Same, end-to-end latency in µs. */
  readonly endToEndHistogram: string;
  readonly updatedAt: Date;
}

export interface JobRecord {
  readonly jobId: string;
  readonly tasksCreated: number;
  readonly createdAt: Date;
}

/**
 * The client's own `task_id`s among the tasks a job enqueued. Another request may enqueue the
 * same key at the same moment, and then one delivery's outcome answers for both jobs; a key the
 * service made up (`<job_id>:<index>`) is never shared, and its outcome carries the job's id.
 */
export interface JobTasks {
  readonly jobId: string;
  /** The job's `createdAt`. */
  readonly createdAt: Date;
  readonly taskKeys: readonly string[];
}

export interface JobStatus {
  readonly job_id: string;
  readonly tasks_created: number;
  readonly completed: number;
  readonly failed: number;
  readonly pending: number;
}

/** A stored result as `GET /changes` returns it (design.md, HTTP API). */
export interface StoredChange {
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly added: ChangeSet['added'];
  readonly removed: ChangeSet['removed'];
  readonly moved: ChangeSet['moved'];
  readonly modified: ChangeSet['modified'];
  /** Only on results geometry matching ran for (src/domain/match.ts). */
  readonly renamed?: ChangeSet['renamed'];
  readonly ambiguous?: ChangeSet['ambiguous'];
  readonly summary: string;
  readonly processing_time_ms: number;
  readonly created_at: string;
  /** Where the versions came from, when kept; for the overlay only, never served by `GET /changes`. */
  readonly versions?: VersionRefs;
}

/** One drawing as `GET /drawings` lists it: its latest result's time, job and counts per kind. */
export interface DrawingSummary {
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly latest_result_at: string;
  readonly counts: ChangeCounts;
}

/** Where a page of drawings ends: the next page holds drawings strictly after it, newest first. */
export interface DrawingCursor {
  readonly latestAt: Date;
  readonly drawingId: string;
}

export interface ResultSink {
  readonly name: string;
  /**
   * Durably writes results, failures and anomalies. Idempotent by task key (and anomaly id): a
   * replayed record is not written twice and is absent from `fresh`. An item the store refuses
   * for good is named in `rejected`, and the rest is written. Rejects with a TransientError when
   * the store is unavailable; nothing in the batch may then be acked. Never keeps an item to
   * re-send it behind later writes.
   */
  writeBatch(batch: SinkBatch): Promise<WriteReceipt>;
  /** Upserts this replica's rollups, keyed by (replicaId, hourStart). */
  writeRollups(rollups: readonly Rollup[]): Promise<void>;
  /** Resolves once everything accepted so far is durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Resolves when writable; rejects with the reason otherwise (readiness probe). */
  healthcheck(): Promise<void>;
}

/** One stored outcome as the aggregator records it; used to rebuild windows after a restart. */
export type MetricSample = (
  | {
      readonly kind: 'result';
      readonly at: Date;
      readonly processingTimeMs: number;
      readonly endToEndMs: number;
      readonly counts: ChangeCounts;
    }
  | { readonly kind: 'failure'; readonly at: Date; readonly malformed: boolean }
) & {
  /** The task it belongs to, where the store keeps it: a replay after the restore is not counted again. */
  readonly taskKey?: string;
  /** Its drawing, where the store keeps it: rebuilds the drawing's spike baseline after a restart. */
  readonly drawingId?: string;
};

/** The read side, shared by every replica. */
export interface ResultStore {
  /** Newest first, at most `limit`. */
  changes(drawingId: string, limit: number): Promise<StoredChange[]>;
  /**
   * Drawings by their latest result, newest first (ties by drawing id, descending), at most
   * `limit`, starting after `after` (keyset paging, so a page stays right while results arrive).
   */
  drawings(limit: number, after: DrawingCursor | null): Promise<DrawingSummary[]>;
  createJob(job: JobRecord): Promise<void>;
  /** Records the client's task keys of a job, once they are enqueued; idempotent. */
  recordJobTasks(tasks: JobTasks): Promise<void>;
  /** Which of `taskKeys` an earlier job enqueued (as `recordJobTasks` recorded). */
  knownTaskKeys(taskKeys: readonly string[]): Promise<ReadonlySet<string>>;
  /**
   * Counts each task of the job once by its outcome, whichever delivery wrote it: the tasks whose
   * outcome carries the job's id, and the job's recorded task keys.
   */
  job(jobId: string): Promise<JobStatus | null>;
  /** Every replica's rollups for hours starting at or after `since`. */
  rollups(since: Date): Promise<Rollup[]>;
  /** Newest first, at most `limit`; only those of `severity` when given. */
  anomalies(since: Date, limit: number, severity?: Severity): Promise<Anomaly[]>;
  /** Number of malformed_input and missing_upload anomalies since. */
  dataQualityIssues(since: Date): Promise<number>;
  /**
   * Every result and failure that replica `replicaId` stored since `since`, oldest first. Offered
   * by stores whose rows are written in the same transaction as the results (the embedded store),
   * so a restarted replica rebuilds its windows exactly; others restore from their own rollups.
   */
  samples?(since: Date, replicaId: string): AsyncIterable<MetricSample>;
  /**
   * Replica `replicaId`'s outcomes stored in [since, before), aggregated per hour in the store's
   * query (sinks/hourly-outcomes.ts), each task once: what a restart rebuilds its windows from
   * without reading every row. A task's newest row decides, as in `samples`.
   */
  hourlyOutcomes?(since: Date, before: Date, replicaId: string): Promise<HourlyOutcome[]>;
  /**
   * Each drawing's last `perDrawing` results of replica `replicaId` stored in [since, before),
   * oldest first within a drawing: its spike baseline after a restart. Stores without it rebuild
   * baselines from `samples`.
   */
  baselineSamples?(since: Date, before: Date, replicaId: string, perDrawing: number): AsyncIterable<MetricSample>;
}

/** The role a part plays in a composite sink (see sinks/fan-out.ts). */
export type SinkPartRole = 'records' | 'freshness' | 'telemetry';

/**
 * Told of every write of a part of a composite sink: its name and role, how long it took,
 * whether it held. Only the records and freshness parts' failures fail a batch; a telemetry
 * part's never do.
 */
export type PartWriteListener = (part: string, latencyMs: number, ok: boolean, role: SinkPartRole) => void;

/** One hour of one replica's stored outcomes. */
export interface HourlyOutcome {
  /** Start of the UTC hour. */
  readonly hourStart: Date;
  readonly counts: HourlyCounts;
  /** Processing latency: [lowest value of the HDR bucket in µs, how many rows fell in it]. */
  readonly processing: readonly (readonly [number, number])[];
  readonly endToEnd: readonly (readonly [number, number])[];
}

/**
 * `sink` with its `writeBatch` replaced and every other member (store reads, stats, parts) kept,
 * for decorators that watch writes of a composite sink such as the GCP one.
 *
 * @example
 * const counted = withWriteBatch(sink, async (batch) => { const r = await sink.writeBatch(batch); count(r); return r; });
 */
export function withWriteBatch<S extends ResultSink>(sink: S, writeBatch: ResultSink['writeBatch']): S {
  return new Proxy(sink, {
    get(target, prop) {
      if (prop === 'writeBatch') return writeBatch;
      const value = Reflect.get(target, prop);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
