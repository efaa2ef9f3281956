/**
 * The read routes: `GET /changes`, `GET /jobs/:job_id`, `GET /metrics`, `GET /metrics/prometheus`. Every parameter is
 * checked before the store is asked, and answers come from the shared store, so any replica can
 * serve them.
 */
import type Router from '@koa/router';
import { badRequest, notFound } from '../errors.js';
import type { ServerDeps } from '../deps.js';

export const DRAWING_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const MAX_HISTORY = 100;

export function registerQueries(router: Router, deps: ServerDeps): void {
  router.get('/changes', async (ctx) => {
    const drawingId = single(ctx.query.drawing_id, 'drawing_id');
    if (drawingId === undefined) throw badRequest('query parameter "drawing_id" is required, e.g. /changes?drawing_id=drawing_0001');
    if (!DRAWING_ID.test(drawingId)) {
      throw badRequest(`"drawing_id" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, got ${JSON.stringify(drawingId)}`);
    }
    const limitText = single(ctx.query.limit, 'limit');
    let limit = 1;
    if (limitText !== undefined) {
      if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_HISTORY) {
        throw badRequest(`"limit" must be a whole number from 1 to ${MAX_HISTORY}, got ${JSON.stringify(limitText)}`);
      }
      limit = Number(limitText);
    }
    const history = await deps.store.changes(drawingId, limit);
    if (history.length === 0) throw notFound(`no changes found for drawing_id ${JSON.stringify(drawingId)}`);
    ctx.body = limitText === undefined ? history[0] : history;
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

/** A query parameter given once, or undefined; repeating it is a client error. */
export function single(value: string | string[] | undefined, name: string): string | undefined {
  if (Array.isArray(value)) throw badRequest(`query parameter "${name}" must be given once`);
  return value;
}
