/**
 * Worker thread of the embedded store's change pages: it opens the database read-only, and reads
 * and parses whole results here, so a 200,000-object result costs this thread, not the event
 * loop that answers `/healthz`. One request at a time, and only the last parsed result is kept,
 * so its memory is bounded by one result however many clients ask at once.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CHANGE_KINDS, countsOf, mapLists, type ChangeHead, type ChangeItem, type ChangeKind, type ChangeLists } from '../change-pages.js';
import { errorMessage } from '../../src/domain/errors.js';

export type PagesRequest =
  | { readonly id: number; readonly op: 'latest'; readonly drawingId: string; readonly perKind: number }
  | { readonly id: number; readonly op: 'items'; readonly drawingId: string; readonly ref: string; readonly kind: ChangeKind; readonly offset: number; readonly limit: number }
  | { readonly id: number; readonly op: 'summaries'; readonly drawingId: string; readonly limit: number };

export type PagesReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly message: string };

interface HeadRow {
  task_key: string;
  drawing_id: string;
  job_id: string | null;
  summary: string;
  processing_time_ms: number;
  created_at: string;
  added_count: number;
  removed_count: number;
  moved_count: number;
  modified_count: number;
  renamed_count: number | null;
  ambiguous_count: number | null;
}

const HEAD = `task_key, drawing_id, job_id, summary, processing_time_ms, created_at,
  json_array_length(added) AS added_count, json_array_length(removed) AS removed_count,
  json_array_length(moved) AS moved_count, json_array_length(modified) AS modified_count,
  json_array_length(renamed) AS renamed_count, json_array_length(ambiguous) AS ambiguous_count`;

const { file } = workerData as { file: string };
const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5_000 });
const newest = db.prepare<[string, number], HeadRow>(
  `SELECT ${HEAD} FROM change_results WHERE drawing_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
);
// Counts come from the parsed (cached) items here: json_array_length re-parses every column per page.
const byKey = db.prepare<[string, string], Omit<HeadRow, `${ChangeKind}_count`>>(
  `SELECT task_key, drawing_id, job_id, summary, processing_time_ms, created_at FROM change_results WHERE task_key = ? AND drawing_id = ?`,
);
// renamed and ambiguous are NULL where geometry matching did not run: the result has no such list.
const lists = db.prepare<[string], Record<ChangeKind, string | null>>(
  `SELECT added, removed, moved, modified, renamed, ambiguous FROM change_results WHERE task_key = ?`,
);

let cached: { key: string; lists: ChangeLists<ChangeItem[]> } | null = null;

function itemsOf(taskKey: string): ChangeLists<ChangeItem[]> {
  if (cached?.key === taskKey) return cached.lists;
  cached = null; // let the previous result go before parsing the next
  const row = lists.get(taskKey);
  const parsed: Partial<Record<ChangeKind, ChangeItem[]>> = {};
  for (const kind of CHANGE_KINDS) {
    const text = row?.[kind];
    if (text !== null && text !== undefined) parsed[kind] = JSON.parse(text) as ChangeItem[];
    else if (kind === 'added' || kind === 'removed' || kind === 'moved' || kind === 'modified') parsed[kind] = [];
  }
  cached = { key: taskKey, lists: parsed as ChangeLists<ChangeItem[]> };
  return cached.lists;
}

function head(row: HeadRow): ChangeHead {
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
      const row = newest.get(request.drawingId, 1);
      if (!row) return null;
      const all = itemsOf(row.task_key);
      return { head: head(row), items: mapLists<ChangeItem[], ChangeItem[]>(all, (list) => list.slice(0, request.perKind)) };
    }
    case 'items': {
      const row = byKey.get(request.ref, request.drawingId);
      if (!row) return null;
      const all = itemsOf(row.task_key);
      const unread = { added_count: 0, removed_count: 0, moved_count: 0, modified_count: 0, renamed_count: null, ambiguous_count: null };
      return { head: { ...head({ ...row, ...unread }), counts: countsOf(all) }, items: (all[request.kind] ?? []).slice(request.offset, request.offset + request.limit) };
    }
    case 'summaries':
      return newest.all(request.drawingId, request.limit).map(head);
  }
}

parentPort?.on('message', (request: PagesRequest) => {
  let reply: PagesReply;
  try {
    reply = { id: request.id, ok: true, value: answer(request) };
  } catch (err) {
    reply = { id: request.id, ok: false, message: errorMessage(err) };
  }
  parentPort?.postMessage(reply);
});
