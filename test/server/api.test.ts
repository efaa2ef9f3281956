/**
 * The HTTP API of the real embedded service, over real sockets: every task form accepted by
 * `POST /process` is processed and answered by `/jobs` and `/changes` with the design's change
 * semantics; folders with half pairs become missing uploads; `/metrics`, `/health`, `/healthz`
 * and `/readyz` have the documented shapes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { call, obj, postJson, startApi, waitForJob, writePair } from '../support/api-fixture.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Version A and B of one drawing exercising every kind of change at once. */
const A = [
  obj('D1', 'door', 0, 0, 1, 2),
  obj('W1', 'window', 5, 5, 1, 1),
  obj('R1', 'wall', 9, 9, 4, 1),
  obj('S1', 'stair', 3, 3, 2, 2),
  obj('T1', 'table', 7, 7, 1, 1),
];
const B = [
  obj('D1', 'door', 2, 0, 2, 2), // moved 2 east and wider
  obj('W1', 'window', 6, 8, 1, 1), // dx 1, dy 3: north wins
  obj('S1', 'stair', 3, 3, 2, 2), // unchanged
  obj('T1', 'table', 7.05, 6.95, 1, 1), // within the 0.1 tolerance: not moved
  obj('C1', 'column', 4, 2, 1, 1), // added
]; // R1 removed

const byId = <T extends { id: string }>(items: readonly T[]): Record<string, T> =>
  Object.fromEntries(items.map((item) => [item.id, item]));

test('POST /process takes every task form, and /jobs and /changes answer with the change semantics', async (t) => {
  // given a service and one pair in each form the design allows
  const api = await startApi(t);
  mkdirSync(path.join(api.inputDir, 'refs'), { recursive: true });
  writeFileSync(path.join(api.inputDir, 'refs', 'R-a.json'), JSON.stringify(A));
  writeFileSync(path.join(api.inputDir, 'refs', 'R-b.json'), JSON.stringify(B));
  const folder = writePair(api.inputDir, 'pairs', 'SEED-1', A, B);

  // when they are posted in one request
  const accepted = await postJson(`${api.url}/process`, {
    version_pairs: [
      { drawing_id: 'INLINE-1', version_a: A, version_b: B },
      { drawing_id: 'STRING-1', version_a: JSON.stringify(A), version_b: JSON.stringify(B) },
      { drawing_id: 'REF-1', version_a_uri: 'refs/R-a.json', version_b_uri: 'refs/R-b.json' },
      { drawing_id: 'SEED-1', storage_path: folder },
      { drawing_id: 'SAME-1', version_a: A, version_b: A },
    ],
  });

  // then the job is accepted with its size, and completes
  t.is(accepted.status, 202, accepted.text);
  t.deepEqual(Object.keys(accepted.body).sort(), ['duplicates', 'job_id', 'message', 'tasks_created']);
  t.is(accepted.body.duplicates, 0);
  t.is(accepted.body.tasks_created, 5);
  t.regex(accepted.body.job_id, /^[0-9a-f-]{36}$/);
  t.regex(accepted.body.message, /5 task/);
  const jobId: string = accepted.body.job_id;
  const job = await waitForJob(api.url, jobId);
  t.deepEqual(job, { job_id: jobId, tasks_created: 5, completed: 5, failed: 0, pending: 0 });

  // and every form gives the same answer for the same versions
  const answers = [];
  for (const id of ['INLINE-1', 'STRING-1', 'REF-1', 'SEED-1']) {
    const res = await call(`${api.url}/changes?drawing_id=${id}`);
    t.is(res.status, 200, res.text);
    t.deepEqual(
      Object.keys(res.body).sort(),
      ['added', 'counts', 'created_at', 'drawing_id', 'job_id', 'modified', 'moved', 'processing_time_ms', 'removed', 'summary'],
    );
    t.is(res.body.drawing_id, id);
    t.is(res.body.job_id, jobId);
    t.regex(res.body.created_at, ISO);
    t.true(Number.isFinite(res.body.processing_time_ms) && res.body.processing_time_ms >= 0);
    const { drawing_id: _d, created_at: _c, processing_time_ms: _p, ...changes } = res.body;
    answers.push(changes);
  }
  for (const other of answers.slice(1)) t.deepEqual(other, answers[0]);

  const c = answers[0];
  t.deepEqual(c.added, [{ id: 'C1', type: 'column', to: { x: 4, y: 2, width: 1, height: 1 }, description: 'C1 (column at 4.0,2.0)' }]);
  t.deepEqual(c.removed, [{ id: 'R1', type: 'wall', from: { x: 9, y: 9, width: 4, height: 1 }, description: 'R1 (wall)' }]);
  const moved = byId(c.moved as { id: string }[]);
  t.deepEqual(Object.keys(moved).sort(), ['D1', 'W1'], 'T1 moved less than the tolerance; S1 did not move');
  t.like(moved.D1, { from: { x: 0, y: 0 }, to: { x: 2, y: 0 }, dx: 2, dy: 0, direction: 'east', distance: 2, description: 'D1 moved 2.0 units east' });
  t.like(moved.W1, { dx: 1, dy: 3, direction: 'north', distance: 3, description: 'W1 moved 3.0 units north' });
  t.is(c.modified.length, 1);
  t.like(c.modified[0], { id: 'D1', type: 'door', from: { width: 1, height: 2 }, to: { width: 2, height: 2 }, fields: ['width'] });
  t.regex(c.modified[0].description, /^D1 modified: width 1\.0 → 2\.0/);
  t.regex(c.summary, /moved/);
  t.regex(c.summary, /added/);
  t.regex(c.summary, /removed/);
  t.regex(c.summary, /modified/);

  const same = await call(`${api.url}/changes?drawing_id=SAME-1`);
  t.like(same.body, { added: [], removed: [], moved: [], modified: [], summary: 'No changes detected.' });
});

