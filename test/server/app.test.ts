/**
 * The Koa app on its own (`createApp` over real local components, served on a real socket), for
 * the answers the running service cannot be pushed into on demand: readiness that fails, a store
 * that is down (503), and an unexpected bug (500) — all in the error shape, without a stack.
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/server/app.js';
import type { Readiness, ServerDeps } from '../../src/server/deps.js';
import { openLocalStore, type LocalStore } from '../../sinks/local-store/index.js';
import { wholeResultPages } from '../../sinks/change-pages.js';
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import { TaskPublishError } from '../../streams/sources/pubsub-publisher.js';
import type { OutgoingTask, TaskPublisher } from '../../src/domain/source.js';
import { localInputStore } from '../../streams/load/local-files.js';
import { assertError, call, postJson } from '../support/api-fixture.js';

interface Served {
  readonly url: string;
  readonly store: LocalStore;
}

/** Serves `createApp` over a real local store, queue and input directory; `overrides` replace deps. */
async function serve(t: ExecutionContext, overrides: (store: LocalStore) => Partial<ServerDeps> = () => ({})): Promise<Served> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-app-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const store = openLocalStore({ dataDir });
  const queue = openLocalQueue({ dataDir, maxOutstanding: 10, leaseSeconds: 60 });
  t.teardown(async () => {
    await queue.close();
    await store.close();
  });
  const overridden = overrides(store);
  const app = createApp({
    publisher: queue,
    input: localInputStore({ inputDir: path.join(dataDir, 'input'), maxBytes: 1024 }),
    store,
    changesPageItems: 1000,
    recordAnomalies: async (anomalies) => {
      await store.writeBatch({ results: [], failures: [], anomalies });
    },
    metrics: async () => ({}),
    prometheus: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '' }),
    serviceWarnings: async () => [],
    readiness: async () => ({ ready: true, reasons: [] }),
    limits: { maxBodyBytes: 1024, maxPairsPerRequest: 10, maxPairsPerPrefix: 10 },
    anomalyFreshMinutes: 60,
    readDeadlineMs: 10_000,
    corsOrigins: [],
    clock: Date.now,
    logger: silentLogger,
    ...overridden,
    // pages read through the store the test hands in (one that never answers, say)
    changePages: overridden.changePages ?? wholeResultPages(overridden.store ?? store),
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, store };
}

test('503 not_ready with every reason while readiness fails, 200 once it passes; liveness throughout', async (t) => {
  let readiness: Readiness = { ready: false, reasons: ['shutting down', 'source local is not connected'] };
  const { url } = await serve(t, () => ({ readiness: async () => readiness }));

  assertError(t, await call(`${url}/readyz`), 503, 'not_ready', /^not ready: shutting down; source local is not connected$/);
  t.deepEqual((await call(`${url}/healthz`)).body, { status: 'ok' });

  readiness = { ready: true, reasons: [] };
  const ready = await call(`${url}/readyz`);
  t.is(ready.status, 200);
  t.deepEqual(ready.body, { status: 'ready' });
});

test('a store that is down answers 503 with its code and a hint to retry, for reads and for POST /process', async (t) => {
  // given the real store, closed under the app (what an unavailable database looks like to it)
  const { url, store } = await serve(t);
  await store.close();

  // then reads and writes are 503 with the store's error code, not 500 and not a stack
  assertError(t, await call(`${url}/changes?drawing_id=D1`), 503, 'sink_unavailable', /try again later/);
  assertError(t, await call(`${url}/jobs/abc`), 503, 'sink_unavailable', /try again later/);
  assertError(
    t,
    await postJson(`${url}/process`, { version_pairs: [{ drawing_id: 'D1', version_a: [], version_b: [] }] }),
    503,
    'sink_unavailable',
  );
});

test('a request whose tasks were not all queued records none of its task_ids, so its retry queues them again', async (t) => {
  // given a publisher that confirms the first task of a request and fails the second, once
  let failNext = true;
  const queued: string[] = [];
  const publisher: TaskPublisher = {
    async publish(tasks: readonly OutgoingTask[]) {
      const confirmed = failNext ? tasks.slice(0, 1) : tasks;
      queued.push(...confirmed.map((task) => String(task.attributes.task_id)));
      if (failNext) {
        failNext = false;
        throw new TaskPublishError([1], tasks.length, 'drawing-processing-tasks', new Error('deadline exceeded'));
      }
    },
    async close() {},
  };
  const { url, store } = await serve(t, () => ({ publisher }));
  const body = { version_pairs: ['k1', 'k2'].map((task_id) => ({ drawing_id: 'D1', task_id, version_a: [], version_b: [] })) };

  // when the request fails half-way, then it is a 503 and no task_id counts as queued
  assertError(t, await postJson(`${url}/process`, body), 503, 'sink_unavailable', /1 of 2 tasks could not be published/);
  t.deepEqual([...(await store.knownTaskKeys(['k1', 'k2']))], []);

  // and the retry queues both again (the pipeline collapses the copy of k1), as its job's tasks
  const retry = await postJson(`${url}/process`, body);
  t.is(retry.status, 202, retry.text);
  t.like(retry.body, { tasks_created: 2, duplicates: 0 });
  t.deepEqual(queued, ['k1', 'k1', 'k2']);
  t.deepEqual([...(await store.knownTaskKeys(['k1', 'k2']))].sort(), ['k1', 'k2']);
  t.like((await call(`${url}/jobs/${retry.body.job_id}`)).body, { tasks_created: 2, pending: 2 });
});

test('a store that never answers: reads answer 503 at the deadline instead of hanging with it', async (t) => {
  const never = () => new Promise<never>(() => {});
  const { url } = await serve(t, (store) => ({
    readDeadlineMs: 300,
    store: Object.assign(Object.create(store) as LocalStore, { changes: never, job: never }),
    metrics: never,
  }));
  for (const route of ['/changes?drawing_id=D1', '/jobs/abc', '/metrics']) {
    const res = await call(`${url}${route}`);
    assertError(t, res, 503, 'unavailable', /did not answer within 0\.3 s; try again later/);
    t.is(res.headers.get('retry-after'), '1', route);
  }
  // and what does not wait on the store is not cut short
  t.is((await call(`${url}/healthz`)).status, 200);
});

test('an unexpected error is a bare 500 internal_error: no message, stack or path from the error reaches the client', async (t) => {
  const secret = new Error('connection string postgres://admin:hunter2@10.0.0.5 at /srv/app/src/db.ts:42');
  const { url } = await serve(t, () => ({
    metrics: async () => {
      throw secret;
    },
    prometheus: async () => {
      throw secret;
    },
    serviceWarnings: async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'length')");
    },
  }));
  for (const route of ['/metrics', '/metrics/prometheus', '/health']) {
    const res = await call(`${url}${route}`);
    assertError(t, res, 500, 'internal_error', /^internal error$/);
    t.notRegex(res.text, /hunter2|db\.ts|Cannot read/);
  }
});
