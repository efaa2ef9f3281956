/**
 * Matching by geometry, for exports that regenerate ids (issue 13): pairs what id matching left
 * as removed (A) and added (B), one-to-one, by three rules in order, and reports ties instead of
 * guessing. Pure and independent of the order of objects in either version: candidates come from
 * a spatial hash (no all-pairs scan), and pairs are taken closest first with ties broken by ids.
 *
 * The rules (an object's place is its `x`, `y`, as the seed compares them; `tol` is
 * MOVE_TOLERANCE, `radius` MATCH_RADIUS; always the same `type`):
 *   1. same place and size within tol: the same object under a new id (renamed);
 *   2. same size within tol, places at most `radius` apart: the same object, moved;
 *   3. same place within tol, size changed: the same object, modified.
 * Within a rule the closer pair (Euclidean over dx, dy, dwidth, dheight) is taken first. When a
 * pair's best partner has another free candidate within `tol` of as good, none is taken: the
 * objects linked by such near-equal candidates form one ambiguous group, left removed and added,
 * and they take no part in the later rules either.
 */
import type { AmbiguousGroup, DrawingObject, MatchMode } from './types.js';

export interface MatchOptions {
  readonly tolerance: number;
  readonly radius: number;
}

/** What geometry matching decided, by index into the `removed` and `added` arrays it was given. */
export interface GeometryMatch {
  /** For each removed object, the index of its partner among the added ones, or -1. */
  readonly partnerOfRemoved: Int32Array;
  /** 1 where an added object was paired. */
  readonly pairedAdded: Uint8Array;
  readonly pairs: number;
  /** Sorted by each group's first previous id. */
  readonly ambiguous: readonly AmbiguousGroup[];
}

const FREE = 0;
const PAIRED = 1;
const AMBIGUOUS = 2;

/** Ids listed in one ambiguous group's description before "and N more". */
const LISTED_IDS = 3;

/**
 * Pairs removed objects with added ones by geometry.
 *
 * @example
 * const m = matchByGeometry(removedObjects, addedObjects, { tolerance: 0.1, radius: 10 });
 * m.partnerOfRemoved[0]; // index into addedObjects, or -1
 */
export function matchByGeometry(
  removed: readonly DrawingObject[],
  added: readonly DrawingObject[],
  options: MatchOptions,
): GeometryMatch {
  const tol = options.tolerance;
  const radius = options.radius;
  const nA = removed.length;
  const nB = added.length;
  const partnerOfRemoved = new Int32Array(nA).fill(-1);
  const pairedAdded = new Uint8Array(nB);
  if (nA === 0 || nB === 0) return { partnerOfRemoved, pairedAdded, pairs: 0, ambiguous: [] };

  const edges = candidateEdges(removed, added, tol, radius);
  const stateA = new Uint8Array(nA);
  const stateB = new Uint8Array(nB);
  const groups: AmbiguousGroup[] = [];
  let pairs = 0;

  for (const rule of [1, 2, 3] as const) {
    const ruleEdges = edges.ofRule(rule);
    if (ruleEdges.length === 0) continue;
    const { ea, eb, ed } = edges;
    ruleEdges.sort((x, y) => {
      const byDistance = (ed[x] as number) - (ed[y] as number);
      if (byDistance !== 0) return byDistance;
      return (
        compareIds((removed[ea[x] as number] as DrawingObject).id, (removed[ea[y] as number] as DrawingObject).id) ||
        compareIds((added[eb[x] as number] as DrawingObject).id, (added[eb[y] as number] as DrawingObject).id)
      );
    });
    const byA = adjacency(ruleEdges, ea, nA);
    const byB = adjacency(ruleEdges, eb, nB);

    for (const e of ruleEdges) {
      const a = ea[e] as number;
      const b = eb[e] as number;
      if (stateA[a] !== FREE || stateB[b] !== FREE) continue;
      const limit = (ed[e] as number) + tol;
      if (!contested(e, a, byA, eb, stateB, ed, limit) && !contested(e, b, byB, ea, stateA, ed, limit)) {
        stateA[a] = PAIRED;
        stateB[b] = PAIRED;
        partnerOfRemoved[a] = b;
        pairedAdded[b] = 1;
        pairs++;
        continue;
      }
      groups.push(ambiguousGroup(a, b, limit, byA, byB, ea, eb, ed, stateA, stateB, removed, added));
    }
  }
  groups.sort((x, y) => compareIds(x.previous_ids[0] as string, y.previous_ids[0] as string));
  return { partnerOfRemoved, pairedAdded, pairs, ambiguous: groups };
}

