/**
 * Readiness (`/readyz`) and liveness (`/healthz`): 503 with the reasons when the source has
 * stopped, when the store cannot be written, or when the app is told it is not ready; 200 again
 * once the cause is gone; liveness answers throughout.
 */
import { createServer } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/server/app.js';
import type { Readiness } from '../../src/server/deps.js';
import { DATABASE_FILE, openLocalStore } from '../../sinks/local-store/index.js';
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import { localInputStore } from '../../streams/load/local-files.js';
import { assertError, call, startApi } from '../support/api-fixture.js';

test('createApp answers 503 not_ready with every reason while readiness fails, and 200 once it passes', async (t) => {
  // given the app over real components, with a readiness the test controls
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-ready-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const store = openLocalStore({ dataDir });
  const queue = openLocalQueue({ dataDir, maxOutstanding: 10, leaseSeconds: 60 });
  t.teardown(async () => {
    await queue.close();
    await store.close();
  });
  let readiness: Readiness = { ready: false, reasons: ['shutting down', 'source local is not connected'] };
  const app = createApp({
    publisher: queue,
    input: localInputStore({ inputDir: path.join(dataDir, 'input'), maxBytes: 1024 }),
    store,
    recordAnomalies: async (anomalies) => {
      await store.writeBatch({ results: [], failures: [], anomalies });
    },
    metrics: async () => ({}),
    serviceWarnings: async () => [],
    readiness: async () => readiness,
    limits: { maxBodyBytes: 1024, maxPairsPerRequest: 10, maxPairsPerPrefix: 10 },
    anomalyFreshMinutes: 60,
    corsOrigins: [],
    clock: Date.now,
    logger: silentLogger,
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  // when it is not ready
  const notReady = await call(`${url}/readyz`);

  // then 503 names every reason, and liveness is unaffected
  assertError(t, notReady, 503, 'not_ready', /not ready: shutting down; source local is not connected/);
  t.deepEqual((await call(`${url}/healthz`)).body, { status: 'ok' });

  readiness = { ready: true, reasons: [] };
  const ready = await call(`${url}/readyz`);
  t.is(ready.status, 200);
  t.deepEqual(ready.body, { status: 'ready' });
});

test('the real service is not ready once its source has stopped, and /health says why', async (t) => {
  // given a running service
  const api = await startApi(t);
  t.is((await call(`${api.url}/readyz`)).status, 200);

  // when its pipeline stops pulling (the first step of a shutdown) while the server still answers
  await api.service.pipeline.stop();

  // then it is alive but not ready, and degraded with a warning
  assertError(t, await call(`${api.url}/readyz`), 503, 'not_ready', /source local is not connected/);
  t.is((await call(`${api.url}/healthz`)).status, 200);
  const health = await call(`${api.url}/health`);
  t.is(health.body.status, 'degraded');
  t.true(health.body.warnings.some((w: string) => /source local is not connected/.test(w)), JSON.stringify(health.body.warnings));
});

test('the real service is not ready while its database cannot be written, and ready again after', async (t) => {
  // given a running service and another connection that holds the database's write lock
  const api = await startApi(t);
  const blocker = new Database(path.join(api.dataDir, DATABASE_FILE));
  t.teardown(() => {
    if (blocker.inTransaction) blocker.exec('ROLLBACK');
    blocker.close();
  });
  blocker.exec('BEGIN IMMEDIATE');

  // when readiness is probed (the store waits out its busy timeout, then gives up)
  const blocked = await call(`${api.url}/readyz`);

  // then 503 says the sink is not writable
  assertError(t, blocked, 503, 'not_ready', /sink local is not writable/);

  // and once the lock is released the service is ready again without a restart
  blocker.exec('ROLLBACK');
  t.is((await call(`${api.url}/readyz`)).status, 200);
  t.is((await call(`${api.url}/health`)).body.status, 'healthy');
});
