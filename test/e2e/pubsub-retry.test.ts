/**
 * Transient failures in the real service process on the official Pub/Sub emulator: a task whose
 * version file cannot be read is nacked and redelivered with incrementing attempts, recovers if the
 * file becomes readable, and otherwise is dead-lettered by the subscription's policy after 5
 * attempts as a processing error. (A locked store, a sink outage for every task, is no longer
 * retried by redelivery: the stream pauses; see test/faults/pubsub-locked-store.test.ts.)
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
    { added: history.body[0].counts.added, removed: history.body[0].counts.removed, moved: history.body[0].counts.moved, modified: history.body[0].counts.modified },
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
