/**
 * The read routes: `GET /changes`, `GET /jobs/:job_id`, `GET /metrics`, `GET /metrics/prometheus`. Every parameter is
 * checked before the store is asked, and answers come from the shared store, so any replica can
 * serve them.
 */
import type Router from '@koa/router';
import { badRequest, notFound, quoteValue } from '../errors.js';
import { CHANGE_KINDS, type ChangeHead, type ChangeKind } from '../../../sinks/change-pages.js';
import { objectJson, RawJson } from '../raw-json.js';
import type { ServerDeps } from '../deps.js';

export const DRAWING_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const MAX_HISTORY = 100;

export function registerQueries(router: Router, deps: ServerDeps): void {
  router.get('/changes', async (ctx) => {
    const drawingId = drawingIdOf(single(ctx.query.drawing_id, 'drawing_id'));
    const limitText = single(ctx.query.limit, 'limit');
    if (limitText !== undefined) {
      // History is summaries and counts: N whole results could be gigabytes.
      const limit = wholeNumber(limitText, 'limit', 1, MAX_HISTORY);
      const heads = await deps.changePages.summaries(drawingId, limit);
      if (heads.length === 0) throw notFound(`no changes found for drawing_id ${JSON.stringify(drawingId)}`);
      ctx.body = heads.map(summaryOf);
      return;
    }
    const page = await deps.changePages.latest(drawingId, deps.changesPageItems);
    if (!page) throw notFound(`no changes found for drawing_id ${JSON.stringify(drawingId)}`);
    const next: Partial<Record<ChangeKind, string>> = {};
    for (const kind of CHANGE_KINDS) {
      const shown = page.items[kind]?.count ?? 0;
      if ((page.head.counts[kind] ?? 0) > shown) next[kind] = itemsUrl(drawingId, kind, page.head.ref, shown);
    }
    const { head, items } = page;
    const raw = (kind: ChangeKind) => (items[kind] === undefined ? undefined : new RawJson(items[kind].json));
    ctx.type = 'application/json';
    ctx.body = objectJson({
      drawing_id: head.drawing_id,
      job_id: head.job_id,
      added: raw('added'),
      removed: raw('removed'),
      moved: raw('moved'),
      modified: raw('modified'),
      // Only where geometry matching ran, as the stored result has them.
      renamed: raw('renamed'),
      ambiguous: raw('ambiguous'),
      summary: head.summary,
      processing_time_ms: head.processing_time_ms,
      created_at: head.created_at,
      counts: head.counts,
      next: Object.keys(next).length > 0 ? next : undefined,
    });
  });

  router.get('/changes/items', async (ctx) => {
    const drawingId = drawingIdOf(single(ctx.query.drawing_id, 'drawing_id'));
    const kindText = single(ctx.query.kind, 'kind');
    if (kindText === undefined || !(CHANGE_KINDS as readonly string[]).includes(kindText)) {
      throw badRequest(`query parameter "kind" must be one of ${CHANGE_KINDS.join(', ')}, got ${kindText === undefined ? 'nothing' : quoteValue(kindText)}`);
    }
    const kind = kindText as ChangeKind;
    const limitText = single(ctx.query.limit, 'limit');
    const limit = limitText === undefined ? deps.changesPageItems : wholeNumber(limitText, 'limit', 1, deps.changesPageItems);
    const cursorText = single(ctx.query.cursor, 'cursor');
    let cursor: Cursor;
    if (cursorText === undefined) {
      const latest = await deps.changePages.summaries(drawingId, 1);
      if (latest.length === 0) throw notFound(`no changes found for drawing_id ${JSON.stringify(drawingId)}`);
      cursor = { ref: (latest[0] as ChangeHead).ref, offset: 0 };
    } else {
      cursor = decodeCursor(cursorText);
    }
    const page = await deps.changePages.items(drawingId, cursor.ref, kind, cursor.offset, limit);
    if (!page) throw notFound(`the result this cursor names no longer exists for drawing_id ${JSON.stringify(drawingId)}`);
    const end = cursor.offset + page.items.count;
    ctx.type = 'application/json';
    ctx.body = objectJson({
      drawing_id: page.head.drawing_id,
      job_id: page.head.job_id,
      created_at: page.head.created_at,
      kind,
      total: page.head.counts[kind] ?? 0,
      offset: cursor.offset,
      items: new RawJson(page.items.json),
      next: end < (page.head.counts[kind] ?? 0) ? itemsUrl(drawingId, kind, page.head.ref, end) : null,
    });
  });

  router.get('/jobs/:job_id', async (ctx) => {
    const jobId = ctx.params.job_id ?? '';
    if (!JOB_ID.test(jobId)) throw badRequest(`"job_id" must be 1 to 128 letters, digits or . _ : -, got ${JSON.stringify(jobId)}`);
    const job = await deps.store.job(jobId);
    if (!job) throw notFound(`no job with id ${JSON.stringify(jobId)}`);
    ctx.body = job;
  });

  router.get('/metrics', async (ctx) => {
    ctx.body = await deps.metrics();
  });

  router.get('/metrics/prometheus', async (ctx) => {
    const { contentType, body } = await deps.prometheus();
    ctx.type = contentType;
    ctx.body = body;
  });
}

function drawingIdOf(value: string | undefined): string {
  if (value === undefined) throw badRequest('query parameter "drawing_id" is required, e.g. /changes?drawing_id=drawing_0001');
  if (!DRAWING_ID.test(value)) throw badRequest(`"drawing_id" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, got ${quoteValue(value)}`);
  return value;
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw badRequest(`"${name}" must be a whole number from ${min} to ${max}, got ${quoteValue(text)}`);
  }
  return Number(text);
}

/** A history entry: the result without its items. */
function summaryOf(head: ChangeHead) {
  return {
    drawing_id: head.drawing_id,
    job_id: head.job_id,
    summary: head.summary,
    counts: head.counts,
    processing_time_ms: head.processing_time_ms,
    created_at: head.created_at,
  };
}

interface Cursor {
  readonly ref: string;
  readonly offset: number;
}

/** Opaque to clients: the result it names and where the next page starts. */
function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.ref, cursor.offset])).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const [ref, offset] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
    if (typeof ref === 'string' && ref.length > 0 && Number.isSafeInteger(offset) && (offset as number) >= 0) return { ref, offset: offset as number };
  } catch {
    // fall through
  }
  throw badRequest(`"cursor" is not a cursor this service gave, got ${quoteValue(text)}`);
}

function itemsUrl(drawingId: string, kind: ChangeKind, ref: string, offset: number): string {
  return `/changes/items?drawing_id=${encodeURIComponent(drawingId)}&kind=${kind}&cursor=${encodeCursor({ ref, offset })}`;
}

/** A query parameter given once, or undefined; repeating it is a client error. */
export function single(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) throw badRequest(`query parameter "${name}" must be given once`);
  return value;
}