test('GET /changes gives the latest result alone, and &limit=N the history newest first', async (t) => {
  // given three revisions of one drawing processed one after another
  const api = await startApi(t);
  const revisions = [
    [obj('D1', 'door', 0, 0)],
    [obj('D1', 'door', 5, 0)],
    [obj('D1', 'door', 5, 7)],
  ];
  const jobs: string[] = [];
  for (let i = 1; i < revisions.length + 1; i++) {
    const from = revisions[i - 1];
    const to = revisions[i] ?? [];
    const res = await postJson(`${api.url}/process`, { version_pairs: [{ drawing_id: 'H-1', version_a: from, version_b: to }] });
    t.is(res.status, 202, res.text);
    jobs.push(res.body.job_id);
    await waitForJob(api.url, res.body.job_id);
  }

  // when the history is asked for
  const latest = await call(`${api.url}/changes?drawing_id=H-1`);
  const two = await call(`${api.url}/changes?drawing_id=H-1&limit=2`);
  const all = await call(`${api.url}/changes?drawing_id=H-1&limit=100`);
  const one = await call(`${api.url}/changes?drawing_id=H-1&limit=1`);

  // then the plain answer is one object, limit gives summaries (no items: N results could be huge) newest first
  t.is(latest.status, 200);
  t.false(Array.isArray(latest.body));
  t.is(latest.body.job_id, jobs[2]);
  t.deepEqual(latest.body.removed.map((r: { id: string }) => r.id), ['D1'], 'the last revision removed D1');
  t.true(Array.isArray(two.body));
  t.deepEqual(two.body.map((r: { job_id: string }) => r.job_id), [jobs[2], jobs[1]]);
  t.deepEqual(all.body.map((r: { job_id: string }) => r.job_id), [jobs[2], jobs[1], jobs[0]]);
  const { added: _a, removed: _r, moved: _m, modified: _d, ...latestSummary } = latest.body;
  t.deepEqual(one.body, [latestSummary]);
  const times = all.body.map((r: { created_at: string }) => r.created_at);
  t.deepEqual(times, [...times].sort().reverse());
  t.deepEqual(all.body.map((r: { counts: Record<string, number> }) => r.counts), [
    { added: 0, removed: 1, moved: 0, modified: 0 },
    { added: 0, removed: 0, moved: 1, modified: 0 },
    { added: 0, removed: 0, moved: 1, modified: 0 },
  ]);
  t.regex(all.body[1].summary, /D1 moved 7\.0 units north/);
  t.regex(all.body[2].summary, /D1 moved 5\.0 units east/);
});

