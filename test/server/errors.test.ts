/**
 * Every error the API gives, against one real service with small limits: the status, the code,
 * and a body that is exactly `{"error": {"code", "message"}}` without a stack trace, for bad
 * bodies, bad tasks, bad query parameters, unknown things, wrong methods, oversized requests,
 * non-JSON bodies and references that try to leave the input directory.
 */
import { rmSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/infra/sqlite/database.js';
import { assertError, call, launchApi, obj, postJson, startApi, writePair, type ApiResponse, type ApiService } from '../support/api-fixture.js';

const MAX_BODY_BYTES = 2048;
const MAX_PAIRS = 3;
const MAX_PAIRS_PER_PREFIX = 2;

let api: ApiService & { close(): Promise<void> };
test.before(async () => {
  api = await launchApi({
    MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    MAX_PAIRS_PER_REQUEST: String(MAX_PAIRS),
    MAX_PAIRS_PER_PREFIX: String(MAX_PAIRS_PER_PREFIX),
  });
  writePair(api.inputDir, 'batch', 'D1', [obj('X', 'door', 0, 0)], [obj('X', 'door', 1, 0)]);
  for (const id of ['M1', 'M2', 'M3']) writePair(api.inputDir, 'many', id, [], []);
});
test.after.always(async () => {
  await api?.close();
});

const V = [obj('X', 'door', 0, 0)];
const postProcess = (body: unknown, headers?: Record<string, string>) => postJson(`${api.url}/process`, body, headers);
const pairs = (...tasks: unknown[]) => postProcess({ version_pairs: tasks });

/** Rows in the tables a request writes to: jobs and queued tasks (the consumer only deletes queue rows). */
function written(): { jobs: number; queued: number } {
  const db = new Database(path.join(api.dataDir, DATABASE_FILE), { readonly: true });
  try {
    const count = (sql: string) => db.prepare<[], number>(sql).pluck().get() ?? 0;
    return { jobs: count('SELECT count(*) FROM jobs'), queued: count("SELECT seq FROM sqlite_sequence WHERE name = 'queue'") };
  } finally {
    db.close();
  }
}

test.serial('a rejected request leaves no job and queues no task, even when its first elements were good', async (t) => {
  const before = written();
  const good = { drawing_id: 'A1', version_a: V, version_b: V };
  assertError(t, await pairs(good, good, { drawing_id: 'A3', version_a: V }), 400);
  assertError(t, await pairs(good, { drawing_id: 'A2', version_a_uri: '../x.json', version_b_uri: 'y.json' }), 400);
  assertError(t, await pairs(...Array.from({ length: MAX_PAIRS + 1 }, () => good)), 413);
  assertError(t, await postProcess({ storage_path: '../' }), 400);
  t.deepEqual(written(), before);
  // the counters do move for an accepted request, so the check above can fail
  t.is((await pairs(good)).status, 202);
  t.deepEqual(written(), { jobs: before.jobs + 1, queued: before.queued + 1 });
});

test('400 when the body is not an object with exactly one of version_pairs or storage_path', async (t) => {
  for (const body of ['[]', '"text"', 'null', '42', 'true']) {
    assertError(t, await postProcess(body), 400, 'bad_request', /JSON object/);
  }
  assertError(t, await postProcess({}), 400, 'bad_request', /exactly one of "version_pairs".*"storage_path"/);
  assertError(t, await postProcess({ foo: 1 }), 400, 'bad_request', /exactly one of/);
  assertError(t, await postProcess({ version_pairs: [{ drawing_id: 'A1', version_a: V, version_b: V }], storage_path: 'batch' }), 400, 'bad_request', /exactly one of/);
  assertError(t, await postProcess({ version_pairs: [] }), 400, 'bad_request', /empty/);
  assertError(t, await postProcess({ version_pairs: { drawing_id: 'A1' } }), 400, 'bad_request', /must be an array/);
  assertError(t, await postProcess({ version_pairs: 'A1' }), 400, 'bad_request', /must be an array/);
  assertError(t, await postProcess({ storage_path: 42 }), 400, 'bad_request', /"storage_path" must be a non-empty string/);
  assertError(t, await postProcess({ storage_path: '  ' }), 400, 'bad_request', /"storage_path" must be a non-empty string/);
});

test('400 naming the element and the field for each kind of bad task', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [1, /version_pairs\[0\].*JSON object/],
    [null, /version_pairs\[0\].*JSON object/],
    [[V, V], /version_pairs\[0\].*JSON object/],
    [{ version_a: V, version_b: V }, /version_pairs\[0\].*"drawing_id" is missing/],
    [{ drawing_id: '', version_a: V, version_b: V }, /"drawing_id"/],
    [{ drawing_id: '../etc', version_a: V, version_b: V }, /"drawing_id" must be/],
    [{ drawing_id: 'has space', version_a: V, version_b: V }, /"drawing_id" must be/],
    [{ drawing_id: 'x'.repeat(129), version_a: V, version_b: V }, /"drawing_id" must be/],
    [{ drawing_id: 42, version_a: V, version_b: V }, /"drawing_id" must be/],
    [{ drawing_id: 'A1' }, /no versions given/],
    [{ drawing_id: 'A1', version_a: V }, /"version_b" is missing/],
    [{ drawing_id: 'A1', version_b_uri: 'x.json' }, /"version_a_uri" is missing/],
    [{ drawing_id: 'A1', version_a: V, version_b_uri: 'x.json' }, /cannot be combined/],
    [{ drawing_id: 'A1', version_a: V, version_b: V, storage_path: 'batch/D1' }, /cannot be combined/],
    [{ drawing_id: 'A1', version_a: { id: 'X' }, version_b: V }, /"version_a" must be a JSON array/],
    [{ drawing_id: 'A1', version_a: V, version_b: 'not json' }, /"version_b" holds a string that is not valid JSON/],
    [{ drawing_id: 'A1', version_a: V, version_b: '{"id": "X"}' }, /"version_b" must hold a JSON array/],
    [{ drawing_id: 'A1', version_a_uri: 42, version_b_uri: 'x.json' }, /"version_a_uri" must be a non-empty path/],
    [{ drawing_id: 'A1', version_a: V, version_b: V, uploaded_at: 'yesterday' }, /"uploaded_at" must be an ISO 8601/],
    [{ drawing_id: 'A1', version_a: V, version_b: V, uploaded_at: '2024-13-01T00:00:00Z' }, /"uploaded_at"/],
    [{ drawing_id: 'A1', version_a: V, version_b: V, uploaded_at: 1714564800 }, /"uploaded_at"/],
  ];
  for (const [task, message] of cases) {
    const res = await pairs(task);
    assertError(t, res, 400, undefined, message);
    t.true(['bad_request', 'malformed_task'].includes(res.body.error.code), res.text);
  }
  // the index names the offending element, not the first one
  const third = await pairs(
    { drawing_id: 'A1', version_a: V, version_b: V },
    { drawing_id: 'A2', version_a: V, version_b: V },
    { drawing_id: 'A3', version_a: V },
  );
  assertError(t, third, 400, undefined, /^version_pairs\[2\] \(drawing A3\): field "version_b" is missing/);
});

