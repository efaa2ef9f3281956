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

  const stateA = new Uint8Array(nA);
  const stateB = new Uint8Array(nB);
  const groups: AmbiguousGroup[] = [];
  let pairs = 0;
  const pair = (a: number, b: number): void => {
    stateA[a] = PAIRED;
    stateB[b] = PAIRED;
    partnerOfRemoved[a] = b;
    pairedAdded[b] = 1;
    pairs++;
  };

  for (const rule of [1, 2, 3] as const) {
    // Each rule's candidates are looked for among the objects still free, within its own reach:
    // a grid of unchanged, closely spaced objects is all paired by rule 1 before rule 2 would
    // see every neighbour within MATCH_RADIUS as a candidate.
    const edges = candidateEdges(removed, added, stateA, stateB, rule, tol, radius);
    const all = edges.indexes();
    if (all.length === 0) continue;
    const { ea, eb, ed, contestOnly } = edges;
    const byA = adjacency(all, ea, nA);
    const byB = adjacency(all, eb, nB);
    // An edge that is the only candidate of both its ends is taken whatever the order: nothing
    // else in this rule touches either end. In a re-export that is nearly every edge, so only the
    // rest needs sorting.
    const ruleEdges: number[] = [];
    for (const e of all) {
      const a = ea[e] as number;
      const b = eb[e] as number;
      const alone = degree(byA, a) === 1 && degree(byB, b) === 1;
      if (!alone) {
        ruleEdges.push(e);
      } else if (contestOnly[e] === 0 && stateA[a] === FREE && stateB[b] === FREE) {
        pair(a, b);
      }
    }
    ruleEdges.sort((x, y) => {
      const byDistance = (ed[x] as number) - (ed[y] as number);
      if (byDistance !== 0) return byDistance;
      return (
        compareIds((removed[ea[x] as number] as DrawingObject).id, (removed[ea[y] as number] as DrawingObject).id) ||
        compareIds((added[eb[x] as number] as DrawingObject).id, (added[eb[y] as number] as DrawingObject).id)
      );
    });

    for (const e of ruleEdges) {
      const a = ea[e] as number;
      const b = eb[e] as number;
      if (stateA[a] !== FREE || stateB[b] !== FREE || contestOnly[e] === 1) continue;
      const limit = (ed[e] as number) + tol;
      if (!contested(e, a, byA, eb, stateB, ed, limit) && !contested(e, b, byB, ea, stateA, ed, limit)) pair(a, b);
      else groups.push(ambiguousGroup(a, b, limit, byA, byB, ea, eb, ed, stateA, stateB, removed, added));
    }
  }
  groups.sort((x, y) => compareIds(x.previous_ids[0] as string, y.previous_ids[0] as string));
  return { partnerOfRemoved, pairedAdded, pairs, ambiguous: groups };
}

/** MATCH_FALLBACK: what pairs the objects ids leave unmatched, when a task names no `"match"`. */
export const MATCH_FALLBACKS = ['none', 'geometry', 'auto'] as const;
export type MatchFallback = (typeof MATCH_FALLBACKS)[number];

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

/** One rule's candidate pairs. */
interface Edges {
  readonly ea: Int32Array;
  readonly eb: Int32Array;
  readonly ed: Float64Array;
  /**
   * 1 for a rule-2 candidate just past MATCH_RADIUS (by at most tol): never paired, but it
   * contests a pair its rival would make, so two places equally far within tol, one a hair
   * inside the radius and one a hair outside, are a tie and not a confident move.
   */
  readonly contestOnly: Uint8Array;
  /** Every edge's index. */
  indexes(): number[];
}

/**
 * Every same-type pair of still-free objects that satisfies `rule` (and no earlier rule), found
 * through a hash of B's free objects by type and grid cell. A cell is as wide as the rule's
 * reach, so the cells around an object hold every candidate. Hash collisions only add
 * candidates, which the exact tests drop.
 */
