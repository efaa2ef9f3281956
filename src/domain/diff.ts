/**
 * The change detection itself (design.md, Change semantics): pure, one pass over each version
 * with maps by id, and in the seed's order so results compare equal to the seed's.
 */
import { describeAdded, describeModified, describeMoved, describeRemoved, summarize } from './describe.js';
import { duplicateId, indexVersion, unmeasurableChange, validateObject, versionArray } from './drawing.js';
import { describeRenamed, looksReidentified, matchByGeometry, matchSentence, reidentifiedName } from './match.js';
import type {
  AddedItem,
  AmbiguousGroup,
  ChangeCounts,
  ChangeSet,
  Direction,
  DrawingObject,
  DrawingVersion,
  MatchMode,
  ModifiedField,
  ModifiedItem,
  MovedItem,
  RemovedItem,
  RenamedItem,
} from './types.js';

/** The seed's hard-coded threshold, and MOVE_TOLERANCE's default. */
export const DEFAULT_TOLERANCE = 0.1;
/** MATCH_RADIUS's default: how far an object may move and still be paired by geometry. */
export const DEFAULT_MATCH_RADIUS = 10;

export interface DiffOptions {
  /** A coordinate or size must change by more than this to count; default 0.1. */
  readonly tolerance?: number;
  /** `id` (default: the seed's matching only), `geometry` or `auto` (src/domain/match.ts). */
  readonly match?: MatchMode;
  /** Rule 2's reach for geometry matching; default 10. */
  readonly radius?: number;
}

/**
 * Compares two validated versions (ids unique within each, as `validateVersion` guarantees).
 * Added items come in B's order; removed, moved and modified items in A's order.
 *
 * @throws RangeError if `tolerance` is negative or not finite (a programming error, not bad input).
 *
 * @example
 * const a = [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1, height: 2 }];
 * const b = [{ id: 'D1', type: 'door', x: 2, y: 0, width: 1, height: 2 }];
 * diffVersions(a, b).moved[0]?.description; // 'D1 moved 2.0 units east'
 */
export function diffVersions(a: DrawingVersion, b: DrawingVersion, options: DiffOptions = {}): ChangeSet {
  const tol = toleranceOf(options);
  const indexById = new Map<string, number>();
  for (let i = 0; i < a.length; i++) indexById.set((a[i] as DrawingObject).id, i);
  return diffAgainst(a, indexById, b, false, '', tol, matchingOf(options));
}

/**
 * Validates both raw versions and diffs them in the same pass: version A is validated and indexed
 * by id, then each object of B is validated and matched against A as it is read, so one map
 * serves the duplicate checks and the matching. The fast path for the pipeline.
 *
 * @throws MalformedInputError (`malformed_version`) naming the drawing, version, object and field;
 *   RangeError for a bad `tolerance`.
 *
 * @example
 * validateAndDiff(JSON.parse(a), JSON.parse(b), 'D7', { tolerance: 0.1 });
 */
export function validateAndDiff(rawA: unknown, rawB: unknown, drawingId: string, options: DiffOptions = {}): ChangeSet {
  const tol = toleranceOf(options);
  const matching = matchingOf(options);
  const a = indexVersion(rawA, drawingId, 'a');
  return diffAgainst(a.objects, a.indexById, versionArray(rawB, drawingId, 'b'), true, drawingId, tol, matching);
}

/**
 * How many items of each kind a change set holds.
 *
 * @example
 * countChanges(changes); // { added: 1, removed: 0, moved: 2, modified: 0 }
 */
export function countChanges(c: ChangeSet): ChangeCounts {
  return {
    added: c.added.length,
    removed: c.removed.length,
    moved: c.moved.length,
    modified: c.modified.length,
    // Only where geometry matching ran: id matching's counts keep their four kinds.
    ...(c.renamed === undefined ? {} : { renamed: c.renamed.length }),
  };
}

interface Matching {
  readonly mode: MatchMode;
  readonly radius: number;
}

function matchingOf(options: DiffOptions): Matching {
  const mode = options.match ?? 'id';
  const radius = options.radius ?? DEFAULT_MATCH_RADIUS;
  if (typeof radius !== 'number' || !Number.isFinite(radius) || radius < 0) {
    throw new RangeError(`radius must be a finite number of at least 0, got ${String(radius)}`);
  }
  return { mode, radius };
}