test('400 for broken, empty or unreadable JSON bodies', async (t) => {
  assertError(t, await postProcess('{"version_pairs": ['), 400, 'bad_request', /not valid JSON/);
  assertError(t, await postProcess('{"version_pairs": [}'), 400, 'bad_request', /not valid JSON/);
  assertError(t, await postProcess(''), 400, 'bad_request', /empty/);
  assertError(t, await postProcess('   \n'), 400, 'bad_request', /empty/);
  const bytes = new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]); // not UTF-8
  assertError(t, await call(`${api.url}/process`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes }), 400, 'bad_request');
});

test('400 for bad query parameters and bad job ids', async (t) => {
  assertError(t, await call(`${api.url}/changes`), 400, 'bad_request', /"drawing_id" is required/);
  assertError(t, await call(`${api.url}/changes?drawing_id=`), 400, 'bad_request', /"drawing_id" must match/);
  assertError(t, await call(`${api.url}/changes?drawing_id=a%20b`), 400, 'bad_request', /"drawing_id" must match/);
  assertError(t, await call(`${api.url}/changes?drawing_id=..%2Fetc`), 400, 'bad_request', /"drawing_id" must match/);
  assertError(t, await call(`${api.url}/changes?drawing_id=A1&drawing_id=A2`), 400, 'bad_request', /given once/);
  for (const limit of ['0', '101', 'abc', '-1', '1.5', '', '1e2', ' 5']) {
    assertError(t, await call(`${api.url}/changes?drawing_id=A1&limit=${encodeURIComponent(limit)}`), 400, 'bad_request', /"limit" must be a whole number from 1 to 100/);
  }
  assertError(t, await call(`${api.url}/changes?drawing_id=A1&limit=2&limit=3`), 400, 'bad_request', /"limit".*given once/);

  assertError(t, await call(`${api.url}/jobs/has%20space`), 400, 'bad_request', /"job_id" must be/);
  assertError(t, await call(`${api.url}/jobs/${'x'.repeat(129)}`), 400, 'bad_request', /"job_id" must be/);
  assertError(t, await call(`${api.url}/jobs/a%2Fb`), 400, 'bad_request', /"job_id" must be/);
  assertError(t, await call(`${api.url}/jobs/-leading-dash`), 400, 'bad_request', /"job_id" must be/);
});

