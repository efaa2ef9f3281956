/**
 * Worker thread of the embedded store's change pages: it opens the database read-only, and reads
 * and parses whole results here, and sends each page's items back as JSON text, so a
 * 200,000-object result costs this thread, not the event loop that answers `/healthz` (which
 * sends the text as it is). One request at a time, and only the last parsed result is kept, so
 * its memory is bounded by one result however many clients ask at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  CHANGE_KINDS,
  CORE_KINDS,
  countsOf,
  itemsJson,
  mapLists,
  type ChangeHead,
  type ChangeItem,
  type ChangeKind,
  type ChangeLists,
  type ItemsJson,
} from '../change-pages.js';
import { errorMessage } from '../../src/domain/errors.js';

export type PagesRequest =
  | { readonly id: number; readonly op: 'latest'; readonly drawingId: string; readonly perKind: number }
  | { readonly id: number; readonly op: 'items'; readonly drawingId: string; readonly ref: string; readonly kind: ChangeKind; readonly offset: number; readonly limit: number }
  | { readonly id: number; readonly op: 'summaries'; readonly drawingId: string; readonly limit: number };

/** Sent once the thread is given up: it answers nothing more and ends. */
export type RetireRequest = { readonly op: 'retire' };

export type PagesReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly message: string };

type HeadColumns = Omit<ChangeHead, 'ref' | 'counts'> & { readonly task_key: string };
type HeadRow = HeadColumns & {
  readonly added_count: number;
  readonly removed_count: number;
  readonly moved_count: number;
  readonly modified_count: number;
  readonly renamed_count: number | null;
  readonly ambiguous_count: number | null;
};

const { file, retired } = workerData as { file: string; retired: Int32Array };

/** How long a read waits in all for a lock another connection holds. */
const BUSY_TIMEOUT_MS = 5_000;
/**
 * How long one SQLite call waits for it: the wait is taken in slices, checking between them
 * whether the thread was given up, so a retired thread is never long inside a native call (where
 * a process exit that terminates the thread can abort the whole process).
 */
const BUSY_SLICE_MS = 250;

/** Runs `call`, again while the file is locked, until BUSY_TIMEOUT_MS or the thread is given up. */
function patiently<T>(call: () => T): T {
  const started = Date.now();
  for (;;) {
    const tried = Date.now();
    try {
      return call();
    } catch (err) {
      const busy = (err as { code?: unknown }).code === 'SQLITE_BUSY';
      if (!busy || Atomics.load(retired, 0) === 1 || Date.now() - started >= BUSY_TIMEOUT_MS) throw err;
      // SQLite may answer SQLITE_BUSY at once, without its busy wait (where waiting could
      // deadlock): wait out the rest of the slice so this loop never spins. Retiring the thread
      // wakes the wait (Atomics.notify).
      const rest = BUSY_SLICE_MS - (Date.now() - tried);
      if (rest > 0) Atomics.wait(retired, 0, 0, rest);
    }
  }
}

const db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_SLICE_MS });
// Preparing reads the schema, which waits for a lock like any read.
const { newestKey, heads, whole } = patiently(() => ({
  // Only the key, from the (drawing_id, created_at) index: the row itself is read once per result.
  newestKey: db
    .prepare<[string], string>(`SELECT task_key FROM change_results WHERE drawing_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1`)
    .pluck(),
  // History heads take their counts from processing_metrics (written in the same transaction), so
  // no JSON column is parsed; renamed and ambiguous are NULL where geometry matching did not run.
  heads: db.prepare<[string, number], HeadRow>(
    `SELECT c.task_key, c.drawing_id, c.job_id, c.summary, c.processing_time_ms, c.created_at,
       coalesce(m.added_count, json_array_length(c.added)) AS added_count,
       coalesce(m.removed_count, json_array_length(c.removed)) AS removed_count,
       coalesce(m.moved_count, json_array_length(c.moved)) AS moved_count,
       coalesce(m.modified_count, json_array_length(c.modified)) AS modified_count,
       CASE WHEN c.renamed IS NULL THEN NULL ELSE coalesce(m.renamed_count, json_array_length(c.renamed)) END AS renamed_count,
       json_array_length(c.ambiguous) AS ambiguous_count
     FROM change_results c LEFT JOIN processing_metrics m ON m.task_key = c.task_key AND m.status = 'completed'
     WHERE c.drawing_id = ? ORDER BY c.created_at DESC, c.rowid DESC LIMIT ?`,
  ),
  whole: db.prepare<[string], HeadColumns & Record<ChangeKind, string | null>>(
    `SELECT task_key, drawing_id, job_id, summary, processing_time_ms, created_at, added, removed, moved, modified, renamed, ambiguous
     FROM change_results WHERE task_key = ?`,
  ),
}));

