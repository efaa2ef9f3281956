/**
 * Issue 9's scenario on the official Pub/Sub emulator, timings scaled down: another process holds
 * the embedded database's write lock while 100 tasks arrive (subscription: 5 delivery attempts,
 * retry backoff 1–5 s, the shortest ack deadline Pub/Sub allows, 10 s; the lock is held 25 s,
 * two and a half ack deadlines, so the held deliveries survive only if their leases are extended).
 *
 * What it found before the fix: each write blocked the event loop for SQLite's 5 s busy wait
 * (/healthz slow, the Pub/Sub client's lease and stream timers starved), every batch was nacked,
 * each nack spent a delivery attempt, and the emulator was left holding nacked messages it never
 * redelivered: stuck, not lost (a seek to their publish time brought them back). Now the lock
 * fails fast, the breaker pauses the stream with the deliveries leased, nothing is nacked, and
 * the first write after the lock lands them all.
 */
import anyTest from 'ava';
import path from 'node:path';
import Database from 'better-sqlite3';
import { getJson, sleep, startService, waitFor } from '../support/service-process.js';
import { drain, freshTopologyAndDataDir, generateTasks, logLines, openStoreFile, publishBodies, serviceEnv, totals, waitForPairs, withEmulator } from '../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

const TASKS = 100;
/** The issue held the lock 45 s against a 20 s ack deadline; the same ratio above the 10 s minimum. */
const LOCK_MS = 25_000;

test.serial('a write lock held by another process while 100 tasks arrive: all 100 results, none dead-lettered, /healthz always within a second', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-locked-store-', {
    maxDeliveryAttempts: 5,
    ackDeadlineSeconds: 10,
    minBackoffSeconds: 1,
    maxBackoffSeconds: 5,
  });
  const { tasks, truth } = generateTasks(path.join(dataDir, 'input'), { count: TASKS, objects: 20, seed: 909, prefix: 'locked' });
  const service = await startService(
    serviceEnv(emulator, names, dataDir, { SINK_PROBE_INITIAL_MS: '200', SINK_PROBE_MAX_MS: '1000', LOG_LEVEL: 'info' }),
    { timeoutMs: 60_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));

  // given another process holds the write lock
  const locker = new Database(path.join(dataDir, 'buildtrace.db'), { timeout: 10_000 });
  t.teardown(() => {
    if (locker.open) locker.close();
  });
  locker.exec('BEGIN EXCLUSIVE');
  const lockedAt = Date.now();

  // when 100 tasks arrive during the lock, and /healthz is asked every 200 ms
  await publishBodies(pubsub, names.topic, tasks.map((x) => x.body));
  const healthz: number[] = [];
  let sawBreaker: string | null = null;
  while (Date.now() - lockedAt < LOCK_MS) {
    const started = performance.now();
    const answer = await getJson(`${service.url}/healthz`);
    healthz.push(performance.now() - started);
    t.is(answer.status, 200);
    if (!sawBreaker) {
      const ready = await getJson(`${service.url}/readyz`);
      if (ready.status === 503 && /sink breaker open/.test(ready.body.error.message)) sawBreaker = ready.body.error.message;
    }
    await sleep(200);
  }
  const health = (await getJson(`${service.url}/health`)).body;

  // then /healthz answered every time within a second, and /readyz and /health said why it was paused
  t.true(healthz.length > 50, `${healthz.length} probes`);
  t.true(Math.max(...healthz) < 1_000, `slowest /healthz ${Math.round(Math.max(...healthz))} ms`);
  t.truthy(sawBreaker, '/readyz reported the open breaker');
  t.regex(sawBreaker ?? '', /SQLITE_BUSY|locked/);
  t.true(health.warnings.some((w: string) => /sink breaker (open|half-open)/.test(w)), health.warnings.join('; '));

  // and when the lock is released, all 100 results land, each once
  locker.exec('ROLLBACK');
  locker.close();
  const metrics = await waitForPairs(service.url, TASKS, 90_000);
  t.deepEqual(totals(metrics), { ...truth, failed: 0 }, 'every task once, none failed');
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 10_000, 'ready again');

  // and no delivery was nacked or abandoned: the outage spent no attempt
  const lines = logLines(service.output());
  t.false(lines.some((l) => /nacking|abandoned/.test(l.message ?? '')), lines.filter((l) => /nack|abandon/.test(l.message ?? '')).slice(0, 3).map((l) => l.message).join('; '));
  // the breaker opened while the lock was held and closed after it (telemetry logs each change)
  t.true(lines.some((l) => /^circuit breaker for sink \S+ opened: /.test(l.message ?? '')));
  t.true(lines.some((l) => /^circuit breaker for sink \S+ is closed: the sink answers again/.test(l.message ?? '')));

  // and after a clean stop nothing is on the dead-letter subscription, and every result is stored once
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
  t.deepEqual((await drain(pubsub, names.dlqSubscription, 3_000)).length, 0, 'nothing dead-lettered');
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT count(*) AS rows, count(DISTINCT drawing_id) AS drawings FROM change_results').get(), { rows: TASKS, drawings: TASKS });
});