/**
 * The mode for one pair: the task's `"match"` when it has one, else MATCH_FALLBACK (`none` is
 * id matching alone).
 *
 * @example
 * matchModeFor(task.match, config.matchFallback); // 'id' | 'geometry' | 'auto'
 */
export function matchModeFor(taskMatch: MatchMode | undefined, fallback: 'none' | 'geometry' | 'auto'): MatchMode {
  return taskMatch ?? (fallback === 'none' ? 'id' : fallback);
}

/**
 * `auto` mode's test: the pair looks re-identified when more than half of A's ids are absent
 * from B.
 */
export function looksReidentified(removedCount: number, aCount: number): boolean {
  return removedCount * 2 > aCount;
}

/** The one-line description of an object that only changed id. */
export function describeRenamed(previousId: string, id: string, type: string): string {
  return `${previousId} is now ${id} (${type})`;
}

/** The name a geometry-matched item goes by in its description: `W9 (was W3)`. */
export function reidentifiedName(id: string, previousId: string): string {
  return `${id} (was ${previousId})`;
}

/**
 * The summary's sentence on geometry matching, appended after the seed's paragraph; empty when
 * geometry paired nothing and found no tie.
 */
export function matchSentence(reidentified: number, renamed: number, ambiguous: readonly AmbiguousGroup[]): string {
  const parts: string[] = [];
  if (reidentified > 0) {
    parts.push(`${reidentified} object(s) re-identified by geometry (${renamed} only renamed).`);
  }
  if (ambiguous.length > 0) {
    let objects = 0;
    for (const g of ambiguous) objects += g.previous_ids.length + g.ids.length;
    const examples = ambiguous.slice(0, 3).map((g) => g.description).join('; ');
    const more = ambiguous.length > 3 ? `; and ${ambiguous.length - 3} more` : '';
    parts.push(`${objects} object(s) in ${ambiguous.length} ambiguous group(s) left as removed and added: ${examples}${more}.`);
  }
  return parts.join(' ');
}