test('404 for unknown drawings, jobs, routes and storage folders', async (t) => {
  assertError(t, await call(`${api.url}/changes?drawing_id=NEVER-SEEN`), 404, 'not_found', /NEVER-SEEN/);
  assertError(t, await call(`${api.url}/changes?drawing_id=NEVER-SEEN&limit=5`), 404, 'not_found');
  assertError(t, await call(`${api.url}/jobs/00000000-0000-0000-0000-000000000000`), 404, 'not_found', /no job/);
  assertError(t, await call(`${api.url}/nope`), 404, 'not_found', /no route for GET \/nope/);
  assertError(t, await call(`${api.url}/assets/nope.js`), 404, 'not_found'); // GET / is the dashboard
  assertError(t, await call(`${api.url}/jobs`), 404, 'not_found');
  assertError(t, await call(`${api.url}/nope`, { method: 'POST' }), 404, 'not_found');
  assertError(t, await postProcess({ storage_path: 'no-such-folder' }), 404, 'not_found', /no-such-folder/);
  assertError(t, await postProcess({ storage_path: 'batch/D1/version_a.json' }), 404, 'not_found', /not a folder/);
});

test('405 with an Allow header for a known route and the wrong method', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['GET', '/process', /POST/],
    ['PUT', '/process', /POST/],
    ['DELETE', '/process', /POST/],
    ['POST', '/changes', /GET/],
    ['DELETE', '/jobs/abc', /GET/],
    ['POST', '/metrics', /GET/],
    ['PUT', '/health', /GET/],
    ['POST', '/healthz', /GET/],
    ['PATCH', '/readyz', /GET/],
    ['PROPFIND', '/health', /GET/],
  ];
  for (const [method, route, allow] of cases) {
    const res = await call(`${api.url}${route}`, { method });
    assertError(t, res, 405, 'method_not_allowed');
    t.regex(res.headers.get('allow') ?? '', allow, `${method} ${route} names the allowed methods`);
  }
});

test('413 for a body over MAX_BODY_BYTES, declared or streamed, and for too many pairs', async (t) => {
  const big = JSON.stringify({ version_pairs: [{ drawing_id: 'A1', version_a: 'x'.repeat(MAX_BODY_BYTES), version_b: '[]' }] });
  assertError(t, await postProcess(big), 413, 'payload_too_large', new RegExp(`limit of ${MAX_BODY_BYTES} bytes`));

  // streamed without a Content-Length: the limit is enforced while reading
  const streamed = await new Promise<ApiResponse>((resolve, reject) => {
    const req = request(`${api.url}/process`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), text, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    for (let i = 0; i < 8; i++) req.write('x'.repeat(512));
    req.end();
  });
  assertError(t, streamed, 413, 'payload_too_large');

  const task = { drawing_id: 'A1', version_a: V, version_b: V };
  assertError(t, await pairs(...Array.from({ length: MAX_PAIRS + 1 }, () => task)), 413, 'payload_too_large', /4 tasks, more than the limit of 3/);
  const atLimit = await pairs(...Array.from({ length: MAX_PAIRS }, () => task));
  t.is(atLimit.status, 202, atLimit.text);

  // a storage_path folder has its own pair limit
  assertError(t, await postProcess({ storage_path: 'many' }), 413, 'payload_too_large', /holds 3 pairs, more than the limit of 2.*narrower prefix/);
});

