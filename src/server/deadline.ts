/**
 * A read waiting on a store that stops answering (a hung BigQuery, not a failing one) would hold
 * its client as long as the store does; past a deadline it answers 503 instead, so the client can
 * retry, perhaps on another replica. Writes are left alone: by then `POST /process` may have
 * enqueued its tasks, and a client retrying it would enqueue them twice.
 */
import type Koa from 'koa';
import { TIMED_OUT, within } from '../timeout.js';
import { HttpError, HTTP_CODES } from './errors.js';

/**
 * @example
 * app.use(readDeadline(10_000)); // after the error middleware, before the routes
 */
export function readDeadline(ms: number): Koa.Middleware {
  if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError(`a read deadline must be a positive number of ms, got ${ms}`);
  return async (ctx, next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    // The route keeps running after the deadline; what it sets then is never sent.
    if ((await within(next(), ms)) === TIMED_OUT) {
      throw new HttpError(503, HTTP_CODES.unavailable, `the store did not answer within ${ms / 1000} s; try again later`, { 'Retry-After': '1' });
    }
  };
}
