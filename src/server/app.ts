/**
 * The Koa application: error shaping, optional CORS, the routes, and 405 for a known path with
 * the wrong method. Koa's core stays tiny; everything here is middleware.
 */
import Koa from 'koa';
import Router from '@koa/router';
import { errorMiddleware, HttpError, HTTP_CODES } from './errors.js';
import { readDeadline } from './deadline.js';
import { securityHeaders } from './security-headers.js';
import { registerProcess } from './routes/process.js';
import { registerQueries } from './routes/queries.js';
import { registerHealth } from './routes/health.js';
import { registerOverlay } from './routes/overlay.js';
import { registerDrawings } from './routes/drawings.js';
import { registerPages } from './routes/pages.js';
import type { ServerDeps } from './deps.js';

export function createApp(deps: ServerDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  // Errors are logged by the error middleware; Koa's default handler would print stacks to stderr.
  app.silent = true;

  app.use(securityHeaders());
  app.use(errorMiddleware(deps.logger));
  if (deps.corsOrigins.length > 0) app.use(cors(deps.corsOrigins));
  app.use(readDeadline(deps.readDeadlineMs));

  const router = new Router();
  registerProcess(router, deps);
  registerQueries(router, deps);
  registerHealth(router, deps);
  registerOverlay(router, deps);
  registerDrawings(router, deps);
  registerPages(router);
  app.use(methodNotAllowed(router));
  app.use(router.routes());
  // Not thrown: only the non-throwing path sets the Allow header a 405 must carry (RFC 9110 §15.5.6).
  app.use(router.allowedMethods({ throw: false }));
  return app;
}

/**
 * Turns the router's bare 405 (or 501 for a method it does not know) into the error shape,
 * keeping the Allow header it set.
 */
function methodNotAllowed(router: Router): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null) {
      // The router sets Allow for a method it knows (405) but not for one it does not (501: TRACE).
      const allow = ctx.response.get('Allow') || allowedMethods(router, ctx.path);
      throw new HttpError(
        405,
        HTTP_CODES.methodNotAllowed,
        `${ctx.method} is not allowed on ${ctx.path}${allow ? `; use ${allow}` : ''}`,
        allow ? { Allow: allow } : {},
      );
    }
  };
}

/** Allows the listed origins only, and never with credentials (the seed's `*` + credentials was a defect). */
function cors(origins: readonly string[]): Koa.Middleware {
  const allowed = new Set(origins);
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (origin && allowed.has(origin)) {
      ctx.vary('Origin');
      ctx.set('Access-Control-Allow-Origin', origin);
      if (ctx.method === 'OPTIONS') {
        ctx.set('Access-Control-Allow-Methods', 'GET, POST');
        ctx.set('Access-Control-Allow-Headers', 'Content-Type');
        ctx.set('Access-Control-Max-Age', '600');
        ctx.status = 204;
        return;
      }
    }
    await next();
  };
}

/** The methods the router serves on `path`, as an Allow header value (HEAD comes with GET). */
function allowedMethods(router: Router, path: string): string {
  const methods = new Set<string>();
  for (const layer of router.stack) if (layer.match(path)) for (const m of layer.methods) methods.add(m);
  return [...methods].join(', ');
}
