/**
 * Bounded reads of stored results for `GET /changes`: a result of 200,000 objects must not be
 * read, parsed and serialised whole on the event loop for one request. A page is the result's
 * head (summary, counts, times) and at most a given number of one kind's items; the full result
 * stays reachable page by page. The embedded store parses off the main thread
 * (`local-store/change-pages.ts`); any other store falls back to `wholeResultPages`, which reads
 * what its row holds and slices it.
 */
import type { ChangeSet } from '../src/domain/types.js';
import type { ResultStore, StoredChange } from '../src/domain/sink.js';

/** The kinds every result has. */
export const CORE_KINDS = ['added', 'removed', 'moved', 'modified'] as const;
/** The kinds a result has only where geometry matching ran (MATCH_FALLBACK): absent, not empty, otherwise. */
export const MATCH_KINDS = ['renamed', 'ambiguous'] as const;
/** Every kind a page can hold, in the order answers list them. */
export const CHANGE_KINDS = [...CORE_KINDS, ...MATCH_KINDS] as const;
export type CoreKind = (typeof CORE_KINDS)[number];
export type MatchKind = (typeof MATCH_KINDS)[number];
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** Per kind, its length; a geometry kind only where the result has it. */
export type ChangeCounts = Readonly<Record<CoreKind, number>> & Readonly<Partial<Record<MatchKind, number>>>;
export type ChangeItem = NonNullable<ChangeSet[ChangeKind]>[number];
/** A result's lists by kind, a geometry kind only where the result has it. */
export type ChangeLists<T> = Readonly<Record<CoreKind, T>> & Readonly<Partial<Record<MatchKind, T>>>;

/** One stored result without its items. `ref` names it in cursors, whatever comes after it. */
export interface ChangeHead {
  readonly ref: string;
  readonly drawing_id: string;
  readonly job_id: string | null;
  readonly summary: string;
  readonly processing_time_ms: number;
  readonly created_at: string;
  readonly counts: ChangeCounts;
}

/**
 * Some items of one kind as the UTF-8 bytes of their JSON array, serialised where they were read:
 * the server sends them as they are, so a page of a large result is never parsed or serialised
 * on the event loop (and the embedded store's worker hands the bytes over without a copy).
 */
export interface ItemsJson {
  readonly count: number;
  readonly json: Uint8Array;
}

/** The newest result: its head and the first `perKind` items of each kind. */
export interface LatestPage {
  readonly head: ChangeHead;
  readonly items: ChangeLists<ItemsJson>;
}

/** Items `offset` … `offset + limit - 1` of one kind of the result `ref`. */
export interface ItemsPage {
  readonly head: ChangeHead;
  readonly items: ItemsJson;
}

export interface ChangePages {
  /** The newest result of a drawing, or null when it has none. */
  latest(drawingId: string, perKind: number): Promise<LatestPage | null>;
  /** A page of one kind's items of one result, or null when no such result exists. */
  items(drawingId: string, ref: string, kind: ChangeKind, offset: number, limit: number): Promise<ItemsPage | null>;
  /** Heads of the newest `limit` results, newest first. */
  summaries(drawingId: string, limit: number): Promise<ChangeHead[]>;
  close(): Promise<void>;
}

/** Each list's length, for the kinds the result has. */
export function countsOf(lists: ChangeLists<readonly unknown[]>): ChangeCounts {
  return mapLists(lists, (items) => items.length);
}

const utf8 = new TextEncoder();

/** Items as the JSON bytes a page carries, in a buffer of their own (so it can be transferred). */
export function itemsJson(items: readonly ChangeItem[]): ItemsJson {
  return { count: items.length, json: utf8.encode(JSON.stringify(items)) };
}

/** `f` of each list the result has, by kind. */
export function mapLists<T, U>(lists: ChangeLists<T>, f: (list: T, kind: ChangeKind) => U): ChangeLists<U> {
  const out: Partial<Record<ChangeKind, U>> = {};
  for (const kind of CHANGE_KINDS) {
    const list = lists[kind];
    if (list !== undefined) out[kind] = f(list, kind);
  }
  return out as ChangeLists<U>;
}

/** How long `wholeResultPages` keeps the result a cursor is paging through. */
const WHOLE_RESULT_CACHE_MS = 30_000;

/**
 * Pages cut from whole results, for stores whose rows hold the result in one piece (BigQuery):
 * they read the whole result anyway, but the answer stays bounded. `ref` is the result's
 * `created_at` and job, found again among the last `searchDepth` results. The result a cursor
 * names is kept for a short while (one result, so memory stays bounded), so following `next`
 * links does not read the whole result again for every page.
 */
export function wholeResultPages(
  store: Pick<ResultStore, 'changes'>,
  searchDepth = 100,
  options: { readonly cacheMs?: number; readonly clock?: () => number } = {},
): ChangePages {
  const cacheMs = options.cacheMs ?? WHOLE_RESULT_CACHE_MS;
  const clock = options.clock ?? Date.now;
  let cached: { drawingId: string; ref: string; change: StoredChange; until: number } | null = null;
  const head = (change: StoredChange): ChangeHead => ({
    ref: `${change.created_at}|${change.job_id ?? ''}`,
    drawing_id: change.drawing_id,
    job_id: change.job_id,
    summary: change.summary,
    processing_time_ms: change.processing_time_ms,
    created_at: change.created_at,
    counts: countsOf(change),
  });
  async function find(drawingId: string, ref: string): Promise<StoredChange | null> {
    if (cached && cached.drawingId === drawingId && cached.ref === ref && clock() < cached.until) return cached.change;
    cached = null;
    const change = (await store.changes(drawingId, searchDepth)).find((c) => head(c).ref === ref) ?? null;
    if (change) cached = { drawingId, ref, change, until: clock() + cacheMs };
    return change;
  }
  return {
    async latest(drawingId, perKind) {
      const [change] = await store.changes(drawingId, 1);
      if (!change) return null;
      return { head: head(change), items: mapLists<readonly ChangeItem[], ItemsJson>(change, (list) => itemsJson(list.slice(0, perKind))) };
    },
    async items(drawingId, ref, kind, offset, limit) {
      const change = await find(drawingId, ref);
      if (!change) return null;
      return { head: head(change), items: itemsJson((change[kind] ?? []).slice(offset, offset + limit)) };
    },
    async summaries(drawingId, limit) {
      return (await store.changes(drawingId, limit)).map(head);
    },
    async close() {
      cached = null;
    },
  };
}
