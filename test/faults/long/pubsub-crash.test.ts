/**
 * SIGKILL of the real service process mid-stream on the official Pub/Sub emulator, then a restart
 * with the same DATA_DIR and REPLICA_ID: every task ends with exactly one result and is counted
 * once, in the live metrics and in the rollups the restarted process persists.
 *
 * After a subscriber is killed the emulator keeps the messages leased to its dead stream for
 * about 45 s or more before redelivering them (real Pub/Sub redelivers after the ack deadline),
 * so the restarted process is given two minutes.
 */
import anyTest, { type TestFn } from 'ava';
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { PubSub } from '@google-cloud/pubsub';
import { emulatorClient, startEmulator, type RunningEmulator } from '../../support/pubsub-emulator.js';
import { getJson, sleep, startService, tempDir } from '../../support/service-process.js';
import {
  createTopology,
  drain,
  emptyTruth,
  freshNames,
  generateTasks,
  openStoreFile,
  publishBodies,
  serviceEnv,
  totals,
  waitForPairs,
  type Truth,
} from '../../support/pubsub-e2e.js';

const test = anyTest as TestFn<{ emulator: RunningEmulator; pubsub: PubSub }>;

test.before(async (t) => {
  t.context.emulator = await startEmulator();
  t.context.pubsub = emulatorClient(t.context.emulator);
});

test.after.always(async (t) => {
  await t.context.pubsub?.close();
  await t.context.emulator?.stop();
});

test('SIGKILL mid-stream, then a restart on the same DATA_DIR and REPLICA_ID: one result per task, each counted once', async (t) => {
  const { emulator, pubsub } = t.context;
  const names = freshNames();
  await createTopology(pubsub, names);
  const dataDir = tempDir('buildtrace-pubsub-crash-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const inputDir = path.join(dataDir, 'input');

  // given tasks arriving in waves of 50; the wave the process is killed in holds large pairs, so
  // it is surely mid-wave. Waves keep what the killed process holds small: with thousands pending
  // the emulator left some hundreds of a killed subscriber's messages stranded (never redelivered,
  // not even to a new subscriber) for over five minutes in our runs; with tens it redelivers them.
  const wave = 50;
  const early = generateTasks(inputDir, { count: 4 * wave, objects: 80, seed: 61, prefix: 'early' });
  const killed = generateTasks(inputDir, { count: wave, objects: 4000, seed: 62, prefix: 'killed', byReferenceOnly: true });
  const late = generateTasks(inputDir, { count: 6 * wave, objects: 80, seed: 63, prefix: 'late' });
  const count = early.tasks.length + killed.tasks.length + late.tasks.length;
  const truth = sumTruths(early.truth, killed.truth, late.truth);
  const env = serviceEnv(emulator, names, dataDir, { REPLICA_ID: 'crashy', MAX_OUTSTANDING_MESSAGES: '20', ROLLUP_FLUSH_SECONDS: '1' });
  const first = await startService(env, { timeoutMs: 60_000 });
  t.teardown(() => void first.kill('SIGKILL'));
  for (let i = 0; i < early.tasks.length; i += wave) {
    await publishBodies(pubsub, names.topic, early.tasks.slice(i, i + wave).map((task) => task.body));
    await waitForPairs(first.url, i + wave, 60_000);
  }

  // when it is killed outright as soon as the next wave is under way
  await publishBodies(pubsub, names.topic, killed.tasks.map((task) => task.body));
  const before = await pollPairs(first.url, early.tasks.length + 1, 60_000);
  await first.kill('SIGKILL');
  t.true(before < early.tasks.length + wave, `killed mid-wave (${before} of ${early.tasks.length + wave} done)`);

  // then a restarted process finishes that wave, the killed one's leased messages included, and
  // the tasks that keep arriving
  const second = await startService(env, { timeoutMs: 60_000 });
  t.teardown(() => void second.kill('SIGKILL'));
  const restored = totals((await getJson(`${second.url}/metrics`)).body).pairs;
  t.true(restored >= before, `what was counted before the kill survives it (${restored} >= ${before})`);
  await publishBodies(pubsub, names.topic, late.tasks.map((task) => task.body));

  await waitForPairs(second.url, count, 150_000);
  // a little longer, so that a late redelivery counted twice would show
  await sleep(3_000);
  const metrics = (await getJson(`${second.url}/metrics`)).body;
  t.deepEqual(totals(metrics), { ...truth, failed: 0 }, 'hourly counts equal the ground truth: nothing lost, nothing doubled');
  t.is(metrics.latency_count, count);

  // and once it has drained, nothing is left unacknowledged on the subscription
  t.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null }, second.output().slice(-5000));
  t.deepEqual(await drain(pubsub, names.subscription, 13_000), []);

  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT count(*) AS rows, count(DISTINCT task_key) AS tasks, count(DISTINCT drawing_id) AS drawings FROM change_results').get(), {
    rows: count,
    tasks: count,
    drawings: count,
  });
  t.deepEqual(db.prepare("SELECT count(*) AS n FROM processing_metrics WHERE status = 'completed'").get(), { n: count });
  // the rollups the restarted process persisted (one row per hour) hold the truth too
  const rollups = db
    .prepare("SELECT sum(pairs) AS pairs, sum(added) AS added, sum(removed) AS removed, sum(moved) AS moved, sum(modified) AS modified FROM hourly_rollups WHERE replica_id = 'crashy'")
    .get();
  t.deepEqual(rollups, { ...truth });
});

function sumTruths(...truths: Truth[]): Truth {
  const sum = emptyTruth();
  for (const truth of truths) for (const key of Object.keys(sum) as (keyof Truth)[]) sum[key] += truth[key];
  return sum;
}

/** Polls `/metrics` tightly (every 20 ms) until it counts `pairs`; returns the count it saw. */
async function pollPairs(url: string, pairs: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const seen = totals((await getJson(`${url}/metrics`)).body).pairs;
    if (seen >= pairs) return seen;
    if (Date.now() > deadline) throw new Error(`only ${seen} of ${pairs} pairs within ${timeoutMs} ms`);
    await sleep(20);
  }
}