test('415 for a body that is not declared as JSON', async (t) => {
  const json = JSON.stringify({ version_pairs: [{ drawing_id: 'A1', version_a: V, version_b: V }] });
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
    assertError(t, await postProcess(json, { 'content-type': type }), 415, 'unsupported_media_type', /must be JSON/);
  }
  assertError(t, await call(`${api.url}/process`, { method: 'POST', body: new Uint8Array(Buffer.from(json)) }), 415, 'unsupported_media_type');
  // JSON with a charset, or a +json type, is JSON
  t.is((await postProcess(json, { 'content-type': 'application/json; charset=utf-8' })).status, 202);
  t.is((await postProcess(json, { 'content-type': 'application/vnd.buildtrace+json' })).status, 202);
});

test('400 for references that leave the input store, in the same words in every form, without naming the input directory', async (t) => {
  const same = /is outside the input store: give a relative path without "\.\." segments, got /;
  const refusals: Array<[string, ApiResponse]> = [];
  for (const storage_path of ['..', '../', '../../etc', 'batch/../../', '/etc', '/', 'batch/../batch', api.inputDir, `${api.inputDir}/batch`]) {
    refusals.push([storage_path, await postProcess({ storage_path })]);
  }
  // a foreign bucket and the input directory by an absolute path or by a ".." that stays inside are
  // all refused at once (they were accepted and failed later, or accepted, telling where the folder is)
  for (const ref of ['../secret.json', 'batch/../../secret.json', '/etc/passwd', 'file:///etc/passwd', 'gs://other-bucket/x.json',
    'batch/../batch/D1/version_a.json', `${api.inputDir}/batch/D1/version_a.json`]) {
    refusals.push([ref, await pairs({ drawing_id: 'A1', version_a_uri: ref, version_b_uri: 'batch/D1/version_b.json' })]);
    refusals.push([ref, await pairs({ drawing_id: 'A1', version_a_uri: 'batch/D1/version_a.json', version_b_uri: ref })]);
    refusals.push([ref, await pairs({ drawing_id: 'A1', storage_path: ref })]);
  }
  refusals.push(['gs://other-bucket/x', await postProcess({ storage_path: 'gs://other-bucket/x' })]);
  for (const [sent, res] of refusals) {
    assertError(t, res, 400, 'forbidden_path', same);
    // only what the client sent is echoed: nothing tells where the input directory is
    const told = res.body.error.message.replace(JSON.stringify(sent), '');
    t.false(told.includes(api.dataDir), res.text);
  }
  // a 100 KB reference is not echoed back whole
  const long = `../${'x'.repeat(1500)}`; // MAX_BODY_BYTES is 2 KB here
  for (const res of [await postProcess({ storage_path: long }), await pairs({ drawing_id: 'A1', storage_path: long })]) {
    assertError(t, res, 400);
    t.true(res.text.length < 400, `${res.text.length} characters`);
  }
  // relative paths inside the input directory are fine
  t.is((await pairs({ drawing_id: 'D1', storage_path: 'batch/D1' })).status, 202);
  t.is((await pairs({ drawing_id: 'D1', version_a_uri: 'batch/D1/version_a.json', version_b_uri: './batch/D1/version_b.json' })).status, 202);
  t.is((await postProcess({ storage_path: 'batch' })).status, 202);
});

test('a missing INPUT_DIR is a 404 that does not reveal the server\'s file layout', async (t) => {
  const own = await startApi(t);
  rmSync(own.inputDir, { recursive: true });
  const res = await postJson(`${own.url}/process`, { storage_path: 'batch' });
  assertError(t, res, 404, 'not_found');
  t.false(res.text.includes(own.dataDir), res.text);
});
