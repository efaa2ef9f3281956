/**
 * SIGTERM of the real service process mid-stream on the official Pub/Sub emulator: it drains and
 * exits 0, what it had in flight is either finished or handed back to Pub/Sub, and a restarted
 * process finishes the rest with nothing lost and nothing counted twice.
 */
import anyTest from 'ava';
import path from 'node:path';
import { getJson, sleep, startService } from '../support/service-process.js';
import {
  drain,
  freshTopologyAndDataDir,
  generateTasks,
  logLines,
  openStoreFile,
  publishBodies,
  serviceEnv,
  totals,
  waitForPairs,
  withEmulator,
} from '../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

test('SIGTERM mid-stream drains and exits 0; a restart finishes the rest, nothing lost or counted twice', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-drain-');

  const count = 2000;
  const { tasks, truth } = generateTasks(path.join(dataDir, 'input'), { count, objects: 80, seed: 71, prefix: 'drain' });
  // info level: the process logs its final pipeline stats as it stops
  const env = serviceEnv(emulator, names, dataDir, { REPLICA_ID: 'drainer', MAX_OUTSTANDING_MESSAGES: '200', LOG_LEVEL: 'info' });
  const first = await startService(env, { timeoutMs: 60_000 });
  t.teardown(() => void first.kill('SIGKILL'));
  await publishBodies(pubsub, names.topic, tasks.map((task) => task.body));

  // when it is told to stop while working through them
  await waitForPairs(first.url, count * 0.1, 90_000);
  const exit = await first.kill('SIGTERM');

  // then it exits 0 within the grace period, with nothing left in flight
  t.deepEqual(exit, { code: 0, signal: null }, first.output().slice(-5000));
  const stopped = logLines(first.output()).find((line) => line.message === 'BuildTrace stopped');
  t.truthy(stopped, 'the process logged its final stats');
  t.is(stopped?.stats.inFlight, 0);
  const firstDone: number = stopped?.stats.written ?? 0;
  t.true(firstDone > 0 && firstDone < count, `stopped mid-stream (${firstDone} of ${count} written)`);

  // and a restarted process finishes exactly the rest
  const second = await startService(env, { timeoutMs: 60_000 });
  t.teardown(() => void second.kill('SIGKILL'));
  await waitForPairs(second.url, count, 150_000);
  await sleep(3_000); // a late redelivery counted twice would show now
  const metrics = (await getJson(`${second.url}/metrics`)).body;
  t.deepEqual(totals(metrics), { ...truth, failed: 0 });
  t.is(metrics.latency_count, count);

  t.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
  t.deepEqual(await drain(pubsub, names.subscription, 13_000), [], 'every message was acknowledged');
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT count(*) AS rows, count(DISTINCT drawing_id) AS drawings FROM change_results').get(), {
    rows: count,
    drawings: count,
  });
});
