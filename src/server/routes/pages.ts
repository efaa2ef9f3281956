/**
 * The dashboard pages (`GET /`, `GET /drawings/:id`) and their bundled assets (`/assets/*`, built
 * by scripts/build-web.mjs into dist/web). Pages carry `Content-Security-Policy: default-src
 * 'self'`: every script, style and image comes from this server, nothing from another origin.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Router from '@koa/router';
import type Koa from 'koa';
import { escapeXml } from '../../overlay/escape.js';
import { HttpError, HTTP_CODES, notFound } from '../errors.js';
import { DRAWING_ID } from './queries.js';

export const PAGE_CSP = "default-src 'self'";

/** dist/web under the folder holding package.json, whether this runs from src/ (tsx) or dist/src/. */
export const WEB_DIR = path.join(findRoot(path.dirname(fileURLToPath(import.meta.url))), 'dist', 'web');

const ASSET_NAME = /^[a-z][a-z0-9-]*\.(js|css|map)$/;
const ASSET_TYPES: Readonly<Record<string, string>> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', map: 'application/json' };

export function registerPages(router: Router): void {
  router.get('/', (ctx) => page(ctx, 'BuildTrace dashboard', DASHBOARD_BODY, 'dashboard'));

  router.get('/drawings/:id', (ctx) => {
    const id = ctx.params.id ?? '';
    if (!DRAWING_ID.test(id)) throw notFound(`no drawing page for ${JSON.stringify(id)}: ids match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`);
    page(ctx, `Drawing ${id} · BuildTrace`, drawingBody(id), 'drawing');
  });

  // Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
  router.get('/favicon.ico', (ctx) => {
    ctx.status = 204;
  });

  router.get('/assets/:name', async (ctx) => {
    const name = ctx.params.name ?? '';
    const ext = ASSET_NAME.exec(name)?.[1];
    if (ext === undefined) throw notFound(`no asset ${JSON.stringify(name)}`);
    let body: Buffer;
    try {
      body = await readFile(path.join(WEB_DIR, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!existsSync(WEB_DIR)) {
        throw new HttpError(503, HTTP_CODES.unavailable, 'the dashboard bundle is not built; run npm run build (npm ci and npm start build it)');
      }
      throw notFound(`no asset ${JSON.stringify(name)}`);
    }
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = ASSET_TYPES[ext] as string;
    ctx.body = body;
  });
}

function page(ctx: Koa.Context, title: string, body: string, script: 'dashboard' | 'drawing'): void {
  ctx.set('Content-Security-Policy', PAGE_CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cache-Control', 'no-cache');
  ctx.type = 'text/html; charset=utf-8';
  const css = script === 'dashboard' ? '<link rel="stylesheet" href="/assets/dashboard.css">\n' : '';
  ctx.body = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<link rel="stylesheet" href="/assets/style.css">
${css}<script type="module" src="/assets/${script}.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<h1>BuildTrace</h1>
<nav aria-label="Site"><a href="/">Dashboard</a><a href="/metrics">/metrics</a><a href="/health">/health</a></nav>
<p class="status" role="status" aria-live="polite"><span id="updated">Loading…</span></p>
</header>
${body}
<footer><p>Refreshes every 2 s without reloading. Overlays: <code>GET /changes/overlay.svg?drawing_id=…</code>.</p></footer>
</body>
</html>
`;
}

const DASHBOARD_BODY = `<main id="main">
<section aria-labelledby="state-h">
<h2 id="state-h">Service</h2>
<p class="status">Health: <span id="health-status">…</span> · Readiness: <span id="readiness">…</span></p>
</section>
<section aria-labelledby="figures-h">
<h2 id="figures-h">Last 24 hours</h2>
<dl class="figures" id="figures"></dl>
</section>
<section aria-labelledby="charts-h" class="charts">
<h2 id="charts-h" class="skip">Charts</h2>
<figure class="chart"><figcaption>Throughput and changes by kind, per hour</figcaption><div id="hourly-chart"></div></figure>
<figure class="chart"><figcaption>Processing and end-to-end latency p50/p95/p99, per hour</figcaption><div id="latency-chart"></div></figure>
</section>
<section aria-labelledby="anomalies-h">
<h2 id="anomalies-h">Current anomalies</h2>
<ul class="anomalies" id="anomalies"></ul>
</section>
<section aria-labelledby="drawings-h">
<h2 id="drawings-h">Latest drawings</h2>
<div class="table-wrap"><table>
<thead><tr><th scope="col">Drawing</th><th scope="col">Latest result</th><th scope="col" class="n">Added</th><th scope="col" class="n">Removed</th><th scope="col" class="n">Moved</th><th scope="col" class="n">Modified</th></tr></thead>
<tbody id="drawings"></tbody>
</table></div>
</section>
</main>`;

function drawingBody(id: string): string {
  return `<main id="main">
<section aria-labelledby="drawing-h">
<h2 id="drawing-h">Drawing ${escapeXml(id)}</h2>
<div id="drawing" data-drawing-id="${escapeXml(id)}"><div id="history" aria-live="polite"><p>Loading…</p></div></div>
</section>
</main>`;
}

function findRoot(dir: string): string {
  for (let d = dir; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) throw new Error(`no package.json above ${dir}`);
  }
}