test('POST /process with a storage_path folder queues whole pairs only; half pairs are missing uploads in /health', async (t) => {
  // given a folder with two pairs, two half pairs, a stray file and a folder that is not a drawing id
  const api = await startApi(t);
  writePair(api.inputDir, 'batch', 'P1', [obj('X', 'door', 0, 0)], [obj('X', 'door', 1, 0)]);
  writePair(api.inputDir, 'batch', 'P2', [obj('X', 'door', 0, 0)], [obj('X', 'door', 0, 0)]);
  writePair(api.inputDir, 'batch', 'HALF-A', [obj('X', 'door', 0, 0)]);
  mkdirSync(path.join(api.inputDir, 'batch', 'HALF-B'), { recursive: true });
  writeFileSync(path.join(api.inputDir, 'batch', 'HALF-B', 'version_b.json'), '[]');
  writeFileSync(path.join(api.inputDir, 'batch', 'notes.txt'), 'not a drawing');
  mkdirSync(path.join(api.inputDir, 'batch', '.hidden'), { recursive: true });
  writePair(api.inputDir, 'batch', 'bad name', [obj('X', 'door', 0, 0)], [obj('X', 'door', 1, 0)]);

  const healthBefore = await call(`${api.url}/health`);
  t.is(healthBefore.body.status, 'healthy');

  // when the folder is posted
  const res = await postJson(`${api.url}/process`, { storage_path: 'batch/' });

  // then one task per pair, and the half pairs are reported, not queued
  t.is(res.status, 202, res.text);
  t.is(res.body.tasks_created, 2);
  t.is(res.body.missing_uploads, 2);
  t.regex(res.body.message, /2 folder\(s\) hold only one version/);
  // and a folder of versions under a name that is not a drawing id is reported, not lost
  t.is(res.body.invalid_folders, 1);
  t.regex(res.body.message, /1 folder\(s\) are not named as a drawing id/);
  const job = await waitForJob(api.url, res.body.job_id);
  t.like(job, { tasks_created: 2, completed: 2, failed: 0, pending: 0 });
  t.is((await call(`${api.url}/changes?drawing_id=P1`)).body.moved[0].description, 'X moved 1.0 units east');
  t.is((await call(`${api.url}/changes?drawing_id=HALF-A`)).status, 404);

  const health = await call(`${api.url}/health`);
  t.is(health.status, 200);
  t.is(health.body.status, 'degraded');
  const missing = health.body.anomalies.filter((a: { type: string }) => a.type === 'missing_upload');
  t.deepEqual(missing.map((a: { drawing_id: string }) => a.drawing_id).sort(), ['HALF-A', 'HALF-B']);
  const halfA = missing.find((a: { drawing_id: string }) => a.drawing_id === 'HALF-A');
  t.deepEqual(Object.keys(halfA).sort(), ['details', 'drawing_id', 'severity', 'timestamp', 'type']);
  t.like(halfA.details, { storage_path: 'batch/HALF-A', present_file: 'version_a.json', missing_file: 'version_b.json' });
  t.regex(halfA.timestamp, ISO);
  t.true(health.body.warnings.some((w: string) => /2 missing uploads/.test(w)), JSON.stringify(health.body.warnings));

  const misnamed = health.body.anomalies.filter((a: { type: string }) => a.type === 'malformed_input');
  t.is(misnamed.length, 1);
  t.like(misnamed[0].details, { code: 'malformed_task', storage_path: 'batch/bad name' });
  t.regex(misnamed[0].details.message, /folder "bad name" holds version files, but its name is not a drawing id/);

  const metrics = await call(`${api.url}/metrics`);
  t.is(metrics.body.data_quality_issues, 3);

  // and posting the same folder again reports the same half pairs once (deterministic ids)
  const again = await postJson(`${api.url}/process`, { storage_path: 'batch' });
  t.is(again.status, 202);
  await waitForJob(api.url, again.body.job_id);
  const after = await call(`${api.url}/health`);
  t.is(after.body.anomalies.filter((a: { type: string }) => a.type === 'missing_upload').length, 2);
  t.is(after.body.anomalies.filter((a: { type: string }) => a.type === 'malformed_input').length, 1);
});