function compareIds(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Candidate pairs, each classified into the one rule it can satisfy. */
interface Edges {
  readonly ea: number[];
  readonly eb: number[];
  readonly ed: number[];
  ofRule(rule: 1 | 2 | 3): number[];
}

/**
 * Every same-type pair close enough for some rule, found through a hash of B's objects by type and
 * grid cell. A cell is as wide as the farthest reach of a rule, so the 3×3 cells around an
 * object hold every candidate. Hash collisions only add candidates, which the exact tests drop.
 */
function candidateEdges(removed: readonly DrawingObject[], added: readonly DrawingObject[], tol: number, radius: number): Edges {
  const reach = Math.max(radius, tol);
  const cell = reach > 0 ? reach : 1;
  const grid = new Map<string, Map<number, number[]>>();
  for (let j = 0; j < added.length; j++) {
    const o = added[j] as DrawingObject;
    let cells = grid.get(o.type);
    if (cells === undefined) grid.set(o.type, (cells = new Map()));
    const key = cellKey(Math.floor(o.x / cell), Math.floor(o.y / cell));
    const bucket = cells.get(key);
    if (bucket === undefined) cells.set(key, [j]);
    else bucket.push(j);
  }

  const ea: number[] = [];
  const eb: number[] = [];
  const ed: number[] = [];
  const er: number[] = [];
  const keys: number[] = [];
  for (let i = 0; i < removed.length; i++) {
    const a = removed[i] as DrawingObject;
    const cells = grid.get(a.type);
    if (cells === undefined) continue;
    const cx = Math.floor(a.x / cell);
    const cy = Math.floor(a.y / cell);
    keys.length = 0;
    for (let ox = -1; ox <= 1; ox++) {
      for (let oy = -1; oy <= 1; oy++) {
        // Far from the origin cx + 1 may equal cx: visit each distinct cell once.
        const key = cellKey(cx + ox, cy + oy);
        if (!keys.includes(key)) keys.push(key);
      }
    }
    for (const key of keys) {
      const bucket = cells.get(key);
      if (bucket === undefined) continue;
      for (const j of bucket) {
        const b = added[j] as DrawingObject;
        if (b.type !== a.type) continue;
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const dw = b.width - a.width;
        const dh = b.height - a.height;
        const samePlace = Math.abs(dx) <= tol && Math.abs(dy) <= tol;
        const sameSize = Math.abs(dw) <= tol && Math.abs(dh) <= tol;
        let rule: 1 | 2 | 3;
        if (samePlace && sameSize) rule = 1;
        else if (sameSize && Math.hypot(dx, dy) <= radius) rule = 2;
        else if (samePlace) rule = 3;
        else continue;
        ea.push(i);
        eb.push(j);
        ed.push(Math.sqrt(dx * dx + dy * dy + dw * dw + dh * dh));
        er.push(rule);
      }
    }
  }
  return {
    ea,
    eb,
    ed,
    ofRule(rule) {
      const out: number[] = [];
      for (let e = 0; e < er.length; e++) if (er[e] === rule) out.push(e);
      return out;
    },
  };
}

/** Any 32-bit mix of the two cell coordinates will do: collisions are filtered exactly. */
function cellKey(cx: number, cy: number): number {
  return (Math.imul(cx | 0, 73856093) ^ Math.imul(cy | 0, 19349663)) | 0;
}

/** One rule's edges of each object, as offsets into a flat list (compressed rows). */
interface Adjacency {
  readonly start: Int32Array;
  readonly edges: Int32Array;
}

function adjacency(ruleEdges: readonly number[], end: readonly number[], n: number): Adjacency {
  const start = new Int32Array(n + 1);
  for (const e of ruleEdges) {
    const k = (end[e] as number) + 1;
    start[k] = (start[k] as number) + 1;
  }
  for (let k = 0; k < n; k++) start[k + 1] = (start[k + 1] as number) + (start[k] as number);
  const fill = start.slice(0, n);
  const edges = new Int32Array(ruleEdges.length);
  for (const e of ruleEdges) {
    const node = end[e] as number;
    const at = fill[node] as number;
    edges[at] = e;
    fill[node] = at + 1;
  }
  return { start, edges };
}

/** Whether `node` has a free partner other than through edge `e` at most `limit` away. */
function contested(
  e: number,
  node: number,
  adj: Adjacency,
  otherEnd: readonly number[],
  otherState: Uint8Array,
  ed: readonly number[],
  limit: number,
): boolean {
  for (let k = adj.start[node] as number; k < (adj.start[node + 1] as number); k++) {
    const f = adj.edges[k] as number;
    if (f !== e && otherState[otherEnd[f] as number] === FREE && (ed[f] as number) <= limit) return true;
  }
  return false;
}

/** The tie around edge (a, b): every free object linked to it by a candidate within `limit`. */
function ambiguousGroup(
  a: number,
  b: number,
  limit: number,
  byA: Adjacency,
  byB: Adjacency,
  ea: readonly number[],
  eb: readonly number[],
  ed: readonly number[],
  stateA: Uint8Array,
  stateB: Uint8Array,
  removed: readonly DrawingObject[],
  added: readonly DrawingObject[],
): AmbiguousGroup {
  const inA = [a];
  const inB = [b];
  stateA[a] = AMBIGUOUS;
  stateB[b] = AMBIGUOUS;
  let ia = 0;
  let ib = 0;
  while (ia < inA.length || ib < inB.length) {
    for (; ia < inA.length; ia++) {
      const node = inA[ia] as number;
      for (let k = byA.start[node] as number; k < (byA.start[node + 1] as number); k++) {
        const f = byA.edges[k] as number;
        const other = eb[f] as number;
        if (stateB[other] === FREE && (ed[f] as number) <= limit) {
          stateB[other] = AMBIGUOUS;
          inB.push(other);
        }
      }
    }
    for (; ib < inB.length; ib++) {
      const node = inB[ib] as number;
      for (let k = byB.start[node] as number; k < (byB.start[node + 1] as number); k++) {
        const f = byB.edges[k] as number;
        const other = ea[f] as number;
        if (stateA[other] === FREE && (ed[f] as number) <= limit) {
          stateA[other] = AMBIGUOUS;
          inA.push(other);
        }
      }
    }
  }
  const previousIds = inA.map((i) => (removed[i] as DrawingObject).id).sort(compareIds);
  const ids = inB.map((j) => (added[j] as DrawingObject).id).sort(compareIds);
  const type = (removed[a] as DrawingObject).type;
  return {
    type,
    previous_ids: previousIds,
    ids,
    description: `${type} ${listIds(previousIds)} or ${listIds(ids)}: equally good candidates, not matched`,
  };
}

function listIds(ids: readonly string[]): string {
  const shown = ids.slice(0, LISTED_IDS).join(', ');
  return ids.length > LISTED_IDS ? `${shown} and ${ids.length - LISTED_IDS} more` : shown;
}
