/**
 * Transient failures in the real service process on the official Pub/Sub emulator: a task whose
 * version file cannot be read is nacked and redelivered with incrementing attempts, recovers if the
 * file becomes readable, and otherwise is dead-lettered by the subscription's policy after 5
 * attempts as a processing error; a locked store (a sink outage for every task) is survived the
 * same way and the service recovers once it can write.
 *
 * The one-task fault is a Unix socket planted where a version file should be: open(2) fails with
 * ENXIO, which the local input store reports as `storage_unavailable` (a TransientError), as it
 * would EIO or EACCES, which a test running as root cannot provoke.
 */
import anyTest from 'ava';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import Database from 'better-sqlite3';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { receiveMessages } from '../support/pubsub-emulator.js';
import { getJson, startService, waitFor } from '../support/service-process.js';
import {
  drain,
  failedAttempts,
  freshTopologyAndDataDir,
  generateTasks,
  logLines,
  openStoreFile,
  publishBodies,
  serviceEnv,
  totals,
  waitForPairs,
  waitForPairsReplaying,
  withEmulator,
} from '../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

/**
 * Leaves a Unix socket at `file` with nobody listening: opening it fails with ENXIO for as long as
 * it is there. Bound under another name and renamed, because a closing server unlinks its path.
 */