test('a storage_path folder of half pairs only creates no tasks and a job that is already done', async (t) => {
  const api = await startApi(t);
  writePair(api.inputDir, 'halves', 'ONLY-A', [obj('X', 'door', 0, 0)]);
  const res = await postJson(`${api.url}/process`, { storage_path: 'halves' });
  t.is(res.status, 202, res.text);
  t.is(res.body.tasks_created, 0);
  t.is(res.body.missing_uploads, 1);
  const job = await call(`${api.url}/jobs/${res.body.job_id}`);
  t.deepEqual(job.body, { job_id: res.body.job_id, tasks_created: 0, completed: 0, failed: 0, pending: 0 });
});

test('/metrics, /health, /healthz and /readyz have the documented shapes, before and after work', async (t) => {
  // given a fresh service
  const api = await startApi(t);

  // then it is healthy and ready, with empty metrics
  t.deepEqual((await call(`${api.url}/healthz`)).body, { status: 'ok' });
  const ready = await call(`${api.url}/readyz`);
  t.is(ready.status, 200);
  t.deepEqual(ready.body, { status: 'ready' });
  const health = await call(`${api.url}/health`);
  t.is(health.status, 200);
  t.deepEqual(health.body, { status: 'healthy', warnings: [], anomalies: [] });

  const empty = await call(`${api.url}/metrics`);
  t.is(empty.status, 200);
  for (const key of ['hourly_stats', 'latency_p50', 'latency_p95', 'latency_p99', 'latency_max', 'latency_count', 'data_quality_issues']) {
    t.true(key in empty.body, `/metrics has ${key}`);
  }
  t.is(empty.body.latency_count, 0);
  t.is(empty.body.data_quality_issues, 0);
  for (const key of ['latency_p50', 'latency_p95', 'latency_p99', 'latency_max']) t.is(empty.body[key], 0);

  // when two pairs are processed (one change of each kind, and no change)
  const res = await postJson(`${api.url}/process`, {
    version_pairs: [
      { drawing_id: 'M-1', version_a: A, version_b: B },
      { drawing_id: 'M-2', version_a: A, version_b: A },
    ],
  });
  await waitForJob(api.url, res.body.job_id);

  // then the current hour counts them and the latencies are real numbers
  const metrics = await call(`${api.url}/metrics`);
  const hours = Object.entries(metrics.body.hourly_stats as Record<string, Record<string, number>>);
  t.true(hours.every(([hour]) => ISO.test(hour)), JSON.stringify(Object.keys(metrics.body.hourly_stats)));
  const sum = (key: string) => hours.reduce((n, [, h]) => n + (h[key] ?? 0), 0);
  t.deepEqual(
    { pairs: sum('pairs'), added: sum('added'), removed: sum('removed'), moved: sum('moved'), modified: sum('modified'), failed: sum('failed') },
    { pairs: 2, added: 1, removed: 1, moved: 2, modified: 1, failed: 0 },
  );
  for (const [, h] of hours) {
    t.deepEqual(Object.keys(h).sort(), ['added', 'failed', 'malformed', 'modified', 'moved', 'pairs', 'removed', 'renamed']);
  }
  t.is(metrics.body.latency_count, 2);
  const p = metrics.body;
  t.true(p.latency_p50 <= p.latency_p95 && p.latency_p95 <= p.latency_p99 && p.latency_p99 <= p.latency_max);
  t.true(p.latency_max > 0);
  t.deepEqual((await call(`${api.url}/health`)).body.status, 'healthy');
});

test('HEAD and OPTIONS on known routes answer without a body error', async (t) => {
  const api = await startApi(t);
  const head = await call(`${api.url}/healthz`, { method: 'HEAD' });
  t.is(head.status, 200);
  t.is(head.text, '');
  const options = await call(`${api.url}/process`, { method: 'OPTIONS' });
  t.true(options.status < 300, `OPTIONS /process answered ${options.status}`);
  t.regex(options.headers.get('allow') ?? '', /POST/);
});
