/**
 * The overlay and drawings routes against the real embedded service: the picture of a stored
 * result (latest, or a job's), its headers, its bad inputs, that `buildtrace diff --svg` draws
 * the same picture, and `GET /drawings` paging.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { countChanges, diffVersions } from '../../src/domain/diff.js';
import { assertError, call, obj, postJson, startApi, waitForJob } from '../support/api-fixture.js';
import { classCounts, parseSvg, withClass } from '../support/svg.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const A = [obj('W1', 'wall', 0, 0, 4, 1), obj('D7', 'door', 4, 2, 1, 2), obj('K', 'column', 8, 8)];
const B = [obj('W1', 'window', 2, 0, 5, 1), obj('N2', 'window', 9, 9, 1, 1), obj('K', 'column', 8, 8)];

async function process(url: string, drawingId: string, a: unknown, b: unknown): Promise<string> {
  const res = await postJson(`${url}/process`, { version_pairs: [{ drawing_id: drawingId, version_a: a, version_b: b }] });
  if (res.status !== 202) throw new Error(`POST /process answered ${res.status}: ${res.text}`);
  await waitForJob(url, res.body.job_id);
  return res.body.job_id as string;
}

function cli(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(globalThis.process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

async function tempFiles(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'buildtrace-svg-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'a.json'), JSON.stringify(A));
  await writeFile(path.join(dir, 'b.json'), JSON.stringify(B));
  return dir;
}

test('the latest result as SVG: type, a script-forbidding policy, one group per change; a job picks its result', async (t) => {
  const api = await startApi(t);
  const job1 = await process(api.url, 'D1', A, B);
  const res = await call(`${api.url}/changes/overlay.svg?drawing_id=D1`);
  t.is(res.status, 200);
  t.regex(res.headers.get('content-type') ?? '', /^image\/svg\+xml/);
  const csp = res.headers.get('content-security-policy') ?? '';
  t.regex(csp, /default-src 'none'/);
  t.notRegex(csp, /script-src/);
  t.is(res.headers.get('x-content-type-options'), 'nosniff');
  const expected = countChanges(diffVersions(A, B));
  t.deepEqual(classCounts(parseSvg(res.text)), expected);
  t.deepEqual(expected, { added: 1, removed: 1, moved: 1, modified: 1 });
  t.deepEqual(withClass(parseSvg(res.text), 'moved').map((g) => g.attributes.class), ['moved modified']);

  // A second result for the drawing: the plain URL shows it, job_id the first one.
  await process(api.url, 'D1', A, A.slice(1));
  t.deepEqual(classCounts(parseSvg((await call(`${api.url}/changes/overlay.svg?drawing_id=D1`)).text)), { added: 0, removed: 1, moved: 0, modified: 0 });
  const old = await call(`${api.url}/changes/overlay.svg?drawing_id=D1&job_id=${job1}`);
  t.is(old.status, 200);
  t.is(old.text, res.text);
});

test('bad and unknown overlay requests get the error shape, with the policy still set', async (t) => {
  const api = await startApi(t);
  await process(api.url, 'D1', A, B);
  assertError(t, await call(`${api.url}/changes/overlay.svg`), 400, 'bad_request', /drawing_id/);
  assertError(t, await call(`${api.url}/changes/overlay.svg?drawing_id=%3Cscript%3E`), 400, 'bad_request');
  assertError(t, await call(`${api.url}/changes/overlay.svg?drawing_id=D1&drawing_id=D2`), 400, 'bad_request', /once/);
  assertError(t, await call(`${api.url}/changes/overlay.svg?drawing_id=D1&job_id=%22x%22`), 400, 'bad_request', /job_id/);
  assertError(t, await call(`${api.url}/changes/overlay.svg?drawing_id=NOPE`), 404, 'not_found');
  const noJob = await call(`${api.url}/changes/overlay.svg?drawing_id=D1&job_id=other-job`);
  assertError(t, noJob, 404, 'not_found', /job "other-job"/);
  t.regex(noJob.headers.get('content-security-policy') ?? '', /default-src 'none'/);
});

test('buildtrace diff --svg --changes-only writes the very picture the route serves; without it, the same groups plus grey unchanged objects', async (t) => {
  const api = await startApi(t);
  await process(api.url, 'D1', A, B);
  const route = (await call(`${api.url}/changes/overlay.svg?drawing_id=D1`)).text;
  const dir = await tempFiles(t);
  const out = path.join(dir, 'out.svg');
  const r = await cli(['diff', path.join(dir, 'a.json'), path.join(dir, 'b.json'), '--drawing-id', 'D1', '--svg', out, '--changes-only']);
  t.is(r.code, 0, r.stderr);
  t.is(await readFile(out, 'utf8'), route);

  const full = path.join(dir, 'full.svg');
  t.is((await cli(['diff', path.join(dir, 'a.json'), path.join(dir, 'b.json'), '--drawing-id', 'D1', '--svg', full])).code, 0);
  const fullRoot = parseSvg(await readFile(full, 'utf8'));
  const routeRoot = parseSvg(route);
  t.deepEqual(classCounts(fullRoot), classCounts(routeRoot));
  for (const kind of ['added', 'removed', 'moved', 'modified']) {
    const groups = (root: typeof fullRoot) => withClass(root, kind).map((g) => [g.attributes['data-id'], g.attributes.class, g.children[0]?.text]);
    t.deepEqual(groups(fullRoot), groups(routeRoot));
  }
  t.is(withClass(fullRoot, 'unchanged').length, 1);
  t.is(withClass(routeRoot, 'unchanged').length, 0);
});

test('diff --svg usage errors: no file name, --changes-only alone, an unwritable path', async (t) => {
  const dir = await tempFiles(t);
  const a = path.join(dir, 'a.json');
  const b = path.join(dir, 'b.json');
  const noName = await cli(['diff', a, b, '--svg']);
  t.is(noName.code, 2);
  t.regex(noName.stderr, /--svg/);
  const alone = await cli(['diff', a, b, '--changes-only']);
  t.is(alone.code, 2);
  t.regex(alone.stderr, /--changes-only only applies with --svg/);
  const unwritable = await cli(['diff', a, b, '--svg', path.join(dir, 'missing', 'x.svg')]);
  t.is(unwritable.code, 2);
  t.regex(unwritable.stderr, /cannot write .*ENOENT/);
});

test('GET /drawings: newest first with counts, paged by next_cursor; bad limits and cursors are 400', async (t) => {
  const api = await startApi(t);
  await process(api.url, 'P1', A, B);
  await process(api.url, 'P2', A, A);
  await process(api.url, 'P3', [], B);
  const all = await call(`${api.url}/drawings`);
  t.is(all.status, 200);
  t.deepEqual(all.body.drawings.map((d: { drawing_id: string }) => d.drawing_id), ['P3', 'P2', 'P1']);
  t.deepEqual(all.body.drawings[2].counts, { added: 1, removed: 1, moved: 1, modified: 1 });
  t.is(all.body.next_cursor, null);

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { drawings: { drawing_id: string }[]; next_cursor: string | null } } = await call(
      `${api.url}/drawings?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
    );
    seen.push(...page.body.drawings.map((d) => d.drawing_id));
    cursor = page.body.next_cursor;
  } while (cursor !== null);
  t.deepEqual(seen, ['P3', 'P2', 'P1']);

  for (const q of ['limit=0', 'limit=101', 'limit=x', 'cursor=%21%21', 'cursor=bm90LWpzb24', `cursor=${Buffer.from('["yesterday","P1"]').toString('base64url')}`]) {
    assertError(t, await call(`${api.url}/drawings?${q}`), 400, 'bad_request');
  }
});

test('pages and assets: HTML under default-src \'self\', bundled assets with their types, bad names 404', async (t) => {
  const api = await startApi(t);
  for (const page of ['/', '/drawings/D1']) {
    const res = await call(`${api.url}${page}`);
    t.is(res.status, 200);
    t.regex(res.headers.get('content-type') ?? '', /^text\/html/);
    t.is(res.headers.get('content-security-policy'), "default-src 'self'");
    // Only same-origin references, and no inline script.
    t.notRegex(res.text, /(src|href)="(https?:)?\/\//);
    t.notRegex(res.text, /<script(?![^>]*\bsrc="\/assets\/)/);
  }
  t.regex((await call(`${api.url}/drawings/D1`)).text, /data-drawing-id="D1"/);
  const js = await call(`${api.url}/assets/dashboard.js`);
  t.is(js.status, 200);
  t.regex(js.headers.get('content-type') ?? '', /^text\/javascript/);
  t.regex((await call(`${api.url}/assets/style.css`)).headers.get('content-type') ?? '', /^text\/css/);
  assertError(t, await call(`${api.url}/assets/..%2Fpackage.json`), 404, 'not_found');
  assertError(t, await call(`${api.url}/assets/nope.js`), 404, 'not_found');
  assertError(t, await call(`${api.url}/drawings/%3Cscript%3E`), 404, 'not_found');
  t.is((await call(`${api.url}/favicon.ico`)).status, 204);
});