function candidateEdges(
  removed: readonly DrawingObject[],
  added: readonly DrawingObject[],
  stateA: Uint8Array,
  stateB: Uint8Array,
  rule: 1 | 2 | 3,
  tol: number,
  radius: number,
): Edges {
  // Rules 1 and 3 need the same place within tol; rule 2 reaches MATCH_RADIUS, and tol past it
  // for the candidates that only contest (see Edges.contestOnly).
  const reach = rule === 2 ? Math.max(radius + tol, tol) : tol;
  const cell = reach > 0 ? reach : 1;
  // Types as small numbers, so one hash holds every type's cells; each bucket is a linked list
  // through `next`. The hash is open addressing over typed arrays: at 100,000 objects a Map's
  // sets and gets were most of the matching time.
  const typeIds = new Map<string, number>();
  const cells = new CellHash(added.length);
  const next = new Int32Array(added.length).fill(-1);
  for (let j = 0; j < added.length; j++) {
    if (stateB[j] !== FREE) continue;
    const o = added[j] as DrawingObject;
    let type = typeIds.get(o.type);
    if (type === undefined) typeIds.set(o.type, (type = typeIds.size));
    next[j] = cells.push(cellKey(Math.floor(o.x / cell), Math.floor(o.y / cell), type), j);
  }

  const edges = new EdgeList(removed.length);
  const keys: number[] = [];
  for (let i = 0; i < removed.length; i++) {
    if (stateA[i] !== FREE) continue;
    const a = removed[i] as DrawingObject;
    const type = typeIds.get(a.type);
    if (type === undefined) continue;
    // The cells the square of side 2 × reach around the object touches: 2 × 2 mostly, 3 × 3 at most.
    const cx0 = Math.floor((a.x - reach) / cell);
    const cx1 = Math.min(Math.floor((a.x + reach) / cell), cx0 + 2);
    const cy0 = Math.floor((a.y - reach) / cell);
    const cy1 = Math.min(Math.floor((a.y + reach) / cell), cy0 + 2);
    keys.length = 0;
    for (let cx = cx0; cx <= cx1; cx++) {
      for (let cy = cy0; cy <= cy1; cy++) {
        // Two cells may hash alike: visit each key once, or a candidate would be seen twice.
        const key = cellKey(cx, cy, type);
        if (!keys.includes(key)) keys.push(key);
      }
    }
    for (const key of keys) {
      for (let j = cells.first(key); j >= 0; j = next[j] as number) {
        const b = added[j] as DrawingObject;
        if (b.type !== a.type) continue;
        const dx = b.x - a.x;
        const dy = b.y - a.y;
        const dw = b.width - a.width;
        const dh = b.height - a.height;
        const samePlace = Math.abs(dx) <= tol && Math.abs(dy) <= tol;
        const sameSize = Math.abs(dw) <= tol && Math.abs(dh) <= tol;
        const apart = Math.sqrt(dx * dx + dy * dy);
        let ruleOf: 1 | 2 | 3;
        if (samePlace && sameSize) ruleOf = 1;
        else if (sameSize && apart <= radius + tol) ruleOf = 2;
        else if (samePlace) ruleOf = 3;
        else continue;
        if (ruleOf === rule) edges.add(i, j, Math.sqrt(dx * dx + dy * dy + dw * dw + dh * dh), apart > radius);
      }
    }
  }
  return edges;
}

/** Cell key → the last object pushed there (linear probing; keys are 30-bit, -1 marks empty). */
class CellHash {
  private readonly keys: Int32Array;
  private readonly heads: Int32Array;
  private readonly mask: number;

  constructor(entries: number) {
    let size = 16;
    while (size < entries * 2) size *= 2;
    this.keys = new Int32Array(size).fill(-1);
    this.heads = new Int32Array(size);
    this.mask = size - 1;
  }

  /** Makes `value` the bucket's head; returns the previous head, or -1. */
  push(key: number, value: number): number {
    let slot = key & this.mask;
    for (;;) {
      const k = this.keys[slot] as number;
      if (k === -1) {
        this.keys[slot] = key;
        this.heads[slot] = value;
        return -1;
      }
      if (k === key) {
        const previous = this.heads[slot] as number;
        this.heads[slot] = value;
        return previous;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  first(key: number): number {
    let slot = key & this.mask;
    for (;;) {
      const k = this.keys[slot] as number;
      if (k === -1) return -1;
      if (k === key) return this.heads[slot] as number;
      slot = (slot + 1) & this.mask;
    }
  }
}

/** One rule's candidate pairs in growable typed arrays: the ends and distance of each. */
class EdgeList implements Edges {
  ea: Int32Array;
  eb: Int32Array;
  ed: Float64Array;
  contestOnly: Uint8Array;
  private n = 0;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.ea = new Int32Array(c);
    this.eb = new Int32Array(c);
    this.ed = new Float64Array(c);
    this.contestOnly = new Uint8Array(c);
  }

  add(a: number, b: number, d: number, contestOnly = false): void {
    if (this.n === this.ea.length) {
      const grow = <T extends Int32Array | Float64Array | Uint8Array>(old: T, make: (n: number) => T): T => {
        const out = make(old.length * 2);
        out.set(old);
        return out;
      };
      this.ea = grow(this.ea, (n) => new Int32Array(n));
      this.eb = grow(this.eb, (n) => new Int32Array(n));
      this.ed = grow(this.ed, (n) => new Float64Array(n));
      this.contestOnly = grow(this.contestOnly, (n) => new Uint8Array(n));
    }
    this.ea[this.n] = a;
    this.eb[this.n] = b;
    this.ed[this.n] = d;
    this.contestOnly[this.n] = contestOnly ? 1 : 0;
    this.n++;
  }

  indexes(): number[] {
    const out = new Array<number>(this.n);
    for (let e = 0; e < this.n; e++) out[e] = e;
    return out;
  }
}

/**
 * Any mix of the cell coordinates and type will do, as collisions are filtered exactly; kept to 30
 * bits so V8 holds the keys as small integers, which a Map hashes several times faster.
 */
function cellKey(cx: number, cy: number, type: number): number {
  return (Math.imul(cx | 0, 73856093) ^ Math.imul(cy | 0, 19349663) ^ Math.imul(type, 83492791)) & 0x3fffffff;
}

/** One rule's edges of each object, as offsets into a flat list (compressed rows). */
interface Adjacency {
  readonly start: Int32Array;
  readonly edges: Int32Array;
}

function degree(adj: Adjacency, node: number): number {
  return (adj.start[node + 1] as number) - (adj.start[node] as number);
}

function adjacency(ruleEdges: readonly number[], end: ArrayLike<number>, n: number): Adjacency {
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
  otherEnd: ArrayLike<number>,
  otherState: Uint8Array,
  ed: ArrayLike<number>,
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
  ea: ArrayLike<number>,
  eb: ArrayLike<number>,
  ed: ArrayLike<number>,
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