/** The last result read, whole: clients page through one result after another. */
let cached: { head: ChangeHead; lists: ChangeLists<ChangeItem[]> } | null = null;

/** A result's head and parsed lists; a stored result never changes, so its key is enough. */
function resultOf(taskKey: string): { head: ChangeHead; lists: ChangeLists<ChangeItem[]> } | null {
  if (cached?.head.ref === taskKey) return cached;
  cached = null; // let the previous result go before parsing the next
  const row = whole.get(taskKey);
  if (!row) return null;
  const parsed: Partial<Record<ChangeKind, ChangeItem[]>> = {};
  for (const kind of CHANGE_KINDS) {
    const text = row[kind];
    if (text !== null) parsed[kind] = JSON.parse(text) as ChangeItem[];
  }
  for (const kind of CORE_KINDS) parsed[kind] ??= [];
  const lists = parsed as ChangeLists<ChangeItem[]>;
  const head: ChangeHead = {
    ref: row.task_key,
    drawing_id: row.drawing_id,
    job_id: row.job_id,
    summary: row.summary,
    processing_time_ms: row.processing_time_ms,
    created_at: row.created_at,
    counts: countsOf(lists),
  };
  cached = { head, lists };
  return cached;
}

function headOf(row: HeadRow): ChangeHead {
  return {
    ref: row.task_key,
    drawing_id: row.drawing_id,
    job_id: row.job_id,
    summary: row.summary,
    processing_time_ms: row.processing_time_ms,
    created_at: row.created_at,
    counts: {
      added: row.added_count,
      removed: row.removed_count,
      moved: row.moved_count,
      modified: row.modified_count,
      ...(row.renamed_count === null ? {} : { renamed: row.renamed_count }),
      ...(row.ambiguous_count === null ? {} : { ambiguous: row.ambiguous_count }),
    },
  };
}

function answer(request: PagesRequest): unknown {
  switch (request.op) {
    case 'latest': {
      const key = newestKey.get(request.drawingId);
      const result = key === undefined ? null : resultOf(key);
      if (!result) return null;
      return { head: result.head, items: mapLists<ChangeItem[], ItemsJson>(result.lists, (list) => itemsJson(list.slice(0, request.perKind))) };
    }
    case 'items': {
      const result = resultOf(request.ref);
      if (!result || result.head.drawing_id !== request.drawingId) return null;
      return { head: result.head, items: itemsJson((result.lists[request.kind] ?? []).slice(request.offset, request.offset + request.limit)) };
    }
    case 'summaries':
      return heads.all(request.drawingId, request.limit).map(headOf);
  }
}

/** The buffers of a page's items, handed to the main thread without a copy. */
function buffersOf(value: unknown): ArrayBuffer[] {
  if (value === null || typeof value !== 'object' || !('items' in value)) return [];
  const items = (value as { items: ItemsJson | ChangeLists<ItemsJson> }).items;
  const all = 'json' in items ? [items as ItemsJson] : Object.values(items as ChangeLists<ItemsJson>);
  return all.map((i) => i.json.buffer as ArrayBuffer);
}

/** Ends the thread from inside, between statements: the thread is never terminated mid-call. */
function retire(): void {
  cached = null;
  db.close();
  parentPort?.close();
}

parentPort?.on('message', (request: PagesRequest | RetireRequest) => {
  // Requests queued before the thread was given up have been failed already: skip them.
  if (request.op === 'retire' || Atomics.load(retired, 0) === 1) {
    if (db.open) retire();
    return;
  }
  let reply: PagesReply;
  try {
    reply = { id: request.id, ok: true, value: patiently(() => answer(request)) };
  } catch (err) {
    reply = { id: request.id, ok: false, message: errorMessage(err) };
  }
  parentPort?.postMessage(reply, reply.ok ? buffersOf(reply.value) : []);
});