function toleranceOf(options: DiffOptions): number {
  const tol = options.tolerance ?? DEFAULT_TOLERANCE;
  if (typeof tol !== 'number' || !Number.isFinite(tol) || tol < 0) {
    throw new RangeError(`tolerance must be a finite number of at least 0, got ${String(tol)}`);
  }
  return tol;
}

/**
 * Reads B once against A's index: each B object is either A's partner (matched by id) or added.
 * A partner seen twice, or an added id seen twice, is a duplicate in B. `validate` says whether
 * B's objects still need checking (raw JSON) or are already validated.
 */
function diffAgainst(
  a: readonly DrawingObject[],
  aIndexById: ReadonlyMap<string, number>,
  b: readonly unknown[],
  validate: boolean,
  drawingId: string,
  tol: number,
  matching: Matching = { mode: 'id', radius: DEFAULT_MATCH_RADIUS },
): ChangeSet {
  // When geometry may pair them, the unmatched objects are kept and their items built only after
  // matching: a re-export leaves every object unmatched by id, and most of those items would be
  // thrown away.
  const keepObjects = matching.mode !== 'id';
  const addedObjects: DrawingObject[] = [];
  const removedObjects: DrawingObject[] = [];
  const added: AddedItem[] = [];
  const removed: RemovedItem[] = [];
  const moved: MovedItem[] = [];
  const modified: ModifiedItem[] = [];
  const partner: (DrawingObject | undefined)[] = new Array<DrawingObject | undefined>(a.length).fill(undefined);
  let addedIndexById: Map<string, number> | undefined;

  const nB = b.length;
  for (let j = 0; j < nB; j++) {
    const o = validate ? validateObject(b[j], drawingId, 'b', j) : (b[j] as DrawingObject);
    const i = aIndexById.get(o.id);
    if (i === undefined) {
      addedIndexById ??= new Map();
      const first = addedIndexById.get(o.id);
      if (first !== undefined) throw duplicateId(drawingId, 'b', j, o.id, first);
      addedIndexById.set(o.id, j);
      if (keepObjects) addedObjects.push(o);
      else added.push(addedItem(o));
    } else {
      if (partner[i] !== undefined) throw duplicateId(drawingId, 'b', j, o.id, firstIndexOf(b, o.id));
      partner[i] = o;
    }
  }

  const nA = a.length;
  for (let i = 0; i < nA; i++) {
    const from = a[i] as DrawingObject;
    const to = partner[i];
    if (to === undefined) {
      if (keepObjects) removedObjects.push(from);
      else removed.push(removedItem(from));
      continue;
    }
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const dw = to.width - from.width;
    const dh = to.height - from.height;
    // x - x is 0 for every finite x and NaN for ±Infinity: one comparison for the four differences.
    if (dx - dx + (dy - dy) + (dw - dw) + (dh - dh) !== 0) throw overflowIn(drawingId, b, from, to);
    if (Math.abs(dx) > tol || Math.abs(dy) > tol) moved.push(movedItem(from, to, dx, dy));
    if (from.type !== to.type || Math.abs(dw) > tol || Math.abs(dh) > tol) {
      modified.push(modifiedItem(from, to, tol));
    }
  }

  if (keepObjects && (matching.mode === 'geometry' || looksReidentified(removedObjects.length, nA))) {
    return withGeometry(moved, modified, addedObjects, removedObjects, tol, matching.radius);
  }
  if (keepObjects) {
    for (const o of addedObjects) added.push(addedItem(o));
    for (const o of removedObjects) removed.push(removedItem(o));
  }
  return { added, removed, moved, modified, summary: summarize(added, removed, moved, modified) };
}

/**
 * Pairs what ids left unmatched by geometry: a pair goes where an id-matched one would (moved,
 * modified, or neither: renamed), carrying `previous_id`; ties stay added and removed.
 */
