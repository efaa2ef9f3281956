/**
 * One header policy for every answer: stored strings come back verbatim (an object id may be
 * `<img src=x onerror=…>`), so no answer may be sniffed as HTML, framed, or run anything, and
 * answers that change are never cached. A route that serves something else (a page, an SVG) sets
 * its own value after this middleware has set the default, and its value wins.
 */
import type Koa from 'koa';

/** The API's default: JSON only, nothing loaded, never framed. */
export const API_HEADER_POLICY: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

/**
 * @example
 * app.use(securityHeaders()); // first, so even error answers carry the policy
 * // in a route that serves a page: ctx.set('Content-Security-Policy', "default-src 'self'");
 */
export function securityHeaders(policy: Readonly<Record<string, string>> = API_HEADER_POLICY): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set(policy);
    await next();
  };
}