async function plantSocket(file: string): Promise<void> {
  const bound = `${file}.bind`;
  const server = createServer();
  server.listen(bound);
  await once(server, 'listening');
  renameSync(bound, file);
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Replaces `file` in one step, so a reader sees either the old entry or the whole new file. */
function replaceAtomically(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

test.serial('an unreadable version is retried; it recovers once readable, or after 5 attempts the subscription dead-letters it as a processing error', async (t) => {
  const { emulator, pubsub } = t.context;
  // 5 attempts, 1-2 s backoff
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-retry-');
  const inputDir = path.join(dataDir, 'input');

  // given good tasks, and two whose version_a is a socket: one stays so, one is fixed later
  const { tasks: good, truth } = generateTasks(inputDir, { count: 20, objects: 30, seed: 31, prefix: 'good' });
  const [a, b] = generatePair(createRandom(41), { objects: 30 });
  const flakyCounts = countChanges(validateAndDiff(a, b, 'flaky_1'));
  const faulty = (drawingId: string) => {
    mkdirSync(path.join(inputDir, drawingId), { recursive: true });
    writeFileSync(path.join(inputDir, drawingId, 'b.json'), JSON.stringify(b));
    return { drawing_id: drawingId, version_a_uri: `${drawingId}/a.json`, version_b_uri: `${drawingId}/b.json` };
  };
  const stuck = faulty('stuck_1');
  const flaky = faulty('flaky_1');
  await plantSocket(path.join(inputDir, 'stuck_1', 'a.json'));
  await plantSocket(path.join(inputDir, 'flaky_1', 'a.json'));

  const service = await startService(serviceEnv(emulator, names, dataDir), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // when they are published together
  const bodies = [...good.slice(0, 10).map((g) => g.body), stuck, flaky, ...good.slice(10).map((g) => g.body)];
  const ids = await publishBodies(pubsub, names.topic, bodies, (i): Record<string, string> => (i === 10 ? { source: 'e2e' } : {}));
  const stuckId = ids[10]!;

  // and the flaky file becomes readable after its second failed attempt
  await waitFor(async () => (failedAttempts(service.output(), 'flaky_1').length >= 2 ? true : undefined), 60_000, 'two failed attempts of flaky_1');
  replaceAtomically(path.join(inputDir, 'flaky_1', 'a.json'), JSON.stringify(a));

  // then the stuck task reaches the dead-letter topic through the subscription's policy
  const [dead] = await receiveMessages(pubsub, names.dlqSubscription, 1, { timeoutMs: 90_000, settleMs: 1_000 });
  t.is(dead!.attributes.CloudPubSubDeadLetterSourceDeliveryCount, '5', 'moved by Pub/Sub after 5 deliveries');
  t.is(dead!.attributes.source, 'e2e', 'with its original attributes');
  t.is(dead!.attributes.error_code, undefined, 'not dead-lettered by the service itself');
  t.deepEqual(JSON.parse(dead!.data.toString('utf8')), stuck);
  t.is(dead!.id === stuckId, false, 'a dead letter is a new message');

  // after being delivered, and failing, with attempts 1 to 5
  t.deepEqual(failedAttempts(service.output(), 'stuck_1'), [1, 2, 3, 4, 5]);
  const reasons = logLines(service.output()).filter((l) => l.message === 'task failed' && l.drawingId === 'stuck_1');
  t.true(reasons.every((l) => l.code === 'storage_unavailable' && String(l.err).includes('ENXIO')), JSON.stringify(reasons[0]));

  // and the flaky task recovered: retried, then processed once, with the right result
  const flakyAttempts = failedAttempts(service.output(), 'flaky_1');
  t.deepEqual(flakyAttempts.slice(0, 2), [1, 2]);
  t.true(flakyAttempts.length < 5, `flaky_1 recovered before its last attempt (failed ${flakyAttempts.join(', ')})`);
  const metrics = await waitForPairs(service.url, good.length + 1, 60_000);
  const expected = {
    pairs: truth.pairs + 1,
    added: truth.added + flakyCounts.added,
    removed: truth.removed + flakyCounts.removed,
    moved: truth.moved + flakyCounts.moved,
    modified: truth.modified + flakyCounts.modified,
    failed: 1,
  };
  t.deepEqual(totals(metrics), expected, 'the stuck task counts as failed; every other pair once');
  t.is(metrics.failed_total, 1);
  t.is(metrics.malformed_total, 0);
  t.is(metrics.latency_count, good.length + 1);
  const history = await getJson(`${service.url}/changes?drawing_id=flaky_1&limit=5`);
  t.is(history.body.length, 1);
  t.deepEqual(
    { added: history.body[0].added.length, removed: history.body[0].removed.length, moved: history.body[0].moved.length, modified: history.body[0].modified.length },
    flakyCounts,
  );
  t.is((await getJson(`${service.url}/changes?drawing_id=stuck_1`)).status, 404);

  // and /health reports the processing error
  const health = (await getJson(`${service.url}/health`)).body;
  t.is(health.status, 'degraded');
  const errors = health.anomalies.filter((x: { type: string }) => x.type === 'processing_error');
  t.is(errors.length, 1, JSON.stringify(health.anomalies));
  t.is(errors[0].drawing_id, 'stuck_1');
  t.is(errors[0].details.code, 'storage_unavailable');
  t.is(errors[0].details.attempts, 5);

  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  t.deepEqual(db.prepare("SELECT drawing_id, error_code FROM processing_metrics WHERE status = 'failed'").all(), [
    { drawing_id: 'stuck_1', error_code: 'storage_unavailable' },
  ]);

  // and nothing is left on the subscription once the service has stopped
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());
  t.deepEqual(await drain(pubsub, names.subscription, 13_000), []);
});

test.serial('a locked store: every write fails and tasks are redelivered; once unlocked the service is ready again and each task is processed once', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-outage-');
  const inputDir = path.join(dataDir, 'input');
  const { tasks, truth } = generateTasks(inputDir, { count: 12, objects: 20, seed: 51, prefix: 'outage' });
  const before = tasks.slice(0, 4);
  const during = tasks.slice(4, 8);
  const after = tasks.slice(8);

  // no in-process write retries: each delivery gets one write (the store's 5 s busy wait), then a nack
  const service = await startService(serviceEnv(emulator, names, dataDir, { SINK_RETRY_SECONDS: '0', SHUTDOWN_GRACE_SECONDS: '5' }), {
    timeoutMs: 60_000,
  });
  t.teardown(() => void service.kill('SIGKILL'));
  await publishBodies(pubsub, names.topic, before.map((x) => x.body));
  await waitForPairs(service.url, before.length, 30_000);

  // when another connection holds the database's write lock while tasks arrive
  const locker = new Database(path.join(dataDir, 'buildtrace.db'), { timeout: 10_000 });
  t.teardown(() => {
    if (locker.open) locker.close();
  });
  locker.exec('BEGIN EXCLUSIVE');
  const duringFrom = new Date(Date.now() - 1_000);
  await publishBodies(pubsub, names.topic, during.map((x) => x.body));

  // then the service says it is not ready (probes share one sink check a second, so the first
  // answer may predate the lock), and the batch holding them fails and is nacked more than once
  const notReady = await waitFor(
    async () => {
      const ready = await getJson(`${service.url}/readyz`);
      return ready.status === 503 ? ready.body : undefined;
    },
    30_000,
    '/readyz to report the locked store',
  );
  t.regex(notReady.error.message, /sink local is not writable/);
  const nacked = () => logLines(service.output()).filter((l) => l.message === 'sink write failed; nacking the batch');
  await waitFor(async () => (nacked().length >= 2 ? true : undefined), 60_000, 'two failed writes of the redelivered tasks');
  t.true(nacked().every((l) => l.err?.code === 'sink_unavailable'), JSON.stringify(nacked()[0]?.err));

  // when the lock is released, the service is ready again, the redelivered tasks land, and so do new ones
  locker.exec('ROLLBACK');
  locker.close();
  await waitFor(async () => ((await getJson(`${service.url}/readyz`)).status === 200 ? true : undefined), 30_000, 'ready again');
  await publishBodies(pubsub, names.topic, after.map((x) => x.body));
  // Blocking the event loop 5 s per write has, in some runs, left the emulator holding nacked
  // messages without redelivering them (not even to another subscriber); should that happen, a
  // seek to their publish time makes the unacknowledged ones deliverable again (acknowledged ones
  // are not retained, so nothing processed is replayed).
  const { metrics, replays } = await waitForPairsReplaying(service.url, tasks.length, {
    timeoutMs: 90_000,
    stallMs: 20_000,
    replay: async () => {
      await pubsub.subscription(names.subscription).seek(duringFrom);
    },
  });
  if (replays > 0) t.log(`the emulator needed ${replays} seek(s) to redeliver the nacked tasks`);
  t.deepEqual(totals(metrics), { ...truth, failed: 0 }, 'every task once, none failed');
  t.is(metrics.latency_count, tasks.length);
  for (const x of during) {
    const history = await getJson(`${service.url}/changes?drawing_id=${x.drawingId}&limit=5`);
    t.is(history.body.length, 1, `${x.drawingId} has one result`);
  }
  const health = (await getJson(`${service.url}/health`)).body;
  t.true(health.warnings.some((w: string) => /batch write\(s\) failed/.test(w)), health.warnings.join('; '));
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-5000));
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  t.deepEqual(db.prepare('SELECT count(*) AS rows, count(DISTINCT drawing_id) AS drawings FROM change_results').get(), {
    rows: tasks.length,
    drawings: tasks.length,
  });
});
