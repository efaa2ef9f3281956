/**
 * Transient failures in the real service process on the official Pub/Sub emulator: while the store
 * cannot be written (another connection holds its lock: a sink outage), tasks are nacked and
 * redelivered with incrementing attempts and dead-lettered by the subscription's policy after 5
 * attempts; once the lock is released the service recovers.
 */
import anyTest, { type TestFn } from 'ava';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { PubSub } from '@google-cloud/pubsub';
import { emulatorClient, receiveMessages, startEmulator, type RunningEmulator } from '../support/pubsub-emulator.js';
import { getJson, startService, tempDir, waitFor } from '../support/service-process.js';
import {
  createTopology,
  freshNames,
  generateTasks,
  logLines,
  publishBodies,
  serviceEnv,
  totals,
  waitForPairs,
} from '../support/pubsub-e2e.js';

const test = anyTest as TestFn<{ emulator: RunningEmulator; pubsub: PubSub }>;

test.before(async (t) => {
  t.context.emulator = await startEmulator();
  t.context.pubsub = emulatorClient(t.context.emulator);
});

test.after.always(async (t) => {
  await t.context.pubsub?.close();
  await t.context.emulator?.stop();
});

test.serial('a locked store: writes fail, tasks are redelivered and dead-lettered after 5 attempts; once unlocked the service recovers', async (t) => {
  const { emulator, pubsub } = t.context;
  const names = freshNames();
  await createTopology(pubsub, names);
  const dataDir = tempDir('buildtrace-pubsub-outage-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const inputDir = path.join(dataDir, 'input');
  const { tasks, truth } = generateTasks(inputDir, { count: 12, objects: 20, seed: 51, prefix: 'outage' });
  const before = tasks.slice(0, 4);
  const during = tasks.slice(4, 8);
  const after = tasks.slice(8);

  // no in-process write retries: each delivery gets one write (the store's 5 s busy wait), then a nack
  const service = await startService(serviceEnv(emulator, names, dataDir, { SINK_RETRY_SECONDS: '0', SHUTDOWN_GRACE_SECONDS: '5', LOG_LEVEL: 'debug' }), {
    timeoutMs: 60_000,
  });
  t.teardown(() => void service.kill('SIGKILL'));
  await publishBodies(pubsub, names.topic, before.map((x) => x.body));
  await waitForPairs(service.url, before.length, 30_000);

  // when another connection holds the database's write lock
  const locker = new Database(path.join(dataDir, 'buildtrace.db'), { timeout: 10_000 });
  t.teardown(() => {
    if (locker.open) locker.close();
  });
  locker.exec('BEGIN EXCLUSIVE');
  await publishBodies(pubsub, names.topic, during.map((x) => x.body));

  // then the service says it is not ready, and after 5 deliveries each task is dead-lettered
  // (probes share one sink check a second, so the first answer may predate the lock)
  const notReady = await waitFor(
    async () => {
      const ready = await getJson(`${service.url}/readyz`);
      return ready.status === 503 ? ready.body : undefined;
    },
    30_000,
    '/readyz to report the locked store',
  );
  t.regex(notReady.error.message, /sink local is not writable/);
  const dead = await receiveMessages(pubsub, names.dlqSubscription, during.length, { timeoutMs: 100_000, settleMs: 1_000 }).catch((err) => {
    writeFileSync('/tmp/h8/svc.log', service.output());
    throw err;
  });
  t.is(dead.length, during.length);
  t.deepEqual(dead.map((d) => d.attributes.CloudPubSubDeadLetterSourceDeliveryCount), during.map(() => '5'));
  t.deepEqual(
    dead.map((d) => JSON.parse(d.data.toString('utf8')).drawing_id).sort(),
    during.map((x) => x.drawingId).sort(),
  );
  t.true(logLines(service.output()).some((l) => l.message === 'sink write failed; nacking the batch'));

  // when the lock is released, the service is ready again and processes new work
  locker.exec('ROLLBACK');
  locker.close();
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 30_000, 'ready again');
  await publishBodies(pubsub, names.topic, after.map((x) => x.body));
  const metrics = await waitForPairs(service.url, before.length + after.length, 60_000);
  const outside = [...before, ...after];
  const sum = (key: 'added' | 'removed' | 'moved' | 'modified') => outside.reduce((s, x) => s + x.counts[key], 0);
  t.deepEqual(totals(metrics), {
    pairs: outside.length,
    added: sum('added'),
    removed: sum('removed'),
    moved: sum('moved'),
    modified: sum('modified'),
    failed: 0,
  });
  t.true(truth.pairs === tasks.length);
  for (const x of during) t.is((await getJson(`${service.url}/changes?drawing_id=${x.drawingId}`)).status, 404, x.drawingId);
  const health = (await getJson(`${service.url}/health`)).body;
  t.true(health.warnings.some((w: string) => /batch write\(s\) failed/.test(w)), health.warnings.join('; '));
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());
});
