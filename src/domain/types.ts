/**
 * The vocabulary every stage shares: drawing objects, tasks, change sets and the records the
 * sinks persist. Pure types, no I/O, so the domain, the pipeline and every sink agree on one shape.
 */

/** One object of a drawing version after validation: numbers are finite, strings non-empty. */
export interface DrawingObject {
  readonly id: string;
  readonly type: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export type DrawingVersion = readonly DrawingObject[];

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface Geometry extends Point {
  readonly width: number;
  readonly height: number;
}

export type Direction = 'north' | 'south' | 'east' | 'west';

export interface AddedItem {
  readonly id: string;
  readonly type: string;
  readonly to: Geometry;
  /** The seed's wording: `A3 (door at 4.0,2.5)`. */
  readonly description: string;
}

export interface RemovedItem {
  readonly id: string;
  readonly type: string;
  readonly from: Geometry;
  /** The seed's wording: `A3 (door)`. */
  readonly description: string;
}

export interface MovedItem {
  readonly id: string;
  readonly type: string;
  readonly from: Point;
  readonly to: Point;
  /** Exact `to.x - from.x` and `to.y - from.y`. */
  readonly dx: number;
  readonly dy: number;
  readonly direction: Direction;
  /** Distance along the dominant axis, as in the seed. */
  readonly distance: number;
  /** The seed's wording: `D1 moved 2.0 units east`. */
  readonly description: string;
  /** Set when geometry, not the id, paired it: its id in version A (`id` is B's). */
  readonly previous_id?: string;
  readonly matched_by?: 'geometry';
}

export type ModifiedField = 'type' | 'width' | 'height';

export interface Shape {
  readonly type: string;
  readonly width: number;
  readonly height: number;
}

export interface ModifiedItem {
  readonly id: string;
  /** The type in version B. */
  readonly type: string;
  readonly from: Shape;
  readonly to: Shape;
  readonly fields: readonly ModifiedField[];
  /** e.g. `D1 modified: type door → window, width 1.0 → 2.0`. */
  readonly description: string;
  /** Set when geometry, not the id, paired it: its id in version A (`id` is B's). */
  readonly previous_id?: string;
  readonly matched_by?: 'geometry';
}

/** An object that only changed id (src/domain/match.ts, rule 1). */
export interface RenamedItem {
  /** Its id in version B. */
  readonly id: string;
  /** Its id in version A. */
  readonly previous_id: string;
  readonly type: string;
  /** e.g. `W3 is now W9 (window)`. */
  readonly description: string;
}

/** Objects whose best partners were equally good: none was guessed, they stay removed and added. */
export interface AmbiguousGroup {
  readonly type: string;
  /** Candidates in version A (listed in `removed`), sorted. */
  readonly previous_ids: readonly string[];
  /** Candidates in version B (listed in `added`), sorted. */
  readonly ids: readonly string[];
  readonly description: string;
}

/**
 * How objects are paired: `id` only (the seed), `geometry` (then what ids leave unmatched by
 * geometry), or `auto` (geometry only when more than half of A's ids are absent from B).
 */
export const MATCH_MODES = ['id', 'geometry', 'auto'] as const;
export type MatchMode = (typeof MATCH_MODES)[number];

export interface ChangeSet {
  readonly added: readonly AddedItem[];
  readonly removed: readonly RemovedItem[];
  readonly moved: readonly MovedItem[];
  readonly modified: readonly ModifiedItem[];
  /**
   * Present only when geometry matching ran for the pair (possibly empty): absent, the result has
   * exactly the seed's shape.
   */
  readonly renamed?: readonly RenamedItem[];
  readonly ambiguous?: readonly AmbiguousGroup[];
  /** One paragraph; `No changes detected.` when nothing changed. */
  readonly summary: string;
}

export interface ChangeCounts {
  readonly added: number;
  readonly removed: number;
  readonly moved: number;
  readonly modified: number;
  /**
   * Objects that only changed id (geometry matching): not a change of the drawing, so the spike
   * detector leaves them out. Absent counts as 0 (records written before it existed).
   */
  readonly renamed?: number;
}

/** Where the two versions of a task come from (design.md, Input). */
export type VersionSource =
  /** Already-parsed JSON values (an array, or a string that held one, parsed by decode). */
  | { readonly kind: 'inline'; readonly a: unknown; readonly b: unknown }
  /** `gs://bucket/path.json`, or in local mode a path inside INPUT_DIR. */
  | { readonly kind: 'uri'; readonly a: string; readonly b: string }
  /** Seed layout: a folder holding `version_a.json` and `version_b.json`. */
  | { readonly kind: 'folder'; readonly path: string };

/** A decoded, validated task: everything the pipeline needs to load and diff one pair. */
export interface Task {
  /** Idempotency key: `task_id` when the producer set one, else a hash of the message body. */
  readonly taskKey: string;
  readonly jobId: string | null;
  readonly drawingId: string;
  readonly versions: VersionSource;
  readonly uploadedAt: Date | null;
  /** The task's `"match"`, overriding MATCH_FALLBACK for this pair; absent when not given. */
  readonly match?: MatchMode;
}

export const ANOMALY_TYPES = [
  'spike_detected',
  'missing_upload',
  'delayed_upload',
  'processing_error',
  'malformed_input',
] as const;
export type AnomalyType = (typeof ANOMALY_TYPES)[number];

export type Severity = 'low' | 'medium' | 'high';

export interface Anomaly {
  /** Deterministic where the cause is (e.g. `malformed_input:<taskKey>`), so a replay stores it once. */
  readonly id: string;
  /** null for system-wide anomalies. */
  readonly drawingId: string | null;
  readonly type: AnomalyType;
  readonly severity: Severity;
  readonly details: Readonly<Record<string, unknown>>;
  readonly timestamp: Date;
}