function withGeometry(
  moved: MovedItem[],
  modified: ModifiedItem[],
  addedObjects: readonly DrawingObject[],
  removedObjects: readonly DrawingObject[],
  tol: number,
  radius: number,
): ChangeSet {
  const m = matchByGeometry(removedObjects, addedObjects, { tolerance: tol, radius });
  const renamed: RenamedItem[] = [];
  const removed: RemovedItem[] = [];
  for (let k = 0; k < removedObjects.length; k++) {
    const j = m.partnerOfRemoved[k] as number;
    if (j < 0) {
      removed.push(removedItem(removedObjects[k] as DrawingObject));
      continue;
    }
    const from = removedObjects[k] as DrawingObject;
    const to = addedObjects[j] as DrawingObject;
    const dx = to.x - from.x;
    const dy = to.y - from.y;
    const isMoved = Math.abs(dx) > tol || Math.abs(dy) > tol;
    const isModified = Math.abs(to.width - from.width) > tol || Math.abs(to.height - from.height) > tol;
    const name = reidentifiedName(to.id, from.id);
    const byGeometry = { previous_id: from.id, matched_by: 'geometry' as const };
    if (isMoved) {
      const item = movedItem(from, to, dx, dy, name);
      moved.push({ ...item, id: to.id, ...byGeometry });
    }
    if (isModified) modified.push({ ...modifiedItem(from, to, tol, name), id: to.id, ...byGeometry });
    if (!isMoved && !isModified) {
      renamed.push({ id: to.id, previous_id: from.id, type: to.type, description: describeRenamed(from.id, to.id, to.type) });
    }
  }
  const added: AddedItem[] = [];
  for (let j = 0; j < addedObjects.length; j++) if (m.pairedAdded[j] === 0) added.push(addedItem(addedObjects[j] as DrawingObject));
  const ambiguous: AmbiguousGroup[] = [...m.ambiguous];
  const base = summarize(added, removed, moved, modified);
  const sentence = matchSentence(m.pairs, renamed.length, ambiguous);
  return { added, removed, moved, modified, renamed, ambiguous, summary: sentence === '' ? base : `${base} ${sentence}` };
}

function addedItem(o: DrawingObject): AddedItem {
  return { id: o.id, type: o.type, to: { x: o.x, y: o.y, width: o.width, height: o.height }, description: describeAdded(o.id, o.type, o.x, o.y) };
}

function removedItem(o: DrawingObject): RemovedItem {
  return { id: o.id, type: o.type, from: { x: o.x, y: o.y, width: o.width, height: o.height }, description: describeRemoved(o.id, o.type) };
}

/** The first of the four differences that overflows, named by field and B's object index. */
function overflowIn(drawingId: string, b: readonly unknown[], from: DrawingObject, to: DrawingObject): Error {
  const field = (['x', 'y', 'width', 'height'] as const).find((f) => !Number.isFinite(to[f] - from[f])) ?? 'x';
  return unmeasurableChange(drawingId, firstIndexOf(b, to.id), field, from[field], to[field]);
}

/** Where an id first appears in B: only needed for the error message, so found by a scan. */
function firstIndexOf(b: readonly unknown[], id: string): number {
  return b.findIndex((o) => (o as { id?: unknown } | null)?.id === id);
}

function movedItem(from: DrawingObject, to: DrawingObject, dx: number, dy: number, name = from.id): MovedItem {
  // As in the seed: the larger axis decides, and a tie goes to north/south; y grows north.
  let direction: Direction;
  let distance: number;
  if (Math.abs(dx) > Math.abs(dy)) {
    direction = dx > 0 ? 'east' : 'west';
    distance = Math.abs(dx);
  } else {
    direction = dy > 0 ? 'north' : 'south';
    distance = Math.abs(dy);
  }
  return {
    id: from.id,
    type: to.type,
    from: { x: from.x, y: from.y },
    to: { x: to.x, y: to.y },
    dx,
    dy,
    direction,
    distance,
    description: describeMoved(name, distance, direction),
  };
}

function modifiedItem(from: DrawingObject, to: DrawingObject, tol: number, name = from.id): ModifiedItem {
  const fields: ModifiedField[] = [];
  if (from.type !== to.type) fields.push('type');
  if (Math.abs(to.width - from.width) > tol) fields.push('width');
  if (Math.abs(to.height - from.height) > tol) fields.push('height');
  const fromShape = { type: from.type, width: from.width, height: from.height };
  const toShape = { type: to.type, width: to.width, height: to.height };
  return {
    id: from.id,
    type: to.type,
    from: fromShape,
    to: toShape,
    fields,
    description: describeModified(name, fromShape, toShape, fields),
  };
}
