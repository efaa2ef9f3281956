/**
 * The dashboard in a real browser: Debian's headless Chromium driven by playwright-core against
 * the real embedded service (real queue, pipeline and store). Shows that the pages load with no
 * console error and no request to another origin, that the figures equal `GET /metrics`, that a
 * result posted while the page is open shows up without a reload, that a drawing's page shows its
 * overlay, that the pages work from the keyboard and at phone width; and saves the screenshots
 * the README shows (docs/images/).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { chromium, type BrowserContext } from 'playwright-core';
import { call, launchApi, obj, postJson, waitForJob, type ApiService } from '../support/api-fixture.js';
import { REPO_ROOT } from '../support/service-process.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const IMAGES = path.join(REPO_ROOT, 'docs', 'images');

interface Context {
  api: ApiService & { close(): Promise<void> };
  browser: BrowserContext;
  profile: string;
}
const test = anyTest as TestFn<Context>;

const A = [obj('W1', 'wall', 0, 0, 8, 1), obj('W2', 'wall', 0, 6, 8, 1), obj('D7', 'door', 4, 2, 1, 2), obj('C1', 'column', 10, 3, 1, 1), obj('C2', 'column', 3, 9, 1, 1)];
const B = [obj('W1', 'wall', 2, 0, 8, 1), obj('W2', 'wall', 0, 6, 8, 1), obj('N2', 'window', 9, 9, 2, 1), obj('C1', 'column', 12, 3, 1, 1), obj('C2', 'beam', 3, 9, 3, 1)];

async function processPair(url: string, drawingId: string, a: unknown, b: unknown): Promise<void> {
  const res = await postJson(`${url}/process`, { version_pairs: [{ drawing_id: drawingId, version_a: a, version_b: b }] });
  if (res.status !== 202) throw new Error(`POST /process answered ${res.status}: ${res.text}`);
  await waitForJob(url, res.body.job_id);
}

/** A page that records console errors, page errors and every request it makes. */
async function openPage(t: { context: Context }, urlPath: string, viewport = { width: 1200, height: 900 }) {
  const page = await t.context.browser.newPage();
  await page.setViewportSize(viewport);
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => requests.push(r.url()));
  const response = await page.goto(`${t.context.api.url}${urlPath}`);
  return { page, errors, requests, response };
}

function foreign(requests: readonly string[], origin: string): string[] {
  return requests.filter((u) => new URL(u).origin !== origin);
}

test.before(async (t) => {
  // The bundle the server serves (what `npm ci` builds); rebuilt here so the test sees the sources.
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
  const api = await launchApi();
  const profile = mkdtempSync(path.join(tmpdir(), 'buildtrace-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
  t.context = { api, browser, profile };
  await processPair(api.url, 'D1', A, B);
  await processPair(api.url, 'D2', A, A.slice(0, 3));
});

test.after.always(async (t) => {
  await t.context.browser?.close();
  await t.context.api?.close();
  if (t.context.profile) rmSync(t.context.profile, { recursive: true, force: true });
});

test.serial('the dashboard loads with no console error, only same-origin requests, and figures equal to GET /metrics', async (t) => {
  const { page, errors, requests, response } = await openPage(t, '/');
  t.is(response?.status(), 200);
  t.is(response?.headers()['content-security-policy'], "default-src 'self'");
  await page.locator('dd[data-metric="pairs_total"]').waitFor();

  // The page polls; compare once its figures and /metrics agree on the same state (bounded).
  let mismatch = '';
  const deadline = Date.now() + 6000;
  do {
    const shown = await page.locator('dd[data-metric]').evaluateAll((dds) => dds.map((d) => [d.getAttribute('data-metric'), d.getAttribute('data-value')] as const));
    const metrics = (await call(`${t.context.api.url}/metrics`)).body as Record<string, unknown>;
    mismatch = shown
      .filter(([key, value]) => String(metrics[key as string]) !== value)
      .map(([key, value]) => `${key}: page ${value}, /metrics ${String(metrics[key as string])}`)
      .join('; ');
    if (mismatch === '' && shown.length >= 12) break;
    await page.waitForTimeout(500);
  } while (Date.now() < deadline);
  t.is(mismatch, '');
  t.is(await page.locator('dd[data-metric="pairs_total"]').textContent(), '2');
  t.is(await page.locator('#readiness').textContent(), 'ready');
  t.is(await page.locator('#drawings tr').count(), 2);
  t.is(await page.locator('#hourly-chart canvas').count(), 1);
  t.is(await page.locator('#latency-chart canvas').count(), 1);

  await page.waitForTimeout(2500); // one more poll before the picture is taken
  mkdirSync(IMAGES, { recursive: true });
  await page.screenshot({ path: path.join(IMAGES, 'dashboard.png'), fullPage: true });
  t.deepEqual(errors, []);
  t.deepEqual(foreign(requests, t.context.api.url), []);
  await page.close();
});

test.serial('a result posted while the dashboard is open appears within 5 s, without a reload', async (t) => {
  const { page, errors } = await openPage(t, '/');
  await page.locator('#drawings tr[data-drawing-id="D1"]').waitFor();
  // Page-side code as strings: this file is type-checked without the DOM library.
  await page.evaluate('window.stayed = true');
  const res = await postJson(`${t.context.api.url}/process`, { version_pairs: [{ drawing_id: 'LIVE-1', version_a: A, version_b: B }] });
  t.is(res.status, 202);
  await page.locator('#drawings tr[data-drawing-id="LIVE-1"]').waitFor({ timeout: 5000 });
  t.true(await page.evaluate('window.stayed === true'), 'the page was not reloaded');
  t.is(await page.locator('#drawings tr').first().getAttribute('data-drawing-id'), 'LIVE-1');
  t.deepEqual(errors, []);
  await page.close();
});

test.serial("a drawing's page shows its overlay, reached from the dashboard by keyboard alone", async (t) => {
  const { page, errors, requests } = await openPage(t, '/');
  await page.locator('#drawings tr[data-drawing-id="D1"] a').waitFor();
  // Tab through the page until the link to D1 has the focus, then follow it with Enter.
  let focused = '';
  for (let i = 0; i < 40 && focused !== '/drawings/D1'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate<string>("document.activeElement?.getAttribute('href') ?? ''");
  }
  t.is(focused, '/drawings/D1');
  await Promise.all([page.waitForURL(`${t.context.api.url}/drawings/D1`), page.keyboard.press('Enter')]);
  const img = page.locator('article.result img.overlay').first();
  await img.waitFor();
  await page.waitForFunction("(() => { const i = document.querySelector('article.result img.overlay'); return i !== null && i.complete && i.naturalWidth > 0; })()");
  t.is(await img.getAttribute('src'), '/changes/overlay.svg?drawing_id=D1');
  t.regex((await img.getAttribute('alt')) ?? '', /1 added, 1 removed, 2 moved, 1 modified/);
  await page.locator('article.result figure').first().screenshot({ path: path.join(IMAGES, 'overlay.png') });
  t.deepEqual(errors, []);
  t.deepEqual(foreign(requests, t.context.api.url), []);
  await page.close();
});

test.serial('phone width: no sideways scrolling on either page', async (t) => {
  for (const urlPath of ['/', '/drawings/D1']) {
    const { page, errors } = await openPage(t, urlPath, { width: 375, height: 740 });
    await page.waitForFunction("document.getElementById('updated')?.textContent?.startsWith('Updated')");
    t.true(await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'), `${urlPath} fits 375 px`);
    t.deepEqual(errors, []);
    await page.close();
  }
});
