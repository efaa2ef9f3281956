/**
 * Careless and hostile clients against the real service (issue 15): slow and stalled requests
 * over raw sockets, the connection and keep-alive caps, errors of Node's own HTTP layer in the
 * JSON shape, compressed bodies, the header policy, one idempotency key, numbers and strings
 * that used to be stored as `null`, "inf" or `�`, percentiles above the max, and `/health`
 * under a flood of lesser anomalies.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test, { type ExecutionContext } from 'ava';
import type { HealthAnomaly } from '../../streams/detect/health.js';
import type { Anomaly } from '../../src/domain/types.js';
import { openLocalStore } from '../../sinks/local-store/index.js';
import { call, deadLetters, obj, postJson, startApi, waitForJob, type ApiService } from '../support/api-fixture.js';
import { waitFor } from '../support/in-process.js';

interface RawExchange {
  /** Everything the server sent before it closed the connection (or the wait ended). */
  readonly text: string;
  readonly closed: boolean;
}

/**
 * Opens a raw connection, writes `chunks` (then stalls: never ends the request), and collects
 * what the server sends until it closes the connection or `waitMs` passes.
 */
function rawExchange(url: string, chunks: readonly string[], waitMs: number): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
    socket.on('data', (data) => {
      text += data.toString('utf8');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
  });
}

/** The status and parsed JSON body of the first response in a raw exchange. */
function firstResponse(t: ExecutionContext, raw: RawExchange): { status: number; headers: string; body: any } {
  const match = /^HTTP\/1\.1 (\d{3})[^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(raw.text);
  if (!match) {
    t.fail(`no HTTP response in ${JSON.stringify(raw.text.slice(0, 200))}`);
    return { status: 0, headers: '', body: null };
  }
  const headers = match[2] as string;
  const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? NaN);
  const bodyText = Number.isFinite(length) ? (match[3] as string).slice(0, length) : (match[3] as string);
  let body: any = null;
  try {
    body = JSON.parse(bodyText);
  } catch {
    t.fail(`body is not JSON: ${JSON.stringify(bodyText.slice(0, 200))}`);
  }
  return { status: Number(match[1]), headers, body };
}

function assertShaped(t: ExecutionContext, body: any, code?: string): void {
  t.deepEqual(Object.keys(body ?? {}), ['error'], JSON.stringify(body));
  t.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
  if (code) t.is(body.error.code, code);
  t.false(/\n\s+at /.test(body.error.message), 'no stack trace');
}

const V = [obj('X', 'door', 0, 0)];
const BIG = 1.7e308;

test('a body that stops arriving is cut off with a 408 in the error shape, chunked or with a Content-Length', async (t) => {
  const api = await startApi(t, { REQUEST_TIMEOUT_SECONDS: '2' });
  const head = (extra: string) => `POST /process HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${extra}\r\n`;
  const cases = [
    // a chunked body whose last chunk never comes
    [head('Transfer-Encoding: chunked\r\n'), '5\r\n{"ver\r\n'],
    // a Content-Length that is never reached
    [head('Content-Length: 1000\r\n'), '{"version_pairs": ['],
    // a slowloris: the headers never end
    ['POST /process HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n'],
  ];
  // Before, each was held open for over 60 s (the slowloris got a bare 408 after 24 s).
  const answers = await Promise.all(cases.map((chunks) => rawExchange(api.url, chunks, 15_000)));
  for (const raw of answers) {
    t.true(raw.closed, `closed by the server: ${raw.text}`);
    const res = firstResponse(t, raw);
    t.is(res.status, 408, raw.text);
    assertShaped(t, res.body, 'request_timeout');
  }
  // and the service still answers
  t.is((await call(`${api.url}/healthz`)).status, 200);
});

test('connections past MAX_CONNECTIONS get a 503 in the error shape; the ones within keep working', async (t) => {
  const api = await startApi(t, { MAX_CONNECTIONS: '2' });
  const { hostname, port } = new URL(api.url);
  const held = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connect(Number(port), hostname, () => resolve(socket));
        }),
    ),
  );
  t.teardown(() => held.forEach((s) => s.destroy()));
  const over = await rawExchange(api.url, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], 5_000);
  const res = firstResponse(t, over);
  t.is(res.status, 503);
  assertShaped(t, res.body, 'unavailable');
  t.true(over.closed);
  // a held connection is served
  const answered = await new Promise<string>((resolve) => {
    let text = '';
    held[0]!.on('data', (d) => {
      text += d.toString();
      if (text.includes('"ok"')) resolve(text);
    });
    held[0]!.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  });
  t.regex(answered, /^HTTP\/1\.1 200/);
});

