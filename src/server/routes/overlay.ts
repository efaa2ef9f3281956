/**
 * `GET /changes/overlay.svg?drawing_id=X[&job_id=J]`: a stored result drawn as SVG. The result
 * comes through the store's `changes()` like `GET /changes`, so it answers from any replica and
 * whatever the store keeps large results in. Where the result names the files its versions came
 * from and they still hold the same bytes, they are read again and unchanged objects drawn in
 * grey; otherwise the legend says why not. The picture is served with a policy that forbids every
 * script, whatever the picture contains.
 */
import type Router from '@koa/router';
import { renderOverlay } from '../../overlay/render.js';
import { readStoredVersions } from '../../../streams/load/stored-versions.js';
import { badRequest, notFound } from '../errors.js';
import type { ServerDeps } from '../deps.js';
import { DRAWING_ID, JOB_ID, MAX_HISTORY, single } from './queries.js';

/** Nothing may run or load from the picture; `sandbox` also keeps it from acting as its own origin. */
export const OVERLAY_CSP = "default-src 'none'; sandbox";

export function registerOverlay(router: Router, deps: ServerDeps): void {
  router.get('/changes/overlay.svg', async (ctx) => {
    ctx.set('Content-Security-Policy', OVERLAY_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    const drawingId = single(ctx.query.drawing_id, 'drawing_id');
    if (drawingId === undefined) throw badRequest('query parameter "drawing_id" is required, e.g. /changes/overlay.svg?drawing_id=drawing_0001');
    if (!DRAWING_ID.test(drawingId)) {
      throw badRequest(`"drawing_id" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, got ${JSON.stringify(drawingId)}`);
    }
    const jobId = single(ctx.query.job_id, 'job_id');
    if (jobId !== undefined && !JOB_ID.test(jobId)) {
      throw badRequest(`"job_id" must be 1 to 128 letters, digits or . _ : -, got ${JSON.stringify(jobId)}`);
    }
    // A job's result is looked for among the drawing's recent history (GET /changes's own limit).
    const history = await deps.store.changes(drawingId, jobId === undefined ? 1 : MAX_HISTORY);
    const result = jobId === undefined ? history[0] : history.find((r) => r.job_id === jobId);
    if (result === undefined) {
      throw notFound(
        jobId === undefined
          ? `no changes found for drawing_id ${JSON.stringify(drawingId)}`
          : `no result of job ${JSON.stringify(jobId)} among the last ${MAX_HISTORY} results of drawing_id ${JSON.stringify(drawingId)}`,
      );
    }
    const stored = await readStoredVersions(drawingId, result.versions, deps.input);
    ctx.type = 'image/svg+xml; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body =
      stored.kind === 'read'
        ? renderOverlay({ drawingId, changes: result, versions: stored })
        : renderOverlay({ drawingId, changes: result, withoutVersions: stored.reason });
  });
}
