/**
 * The embedded store against a real SQLite file: the shared sink compliance test, then what only
 * this store promises (durability across reopen, samples for restart, several connections and
 * processes on one file, SQLite failures surfacing as retryable errors).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { TransientError } from '../../src/domain/errors.js';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { DATABASE_FILE, LocalDatabaseError, openLocalStore, SCHEMA_VERSION } from '../../sinks/local-store/index.js';
import type { MetricSample } from '../../src/domain/sink.js';
import { anomaly, at, baseTime, batchOf, expectedStored, failure, result, rollup, runSinkCompliance, uniqueId } from '../support/sink-compliance.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'buildtrace-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

runSinkCompliance(test, 'local store', async (t) => {
  const dataDir = await tempDir(t);
  const store = openLocalStore({ dataDir, replicaId: 'test', maxColumnBytes: 64 * 1024 });
  // Another connection (as another process would) holding the write lock.
  let holder: Database.Database | null = null;
  return {
    sink: store,
    store,
    dispose: () => void holder?.close(),
    outage: {
      down: () => {
        holder = new Database(path.join(dataDir, DATABASE_FILE));
        holder.exec('BEGIN IMMEDIATE');
      },
      up: () => {
        holder?.exec('ROLLBACK');
        holder?.close();
        holder = null;
      },
    },
    refusable: { make: (r) => ({ ...r, changes: { ...r.changes, summary: 'x'.repeat(100 * 1024) } }), code: 'result_too_large' },
  };
});

test('the schema is created once, versioned, without a foreign key on drawing_id', async (t) => {
  const dataDir = path.join(await tempDir(t), 'nested', 'data');
  const store = openLocalStore({ dataDir });
  await store.close();
  const again = openLocalStore({ dataDir }); // opening an existing file migrates nothing
  await again.close();

  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  t.is(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  const tables = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
  for (const name of ['anomalies', 'change_results', 'dead_letters', 'hourly_rollups', 'jobs', 'processing_metrics', 'queue']) {
    t.true(tables.includes(name), `table ${name}`);
    t.deepEqual(db.pragma(`foreign_key_list(${name})`), []);
  }
  const indexes = db.prepare<[], string>(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`).pluck().all();
  t.true(indexes.includes('change_results_drawing_created'));
  t.true(indexes.includes('processing_metrics_created'));
  t.true(indexes.includes('processing_metrics_job'));
  t.true(indexes.includes('anomalies_created'));
});

test('a file written by a newer schema is refused with a clear error', async (t) => {
  const dataDir = await tempDir(t);
  const raw = new Database(path.join(dataDir, DATABASE_FILE));
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();

  const err = t.throws(() => openLocalStore({ dataDir }), { instanceOf: LocalDatabaseError });
  t.is(err?.code, 'schema_too_new');
  t.regex(err?.message ?? '', /newer than this build/);
});

test('an unusable data directory fails at open with a clear error', async (t) => {
  const dir = await tempDir(t);
  const blocker = path.join(dir, 'not-a-dir');
  const raw = new Database(blocker); // a regular file where the directory should be
  raw.close();
  const err = t.throws(() => openLocalStore({ dataDir: blocker }), { instanceOf: LocalDatabaseError });
  t.is(err?.code, 'database_unavailable');
});

test('results survive closing and reopening the file', async (t) => {
  const dataDir = await tempDir(t);
  const base = baseTime();
  const jobId = uniqueId('job');
  const r = result({ taskKey: 'k1', jobId, drawingId: 'D1', createdAt: at(base, 1) });
  const a = anomaly('missing_upload', at(base, 2));

  const first = openLocalStore({ dataDir });
  await first.createJob({ jobId, tasksCreated: 2, createdAt: base });
  await first.writeBatch(batchOf({ results: [r], anomalies: [a] }));
  await first.close();

  const reopened = openLocalStore({ dataDir });
  t.teardown(() => reopened.close());
  t.deepEqual(await reopened.changes('D1', 5), [expectedStored(r)]);
  t.deepEqual(await reopened.job(jobId), { job_id: jobId, tasks_created: 2, completed: 1, failed: 0, pending: 1 });
  t.deepEqual(await reopened.anomalies(base, 5), [a]);
  // and the replay after a restart is still recognised
  t.is((await reopened.writeBatch(batchOf({ results: [r] }))).fresh.size, 0);
});

test('failures keep their kind in status and the reason in its own columns', async (t) => {
  const dataDir = await tempDir(t);
  const store = openLocalStore({ dataDir });
  t.teardown(() => store.close());
  const base = baseTime();
  await store.writeBatch(
    batchOf({
      failures: [
        failure({ taskKey: 'm', kind: 'malformed', code: 'malformed_version', message: 'object 2: x missing', createdAt: base }),
        failure({ taskKey: 'f', kind: 'failed', code: 'storage_unavailable', message: 'gave up after 5 attempts', createdAt: base }),
      ],
    }),
  );
  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  const rows = db.prepare(`SELECT task_key, status, error_code, error_message FROM processing_metrics ORDER BY task_key`).all();
  t.deepEqual(rows, [
    { task_key: 'f', status: 'failed', error_code: 'storage_unavailable', error_message: 'gave up after 5 attempts' },
    { task_key: 'm', status: 'malformed', error_code: 'malformed_version', error_message: 'object 2: x missing' },
  ]);
});

test('a result replaces a failure recorded earlier for the same task', async (t) => {
  const store = openLocalStore({ dataDir: await tempDir(t) });
  t.teardown(() => store.close());
  const base = baseTime();
  const jobId = uniqueId('job');
  await store.createJob({ jobId, tasksCreated: 1, createdAt: base });
  await store.writeBatch(batchOf({ failures: [failure({ taskKey: 'k', jobId, kind: 'failed', createdAt: base })] }));
  t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 1, completed: 0, failed: 1, pending: 0 });

  const receipt = await store.writeBatch(batchOf({ results: [result({ taskKey: 'k', jobId, drawingId: 'D1', createdAt: at(base, 1) })] }));
  t.deepEqual([...receipt.fresh], ['k']);
  t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 1, completed: 1, failed: 0, pending: 0 });

  // a late failure for a completed task changes nothing
  const late = await store.writeBatch(batchOf({ failures: [failure({ taskKey: 'k', jobId, createdAt: at(base, 2) })] }));
  t.is(late.fresh.size, 0);
  t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 1, completed: 1, failed: 0, pending: 0 });
});

test('samples stream one replica\'s outcomes since a time, oldest first, across many pages', async (t) => {
  const store = openLocalStore({ dataDir: await tempDir(t) });
  t.teardown(() => store.close());
  const base = baseTime();
  const total = 2500; // more than two pages
  const results = [];
  for (let i = 0; i < total; i += 1) {
    // pairs of rows share a timestamp, so order within a timestamp must hold too; written in
    // reverse so insertion order is not time order
    const j = total - 1 - i;
    results.push(result({ taskKey: `a-${j}`, drawingId: 'D1', createdAt: at(base, Math.floor(j / 2)), processingTimeMs: j, replicaId: 'replica-a' }));
  }
  const others = [
    result({ taskKey: 'b-1', drawingId: 'D1', createdAt: at(base, 5), replicaId: 'replica-b' }),
    result({ taskKey: 'a-old', drawingId: 'D1', createdAt: at(base, -10), replicaId: 'replica-a' }),
  ];
  const failures = [
    failure({ taskKey: 'a-bad', kind: 'malformed', createdAt: at(base, 0.5), replicaId: 'replica-a' }),
    failure({ taskKey: 'a-gone', kind: 'failed', createdAt: at(base, 3000), replicaId: 'replica-a' }),
  ];
  for (let i = 0; i < results.length; i += 500) await store.writeBatch(batchOf({ results: results.slice(i, i + 500) }));
  await store.writeBatch(batchOf({ results: others, failures }));

  const samples: MetricSample[] = [];
  for await (const s of store.samples(base, 'replica-a')) samples.push(s);

  t.is(samples.length, total + 2);
  // rows 1 and 0 share a timestamp; a tie keeps write order (row 1 was written first)
  t.deepEqual(samples[0], {
    kind: 'result',
    taskKey: 'a-1',
    drawingId: 'D1',
    at: base,
    processingTimeMs: 1,
    endToEndMs: 250.25,
    counts: { added: 1, removed: 1, moved: 1, modified: 1 },
  });
  t.deepEqual(samples[2], { kind: 'failure', taskKey: 'a-bad', at: at(base, 0.5), malformed: true });
  t.deepEqual(samples.at(-1), { kind: 'failure', taskKey: 'a-gone', at: at(base, 3000), malformed: false });
  const times = samples.map((s) => s.at.getTime());
  t.deepEqual(times, [...times].sort((x, y) => x - y));
  const latencies = samples.flatMap((s) => (s.kind === 'result' ? [s.processingTimeMs] : []));
  t.is(new Set(latencies).size, total);

  const none: MetricSample[] = [];
  for await (const s of store.samples(base, 'replica-unknown')) none.push(s);
  t.deepEqual(none, []);
});

test('two store instances on one file write concurrently without losing or doubling a row', async (t) => {
  const dataDir = await tempDir(t);
  const one = openLocalStore({ dataDir, replicaId: 'one' });
  const two = openLocalStore({ dataDir, replicaId: 'two' });
  t.teardown(() => one.close());
  t.teardown(() => two.close());
  const base = baseTime();
  const keys = Array.from({ length: 200 }, (_, i) => `k${i}`);
  const batchFor = (slice: string[], replicaId: string) =>
    batchOf({ results: slice.map((k, i) => result({ taskKey: k, drawingId: 'D1', createdAt: at(base, i), replicaId })) });

  // both write every key, interleaved, in batches of 10 in opposite orders
  const writes = [];
  for (let i = 0; i < keys.length; i += 10) {
    writes.push(one.writeBatch(batchFor(keys.slice(i, i + 10), 'one')));
    writes.push(two.writeBatch(batchFor(keys.slice(keys.length - i - 10, keys.length - i), 'two')));
  }
  const receipts = await Promise.all(writes);
  const fresh = receipts.flatMap((r) => [...r.fresh]);

  t.is(fresh.length, keys.length, 'each key is fresh exactly once');
  t.deepEqual([...fresh].sort(), [...keys].sort());
  t.is((await one.changes('D1', 1000)).length, keys.length);
  t.is((await two.changes('D1', 1000)).length, keys.length);
});

test('three processes writing the same keys to one file report each key fresh exactly once', async (t) => {
  const dataDir = await tempDir(t);
  const keys = 300;
  // each child writes every key (in its own order) and prints the keys it saw as fresh
  const child = (order: 'up' | 'down' | 'odd-first') => `
    import { openLocalStore } from ${JSON.stringify(path.join(repoRoot, 'sinks/local-store/index.ts'))};
    const store = openLocalStore({ dataDir: ${JSON.stringify(dataDir)}, replicaId: '${order}' });
    let ids = Array.from({ length: ${keys} }, (_, i) => i);
    if ('${order}' === 'down') ids.reverse();
    if ('${order}' === 'odd-first') ids = [...ids.filter((i) => i % 2), ...ids.filter((i) => i % 2 === 0)];
    const fresh = [];
    for (let i = 0; i < ids.length; i += 3) {
      const results = ids.slice(i, i + 3).map((n) => ({
        taskKey: 'k' + n, jobId: null, drawingId: 'D' + (n % 7),
        changes: { added: [], removed: [], moved: [], modified: [], summary: 'No changes detected.' },
        counts: { added: 0, removed: 0, moved: 0, modified: 0 },
        processingTimeMs: 1, endToEndMs: 2, createdAt: new Date(), replicaId: '${order}',
      }));
      const receipt = await store.writeBatch({ results, failures: [], anomalies: [] });
      fresh.push(...receipt.fresh);
    }
    await store.close();
    process.stdout.write(JSON.stringify(fresh));
  `;
  const outputs = await Promise.all(
    (['up', 'down', 'odd-first'] as const).map((order) =>
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child(order)], { cwd: repoRoot }),
    ),
  );
  const fresh = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]);
  t.is(fresh.length, keys);
  t.is(new Set(fresh).size, keys);

  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  t.is(db.prepare('SELECT count(*) FROM change_results').pluck().get(), keys);
  t.is(db.prepare('SELECT count(*) FROM processing_metrics').pluck().get(), keys);
});

test('a write blocked by another connection\'s lock rejects as retryable and writes nothing', async (t) => {
  const dataDir = await tempDir(t);
  const store = openLocalStore({ dataDir, busyTimeoutMs: 20 });
  t.teardown(() => store.close());
  const locker = new Database(path.join(dataDir, DATABASE_FILE));
  t.teardown(() => locker.close());
  const base = baseTime();
  const r = result({ taskKey: 'k', drawingId: 'D1', createdAt: base });

  // given another process holds the write lock
  locker.exec('BEGIN IMMEDIATE');
  const err = await t.throwsAsync(store.writeBatch(batchOf({ results: [r], anomalies: [anomaly('spike_detected', base)] })), {
    instanceOf: TransientError,
  });
  t.is(err?.code, 'sink_unavailable');
  t.regex(err?.message ?? '', /SQLITE_BUSY/);
  await t.throwsAsync(store.healthcheck(), { instanceOf: TransientError });
  await t.throwsAsync(store.writeRollups([rollup({ replicaId: 'r', hourStart: base, updatedAt: base })]), {
    instanceOf: TransientError,
  });
  // reads still work under WAL while a writer holds the lock
  t.deepEqual(await store.changes('D1', 1), []);

  // when the lock is released, then the same batch goes through whole, and is fresh
  locker.exec('ROLLBACK');
  t.deepEqual([...(await store.writeBatch(batchOf({ results: [r] }))).fresh], ['k']);
  await t.notThrowsAsync(store.healthcheck());
});

test('a closed store rejects writes, reads and health checks as retryable', async (t) => {
  const store = openLocalStore({ dataDir: await tempDir(t) });
  await store.close();
  await store.close(); // closing twice is harmless
  const r = result({ taskKey: 'k', drawingId: 'D1', createdAt: baseTime() });
  for (const attempt of [
    store.writeBatch(batchOf({ results: [r] })),
    store.healthcheck(),
    store.changes('D1', 1),
    store.job('j'),
  ]) {
    const err = await t.throwsAsync(attempt, { instanceOf: TransientError });
    t.is(err?.code, 'sink_unavailable');
  }
});

test('non-positive limits return nothing instead of every row', async (t) => {
  const store = openLocalStore({ dataDir: await tempDir(t) });
  t.teardown(() => store.close());
  const base = baseTime();
  await store.writeBatch(batchOf({ results: [result({ taskKey: 'k', drawingId: 'D1', createdAt: base })], anomalies: [anomaly('spike_detected', base)] }));
  t.deepEqual(await store.changes('D1', 0), []);
  t.deepEqual(await store.anomalies(base, -1), []);
});

test('a 100,000-object pair with every object moved (a 31 MB result, over BigQuery\'s row limit) is stored and read back whole', async (t) => {
  // given the result of diffing such a pair
  const a = Array.from({ length: 100_000 }, (_, i) => ({ id: `O${i}`, type: 'door', x: i, y: 0, width: 1, height: 1 }));
  const b = a.map((o) => ({ ...o, x: o.x + 2 }));
  const changes = validateAndDiff(a, b, 'huge');
  t.is(changes.moved.length, 100_000);
  const r = result({ taskKey: uniqueId('huge'), drawingId: 'huge', createdAt: baseTime(), changes, counts: countChanges(changes) });
  t.true(Buffer.byteLength(JSON.stringify(changes.moved)) > 10 * 1024 * 1024, 'larger than one BigQuery row may be');

  // when it is written to the embedded store
  const store = openLocalStore({ dataDir: await tempDir(t), replicaId: 'test' });
  t.teardown(() => store.close());
  const receipt = await store.writeBatch(batchOf({ results: [r] }));

  // then it is durable, not rejected, and read back whole
  t.deepEqual([...receipt.fresh], [r.taskKey]);
  t.is(receipt.rejected?.size ?? 0, 0);
  const [stored] = await store.changes('huge', 1);
  t.is(stored?.moved.length, 100_000);
  t.deepEqual(stored?.moved[99_999], changes.moved[99_999]);
});