test('a kept-alive connection is closed after MAX_REQUESTS_PER_CONNECTION requests', async (t) => {
  const api = await startApi(t, { MAX_REQUESTS_PER_CONNECTION: '2' });
  const request = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  const raw = await rawExchange(api.url, [request, request, request], 5_000);
  t.true(raw.closed, 'the server closed the connection');
  const statuses = [...raw.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  // two answers, the second saying the connection closes; the third request is not served
  t.deepEqual(statuses, ['200', '200']);
  t.regex(raw.text.split('HTTP/1.1 ')[1] ?? '', /connection: keep-alive/i);
  t.regex(raw.text.split('HTTP/1.1 ')[2] ?? '', /connection: close/i);
});

test('errors of the HTTP layer are in the JSON error shape: 400 for a broken request, 431 for huge headers; TRACE is a 405 with Allow', async (t) => {
  const api = await startApi(t);
  const broken = firstResponse(t, await rawExchange(api.url, ['NOT A REQUEST\r\n\r\n'], 5_000));
  t.is(broken.status, 400);
  assertShaped(t, broken.body, 'bad_request');

  const huge = firstResponse(t, await rawExchange(api.url, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`], 5_000));
  t.is(huge.status, 431);
  assertShaped(t, huge.body, 'headers_too_large');

  // fetch refuses to send TRACE, so it goes over a raw socket too
  const trace = firstResponse(t, await rawExchange(api.url, ['TRACE /process HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 5_000));
  t.is(trace.status, 405);
  assertShaped(t, trace.body, 'method_not_allowed');
  t.regex(trace.headers, /^allow: POST$/im);
});

test('a gzip body is refused with 415 (its bytes never echoed); long values are echoed cut short', async (t) => {
  const api = await startApi(t);
  const body = gzipSync(JSON.stringify({ version_pairs: [{ drawing_id: 'A1', version_a: V, version_b: V }] }));
  const res = await call(`${api.url}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: new Uint8Array(body),
  });
  t.is(res.status, 415);
  assertShaped(t, res.body, 'unsupported_media_type');
  t.regex(res.body.error.message, /compressed/);

  const long = await postJson(`${api.url}/process`, { storage_path: `../${'y'.repeat(100_000)}` });
  t.is(long.status, 400);
  t.true(long.text.length < 400, `${long.text.length} characters echoed`);
});

test('every answer carries nosniff, no-store and a restrictive Content-Security-Policy, errors included', async (t) => {
  const api = await startApi(t);
  const answers = [
    await call(`${api.url}/healthz`),
    await call(`${api.url}/changes?drawing_id=NONE`),
    await call(`${api.url}/nowhere`),
    await postJson(`${api.url}/process`, { version_pairs: [{ drawing_id: 'A1', version_a: V, version_b: V }] }),
  ];
  for (const res of answers) {
    t.is(res.headers.get('x-content-type-options'), 'nosniff');
    t.is(res.headers.get('cache-control'), 'no-store');
    t.is(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'");
  }
});

test('task_id is the one idempotency key: repeated within a request and across requests, one task, one result, one count', async (t) => {
  const api = await startApi(t);
  const task = { drawing_id: 'IDEM-1', task_id: 'client-key-1', version_a: V, version_b: [obj('X', 'door', 5, 0)] };
  const first = await postJson(`${api.url}/process`, { version_pairs: [task, task, { ...task, drawing_id: 'IDEM-2', task_id: 'client-key-2' }] });
  t.is(first.status, 202, first.text);
  t.is(first.body.tasks_created, 2);
  t.is(first.body.duplicates, 1);
  t.regex(first.body.message, /1 element\(s\) repeated an earlier task_id and were not queued again \(1 within this request, 0 queued by an earlier request/);
  t.like(await waitForJob(api.url, first.body.job_id), { completed: 2, failed: 0, pending: 0 });

  // a later request repeating a processed key, beside a new one: the repeat is a duplicate, not a task
  const again = await postJson(`${api.url}/process`, { version_pairs: [task, { ...task, drawing_id: 'IDEM-3', task_id: 'client-key-3' }] });
  t.is(again.status, 202, again.text);
  t.is(again.body.tasks_created, 1);
  t.is(again.body.duplicates, 1);
  t.regex(again.body.message, /^Queued 1 task\(s\) for processing; 1 element\(s\) repeated an earlier task_id and were not queued again \(0 within this request, 1 queued by an earlier request/);
  t.deepEqual(await waitForJob(api.url, again.body.job_id), { job_id: again.body.job_id, tasks_created: 1, completed: 1, failed: 0, pending: 0 });

  // a request made only of repeats creates no task and has nothing pending
  const only = await postJson(`${api.url}/process`, { version_pairs: [task] });
  t.is(only.status, 202, only.text);
  t.like(only.body, { tasks_created: 0, duplicates: 1 });
  t.deepEqual((await call(`${api.url}/jobs/${only.body.job_id}`)).body, { job_id: only.body.job_id, tasks_created: 0, completed: 0, failed: 0, pending: 0 });

  const history = await call(`${api.url}/changes?drawing_id=IDEM-1&limit=10`);
  t.is(history.body.length, 1, 'one result for the key');
  t.like((await call(`${api.url}/jobs/${first.body.job_id}`)).body, { tasks_created: 2, completed: 2, pending: 0 });
  const metrics = (await call(`${api.url}/metrics`)).body;
  t.is(metrics.pairs_total, 3, 'IDEM-1, IDEM-2 and IDEM-3 counted once each');
});

test('two requests racing with the same new task_id: one result and one count, and both jobs finish with nothing pending', async (t) => {
  const api = await startApi(t);
  const task = { drawing_id: 'RACE-1', task_id: 'race-key', version_a: V, version_b: [obj('X', 'door', 5, 0)] };
  const answers = await Promise.all([1, 2].map(() => postJson(`${api.url}/process`, { version_pairs: [task] })));
  for (const answer of answers) t.is(answer.status, 202, answer.text);
  // however the two interleaved, each element is either a task of its job or a duplicate
  t.is(answers.reduce((n, a) => n + a.body.tasks_created + a.body.duplicates, 0), 2);
  t.true(answers.some((a) => a.body.tasks_created === 1));
  for (const answer of answers) {
    const job = await waitForJob(api.url, answer.body.job_id);
    t.deepEqual(job, { job_id: answer.body.job_id, tasks_created: answer.body.tasks_created, completed: answer.body.tasks_created, failed: 0, pending: 0 });
  }
  t.is((await call(`${api.url}/changes?drawing_id=RACE-1&limit=10`)).body.length, 1);
  t.is((await call(`${api.url}/metrics`)).body.pairs_total, 1);
});

test('numbers whose differences would overflow, and 1e309, are malformed with a clear reason; nothing is stored as null or inf', async (t) => {
  const api = await startApi(t);
  const body = `{"version_pairs": [
    {"drawing_id": "HUGE-1", "version_a": [{"id": "D1", "type": "door", "x": -${BIG}, "y": 0, "width": 1, "height": 1}],
                              "version_b": [{"id": "D1", "type": "door", "x": ${BIG}, "y": 0, "width": 1, "height": 1}]},
    {"drawing_id": "HUGE-2", "version_a": [{"id": "D1", "type": "door", "x": 1e309, "y": 0, "width": 1, "height": 1}], "version_b": []},
    {"drawing_id": "FINE-1", "version_a": [{"id": "D1", "type": "door", "x": -8e307, "y": 0, "width": 1, "height": 1}],
                              "version_b": [{"id": "D1", "type": "door", "x": 8e307, "y": 0, "width": 1, "height": 1}]}
  ]}`;
  const res = await postJson(`${api.url}/process`, body);
  t.is(res.status, 202, res.text);
  t.like(await waitForJob(api.url, res.body.job_id), { completed: 1, failed: 2 });
  t.is((await call(`${api.url}/changes?drawing_id=HUGE-1`)).status, 404);
  const reasons = new Map(deadLetters(api.dataDir).map((l) => [l.drawing_id, l.reason_message]));
  t.regex(reasons.get('HUGE-1') ?? '', /version_b, object 0: field "x" changed from -1\.7e\+308 to 1\.7e\+308, a difference too large for a double: the change cannot be measured/);
  t.regex(reasons.get('HUGE-2') ?? '', /field "x" must be a finite number, got Infinity \(a number too large for a double\)/);
  t.notRegex(reasons.get('HUGE-2') ?? '', /got null/);

  const fine = await call(`${api.url}/changes?drawing_id=FINE-1`);
  t.is(fine.status, 200);
  const moved = fine.body.moved[0];
  t.is(moved.dx, 1.6e308);
  t.is(moved.distance, 1.6e308);
  t.false(/null|inf/i.test(JSON.stringify(fine.body)), JSON.stringify(fine.body).slice(0, 300));
});

test('strings are well-formed Unicode or malformed; a byte-order mark is accepted in every input path', async (t) => {
  const api = await startApi(t);
  mkdirSync(path.join(api.inputDir, 'bom', 'BOM-FILE'), { recursive: true });
  for (const file of ['version_a.json', 'version_b.json']) {
    writeFileSync(path.join(api.inputDir, 'bom', 'BOM-FILE', file), `\ufeff${JSON.stringify(V)}`);
  }
  // a lone surrogate as JSON sends it: an escape, since raw bytes could not be UTF-8
  const body = `{"version_pairs": [
    {"drawing_id": "SURR-1", "version_a": [], "version_b": [{"id": "D\\ud800", "type": "door", "x": 0, "y": 0, "width": 1, "height": 1}]},
    {"drawing_id": "BOM-INLINE", "version_a": ${JSON.stringify(`\ufeff${JSON.stringify(V)}`)}, "version_b": ${JSON.stringify(JSON.stringify(V))}},
    {"drawing_id": "BOM-FILE", "storage_path": "bom/BOM-FILE"}
  ]}`;
  const res = await postJson(`${api.url}/process`, `\ufeff${body}`);
  t.is(res.status, 202, res.text);
  t.like(await waitForJob(api.url, res.body.job_id), { completed: 2, failed: 1 });
  t.regex(deadLetters(api.dataDir).find((l) => l.drawing_id === 'SURR-1')?.reason_message ?? '', /field "id" is not well-formed Unicode/);
  for (const id of ['BOM-INLINE', 'BOM-FILE']) t.is((await call(`${api.url}/changes?drawing_id=${id}`)).status, 200, id);

  const badTaskId = await postJson(`${api.url}/process`, `{"version_pairs": [{"drawing_id": "S2", "task_id": "k\\udc00", "version_a": [], "version_b": []}]}`);
  t.is(badTaskId.status, 400);
  t.regex(badTaskId.body.error.message, /"task_id" must be a well-formed string/);
});

test('an upload stamped in 1970 never makes end_to_end_p95 larger than end_to_end_max', async (t) => {
  const api = await startApi(t);
  const res = await postJson(`${api.url}/process`, {
    version_pairs: [{ drawing_id: 'OLD-1', uploaded_at: '1970-01-01T00:00:00Z', version_a: V, version_b: V }],
  });
  t.like(await waitForJob(api.url, res.body.job_id), { completed: 1 });
  const metrics = (await call(`${api.url}/metrics`)).body;
  t.true(metrics.end_to_end_max > 0);
  for (const key of ['end_to_end_p50', 'end_to_end_p95', 'end_to_end_p99']) {
    t.true(metrics[key] <= metrics.end_to_end_max, `${key} ${metrics[key]} > max ${metrics.end_to_end_max}`);
  }
});

test('/health keeps the newest high-severity anomalies under a flood of lesser ones', async (t) => {
  const api = await startApi(t);
  // a high-severity delayed_upload first (an upload a day old)
  const old = new Date(Date.now() - 24 * 3600_000).toISOString();
  const delayed = await postJson(`${api.url}/process`, { version_pairs: [{ drawing_id: 'LATE-1', uploaded_at: old, version_a: V, version_b: V }] });
  await waitForJob(api.url, delayed.body.job_id);
  // then 150 missing uploads, each its own medium anomaly, all newer
  for (let i = 0; i < 150; i++) {
    const folder = path.join(api.inputDir, 'flood', `H${String(i).padStart(3, '0')}`);
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'version_a.json'), '[]');
  }
  const flood = await postJson(`${api.url}/process`, { storage_path: 'flood' });
  t.is(flood.body.missing_uploads, 150);
  const health = (await call(`${api.url}/health`)).body;
  const anomalies = health.anomalies as HealthAnomaly[];
  t.is(anomalies.length, 100);
  const late = anomalies.find((a) => a.drawing_id === 'LATE-1' && a.type === 'delayed_upload');
  t.is(late?.severity, 'high', JSON.stringify(anomalies.slice(0, 3)));
  t.true(health.warnings.some((w: string) => /150 missing uploads/.test(w)), JSON.stringify(health.warnings));

  // and under a flood larger than /health reads at once (6,000 more, written straight to the store)
  const store = openLocalStore({ dataDir: api.dataDir });
  t.teardown(() => store.close());
  const now = Date.now();
  const flood6k = Array.from({ length: 6_000 }, (_, i): Anomaly => ({
    id: `flood:${i}`,
    drawingId: `F${i}`,
    type: 'missing_upload',
    severity: 'medium',
    details: { present_file: 'version_a.json' },
    timestamp: new Date(now + i),
  }));
  await store.writeBatch({ results: [], failures: [], anomalies: flood6k });
  // /health reads the store in the background (every 2 s at most): wait for the flood to show
  const flooded = await waitFor(
    async () => {
      const body = (await call(`${api.url}/health`)).body;
      return body.anomalies.some((a: HealthAnomaly) => a.drawing_id === 'F5999') ? body : undefined;
    },
    10_000,
    "the flood written by another connection to reach /health's cached read",
  );
  t.is(flooded.anomalies.length, 100);
  t.is(flooded.anomalies.find((a: HealthAnomaly) => a.drawing_id === 'LATE-1' && a.type === 'delayed_upload')?.severity, 'high');
  t.true(flooded.anomalies.some((a: HealthAnomaly) => a.drawing_id === 'F5999'), 'the newest of the flood is listed too');
});

test('GET /changes is bounded: at most CHANGES_PAGE_ITEMS per kind with counts and a next link, history is summaries, and every item stays reachable', async (t) => {
  const api = await startApi(t, { CHANGES_PAGE_ITEMS: '5' });
  const a = Array.from({ length: 23 }, (_, i) => obj(`M${String(i).padStart(2, '0')}`, 'door', i, 0));
  const b = [...a.map((o) => ({ ...o, x: o.x + 3 })), obj('N1', 'window', 0, 9), obj('N2', 'window', 1, 9)];
  const res = await postJson(`${api.url}/process`, { version_pairs: [{ drawing_id: 'BIG-1', version_a: a, version_b: b }] });
  await waitForJob(api.url, res.body.job_id);

  const latest = await call(`${api.url}/changes?drawing_id=BIG-1`);
  t.is(latest.status, 200);
  t.is(latest.body.moved.length, 5);
  t.is(latest.body.added.length, 2);
  t.deepEqual(latest.body.counts, { added: 2, removed: 0, moved: 23, modified: 0 });
  t.deepEqual(Object.keys(latest.body.next), ['moved'], 'only the truncated kind has a next page');

  // following the links gives every moved item once, in order
  const ids: string[] = latest.body.moved.map((m: { id: string }) => m.id);
  let next: string | null = latest.body.next.moved;
  let pages = 0;
  while (next) {
    const page = await call(`${api.url}${next}`);
    t.is(page.status, 200, page.text);
    t.is(page.body.total, 23);
    t.true(page.body.items.length <= 5);
    ids.push(...page.body.items.map((m: { id: string }) => m.id));
    next = page.body.next;
    pages += 1;
  }
  t.is(pages, 4);
  t.deepEqual(ids, a.map((o) => o.id));

  const history = await call(`${api.url}/changes?drawing_id=BIG-1&limit=5`);
  t.deepEqual(Object.keys(history.body[0]).sort(), ['counts', 'created_at', 'drawing_id', 'job_id', 'processing_time_ms', 'summary']);

  // bad paging parameters are 400s in the error shape
  for (const query of ['kind=moved&cursor=nonsense', 'kind=sideways', 'kind=moved&limit=6', 'kind=moved&limit=0']) {
    const bad = await call(`${api.url}/changes/items?drawing_id=BIG-1&${query}`);
    t.is(bad.status, 400, query);
    assertShaped(t, bad.body, 'bad_request');
  }
  t.is((await call(`${api.url}/changes/items?drawing_id=NONE&kind=moved`)).status, 404);
});
