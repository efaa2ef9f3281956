/**
 * Readiness (`/readyz`) and liveness (`/healthz`) of the real running service: 503 with the
 * reason when its source has stopped or its database cannot be written, 200 again once the cause
 * is gone, and liveness throughout. (`createApp` with a failing readiness: app.test.ts.)
 */
import path from 'node:path';
import test from 'ava';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../sinks/local-store/index.js';
import { assertError, call, startApi } from '../support/api-fixture.js';

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

  // when readiness is probed (checks are shared for a second, and the store waits out its busy
  // timeout before it gives up)
  let blocked = await call(`${api.url}/readyz`);
  for (let i = 0; i < 20 && blocked.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    blocked = await call(`${api.url}/readyz`);
  }

  // then 503 says the sink is not writable
  assertError(t, blocked, 503, 'not_ready', /sink local is not writable/);

  // and once the lock is released the service is ready again without a restart
  blocker.exec('ROLLBACK');
  let ready = await call(`${api.url}/readyz`);
  for (let i = 0; i < 20 && ready.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    ready = await call(`${api.url}/readyz`);
  }
  t.is(ready.status, 200);
  t.is((await call(`${api.url}/health`)).body.status, 'healthy');
});
