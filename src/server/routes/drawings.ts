/**
 * `GET /drawings?limit=N&cursor=C`: drawings by their latest result, newest first, paged by an
 * opaque cursor (the last drawing's time and id), so pages stay consistent while results arrive.
 */
import type Router from '@koa/router';
import type { DrawingCursor } from '../../domain/sink.js';
import { badRequest } from '../errors.js';
import type { ServerDeps } from '../deps.js';
import { DRAWING_ID, single } from './queries.js';

export const DEFAULT_DRAWINGS_PAGE = 20;
export const MAX_DRAWINGS_PAGE = 100;

export function registerDrawings(router: Router, deps: ServerDeps): void {
  router.get('/drawings', async (ctx) => {
    const limitText = single(ctx.query.limit, 'limit');
    let limit = DEFAULT_DRAWINGS_PAGE;
    if (limitText !== undefined) {
      if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_DRAWINGS_PAGE) {
        throw badRequest(`"limit" must be a whole number from 1 to ${MAX_DRAWINGS_PAGE}, got ${JSON.stringify(limitText)}`);
      }
      limit = Number(limitText);
    }
    const cursorText = single(ctx.query.cursor, 'cursor');
    const after = cursorText === undefined ? null : decodeCursor(cursorText);
    // One more than asked says whether another page follows.
    const rows = await deps.store.drawings(limit + 1, after);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    ctx.body = {
      drawings: page,
      next_cursor: rows.length > limit && last ? encodeCursor({ latestAt: new Date(last.latest_result_at), drawingId: last.drawing_id }) : null,
    };
  });
}

/**
 * @example
 * encodeCursor({ latestAt: new Date('2026-01-01T00:00:00Z'), drawingId: 'D1' }); // base64url of ["2026-01-01T00:00:00.000Z","D1"]
 */
export function encodeCursor(c: DrawingCursor): string {
  return Buffer.from(JSON.stringify([c.latestAt.toISOString(), c.drawingId])).toString('base64url');
}

export function decodeCursor(text: string): DrawingCursor {
  const bad = () => badRequest(`"cursor" is not a cursor this service gave out (use next_cursor from the previous page), got ${JSON.stringify(text.slice(0, 60))}`);
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(text)) throw bad();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || typeof value[1] !== 'string') throw bad();
  const at = new Date(value[0]);
  if (Number.isNaN(at.getTime()) || at.toISOString() !== value[0] || !DRAWING_ID.test(value[1])) throw bad();
  return { latestAt: at, drawingId: value[1] };
}
