/**
 * The stream path of the real service process on the official Pub/Sub emulator
 * (`SOURCE=pubsub SINKS=local`): tasks published with the real client are each processed once and
 * counted as the domain's own diff says, `POST /process` publishes to the same topic, and
 * malformed messages are dead-lettered at once with their reason while good ones flow around them.
 */
import anyTest from 'ava';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Message } from '@google-cloud/pubsub';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { receiveMessages, uniqueId } from '../support/pubsub-emulator.js';
import { getJson, postJson, startService, tempDir, waitFor } from '../support/service-process.js';
import {
  addCounts,
  drain,
  emptyTruth,
  freshNames,
  freshTopologyAndDataDir,
  generateTasks,
  logLines,
  openStoreFile,
  publishBodies,
  receiveUntil,
  serviceEnv,
  totals,
  waitForPairs,
  withEmulator,
  type Truth,
} from '../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

function sumTruths(...truths: Truth[]): Truth {
  const sum = emptyTruth();
  for (const truth of truths) for (const key of Object.keys(sum) as (keyof Truth)[]) sum[key] += truth[key];
  return sum;
}

test.serial('published tasks (inline and by reference) and POST /process jobs are each processed once, counted as the diff says', async (t) => {
  const { emulator, pubsub } = t.context;
  const names = freshNames();
  const dataDir = tempDir('buildtrace-pubsub-flow-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const inputDir = path.join(dataDir, 'input');

  // given tasks in all three forms, and a seed-layout folder for POST /process
  const count = 450;
  const { tasks, truth: published } = generateTasks(inputDir, { count, objects: 40, seed: 3, prefix: 'pub' });
  const rand = createRandom(5);
  const folderTruth = emptyTruth();
  const folderIds: string[] = [];
  for (let i = 0; i < 5; i++) {
    const drawingId = `folder_${i}`;
    const [a, b] = generatePair(rand, { objects: 30 });
    mkdirSync(path.join(inputDir, 'batch', drawingId), { recursive: true });
    writeFileSync(path.join(inputDir, 'batch', drawingId, 'version_a.json'), JSON.stringify(a));
    writeFileSync(path.join(inputDir, 'batch', drawingId, 'version_b.json'), JSON.stringify(b));
    addCounts(folderTruth, countChanges(validateAndDiff(a, b, drawingId)));
    folderIds.push(drawingId);
  }
  const { tasks: jobTasks, truth: jobTruth } = generateTasks(inputDir, { count: 6, objects: 25, seed: 9, prefix: 'job' });

  // and a service that creates its own topology on the emulator
  const service = await startService(serviceEnv(emulator, names, dataDir), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));
  const [metadata] = await pubsub.subscription(names.subscription).getMetadata();
  t.is(metadata.deadLetterPolicy?.maxDeliveryAttempts, 5, 'the service created the subscription with a dead-letter policy');
  t.true(String(metadata.deadLetterPolicy?.deadLetterTopic).endsWith(`/topics/${names.dlqTopic}`));
  t.truthy(metadata.retryPolicy?.minimumBackoff, 'and a retry policy');
  // a second subscription on the task topic shows what reached Pub/Sub, whoever published it
  const tap = uniqueId('tap');
  await pubsub.topic(names.topic).createSubscription(tap);

  // when the tasks are published with the real client
  await publishBodies(pubsub, names.topic, tasks.map((task) => task.body));
  await waitForPairs(service.url, count, 90_000);

  // and two jobs are posted to the service
  const inline = await postJson(`${service.url}/process`, { version_pairs: jobTasks.map((task) => task.body) });
  t.is(inline.status, 202, JSON.stringify(inline.body));
  t.is(inline.body.tasks_created, jobTasks.length);
  const folder = await postJson(`${service.url}/process`, { storage_path: 'batch' });
  t.is(folder.status, 202, JSON.stringify(folder.body));
  t.is(folder.body.tasks_created, folderIds.length);
  for (const [job, size] of [
    [inline.body.job_id as string, jobTasks.length],
    [folder.body.job_id as string, folderIds.length],
  ] as const) {
    const done = await waitFor(
      async () => {
        const { body } = await getJson(`${service.url}/jobs/${job}`);
        return body.completed + body.failed === size ? body : undefined;
      },
      60_000,
      `job ${job} to complete`,
    );
    t.deepEqual(done, { job_id: job, tasks_created: size, completed: size, failed: 0, pending: 0 });
  }

  // then /metrics equals the ground truth: nothing lost, nothing counted twice
  const total = count + jobTasks.length + folderIds.length;
  const metrics = (await getJson(`${service.url}/metrics`)).body;
  t.deepEqual(totals(metrics), { ...sumTruths(published, jobTruth, folderTruth), failed: 0 });
  t.is(metrics.latency_count, total);
  t.is(metrics.malformed_total, 0);
  t.true(metrics.latency_p50 > 0 && metrics.latency_p50 <= metrics.latency_p99 && metrics.latency_p99 <= metrics.latency_max);

  // and every drawing has exactly one result, with the diff's own counts and summary
  for (const task of [...tasks, ...jobTasks]) {
    const { status, body } = await getJson(`${service.url}/changes?drawing_id=${task.drawingId}&limit=5`);
    t.is(status, 200, task.drawingId);
    t.is(body.length, 1, `${task.drawingId} (${task.form}) has one result`);
    const [latest] = body;
    t.deepEqual(
      { added: latest.counts.added, removed: latest.counts.removed, moved: latest.counts.moved, modified: latest.counts.modified },
      task.counts,
      `${task.drawingId} (${task.form})`,
    );
    t.is(latest.summary, task.summary);
  }
  for (const drawingId of folderIds) {
    const { body } = await getJson(`${service.url}/changes?drawing_id=${drawingId}&limit=5`);
    t.is(body.length, 1, `${drawingId} has one result`);
    t.is(body[0].job_id, folder.body.job_id);
  }

  // and the jobs really went through the topic
  const seen = await receiveMessages(pubsub, tap, total, { timeoutMs: 30_000 });
  const perJob = new Map<string, number>();
  for (const message of seen) {
    const job = message.attributes.job_id;
    if (job) perJob.set(job, (perJob.get(job) ?? 0) + 1);
  }
  t.deepEqual(Object.fromEntries(perJob), { [inline.body.job_id]: jobTasks.length, [folder.body.job_id]: folderIds.length });

  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  const rows = db.prepare('SELECT count(*) AS n, count(DISTINCT drawing_id) AS drawings FROM change_results').get() as { n: number; drawings: number };
  t.deepEqual(rows, { n: total, drawings: total });

  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());
});

interface BadMessage {
  readonly label: string;
  readonly body: Record<string, unknown> | string;
  readonly code: string;
  readonly drawingId: string | null;
  /** Words the reason must contain so an operator can find the problem. */
  readonly mentions: readonly string[];
}

test.serial('malformed messages are dead-lettered at once with their reason, acked, and shown in /health; good ones around them all land', async (t) => {
  const { emulator, pubsub } = t.context;
  // a 10 s ack deadline and 1-2 s backoff: anything left unacked would come back within the test
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-bad-');
  const inputDir = path.join(dataDir, 'input');

  const { tasks: good, truth } = generateTasks(inputDir, { count: 30, objects: 30, seed: 21, prefix: 'good' });
  mkdirSync(path.join(inputDir, 'bad'), { recursive: true });
  writeFileSync(path.join(inputDir, 'bad', 'a.json'), JSON.stringify([{ id: 'W1', type: 'wall', x: 'abc', y: 0, width: 1, height: 1 }]));
  writeFileSync(path.join(inputDir, 'bad', 'b.json'), '[]');
  const door = { id: 'D1', type: 'door', x: 1, y: 2, width: 1, height: 2 };
  const bad: BadMessage[] = [
    { label: 'not JSON', body: '{"drawing_id": "cut_short", "version_a": [', code: 'malformed_task', drawingId: null, mentions: ['JSON'] },
    {
      label: 'bad drawing_id',
      body: { drawing_id: '../etc/passwd', version_a: [door], version_b: [door] },
      code: 'malformed_task',
      drawingId: null,
      mentions: ['drawing_id'],
    },
    {
      label: 'object missing a field',
      body: { drawing_id: 'bad_missing_x', version_a: [door], version_b: [{ id: 'D1', type: 'door', y: 2, width: 1, height: 2 }] },
      code: 'malformed_version',
      drawingId: 'bad_missing_x',
      mentions: ['bad_missing_x', '"x"'],
    },
    {
      label: 'the same id twice',
      body: { drawing_id: 'bad_duplicate', version_a: [door, door], version_b: [door] },
      code: 'malformed_version',
      drawingId: 'bad_duplicate',
      mentions: ['bad_duplicate', 'D1'],
    },
    {
      label: 'a version that is not an array',
      body: { drawing_id: 'bad_not_array', version_a: door, version_b: [door] },
      // caught while decoding the task, before the version is validated
      code: 'malformed_task',
      drawingId: 'bad_not_array',
      mentions: ['version_a'],
    },
    {
      label: 'a referenced file with a non-numeric coordinate',
      body: { drawing_id: 'bad_file', version_a_uri: 'bad/a.json', version_b_uri: 'bad/b.json' },
      code: 'malformed_version',
      drawingId: 'bad_file',
      mentions: ['bad_file', '"x"'],
    },
  ];

  const service = await startService(serviceEnv(emulator, names, dataDir), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // when bad messages are published among good ones
  const bodies: (Record<string, unknown> | string)[] = [];
  const badAt = new Map<number, BadMessage>();
  good.forEach((task, i) => {
    bodies.push(task.body);
    const b = bad[i % 5 === 0 ? i / 5 : -1];
    if (b) {
      badAt.set(bodies.length, b);
      bodies.push(b.body);
    }
  });
  t.is(badAt.size, bad.length);
  const ids = await publishBodies(pubsub, names.topic, bodies);
  const badById = new Map([...badAt].map(([index, b]) => [ids[index]!, b]));

  // then each lands on the dead-letter topic once, published by the service on its first attempt
  const covers = (letters: readonly Message[]) => new Set(letters.map((d) => d.attributes.original_message_id)).size >= bad.length;
  const dead = await receiveUntil(pubsub, names.dlqSubscription, covers, { timeoutMs: 60_000, settleMs: 2_000 });
  t.is(dead.length, bad.length, `one dead letter per malformed message: ${JSON.stringify(dead.map((d) => ({ id: d.id, ...d.attributes })))}`);
  for (const letter of dead) {
    const original = letter.attributes.original_message_id ?? '';
    const expected = badById.get(original);
    if (!expected) {
      t.fail(`unexpected dead letter ${letter.data.toString('utf8').slice(0, 200)}`);
      continue;
    }
    const attrs = letter.attributes;
    t.is(attrs.error_code, expected.code, expected.label);
    for (const word of expected.mentions) t.true(attrs.error_message?.includes(word), `${expected.label}: ${attrs.error_message} mentions ${word}`);
    t.is(attrs.drawing_id, expected.drawingId ?? undefined, expected.label);
    t.is(attrs.delivery_attempt, '1', `${expected.label} was not retried`);
    t.is(attrs.CloudPubSubDeadLetterSourceDeliveryCount, undefined, `${expected.label} was dead-lettered by the service, not by the policy`);
    t.is(attrs.source_subscription, names.subscription);
    t.deepEqual(letter.data, Buffer.from(typeof expected.body === 'string' ? expected.body : JSON.stringify(expected.body)), 'the body is kept as sent');
  }
  t.deepEqual(new Set(dead.map((d) => d.attributes.original_message_id)), new Set(badById.keys()));

  // and every good message is processed and counted
  const metrics = await waitForPairs(service.url, good.length, 60_000);
  // (a malformed task is a failed task too: hourly "failed" counts both, "malformed" only these)
  t.deepEqual(totals(metrics), { ...truth, failed: bad.length });
  t.is(metrics.malformed_total, bad.length);
  t.is(metrics.failed_total, bad.length);
  t.is(metrics.data_quality_issues, bad.length);
  for (const task of good) {
    const { status } = await getJson(`${service.url}/changes?drawing_id=${task.drawingId}`);
    t.is(status, 200, task.drawingId);
  }

  // and /health shows each as malformed input
  const health = (await getJson(`${service.url}/health`)).body;
  t.is(health.status, 'degraded');
  const malformed = health.anomalies.filter((a: { type: string }) => a.type === 'malformed_input');
  t.is(malformed.length, bad.length, JSON.stringify(health.anomalies));
  t.deepEqual(
    malformed.map((a: { drawing_id: string | null }) => a.drawing_id).sort(),
    bad.map((b) => b.drawingId).sort(),
  );
  t.true(malformed.every((a: { details: { code: string } }) => ['malformed_task', 'malformed_version'].includes(a.details.code)));
  t.true(health.warnings.some((w: string) => w.startsWith(`${bad.length} malformed inputs`)), health.warnings.join('; '));

  // and each failed exactly once (no redelivery), and was recorded as malformed
  const failed = logLines(service.output()).filter((line) => line.message === 'task failed');
  t.is(failed.length, bad.length, `one failure logged per malformed message: ${JSON.stringify(failed)}`);
  t.true(failed.every((line) => line.attempt === 1));
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  const byStatus = db.prepare('SELECT status, count(*) AS n FROM processing_metrics GROUP BY status ORDER BY status').all();
  t.deepEqual(byStatus, [
    { status: 'completed', n: good.length },
    { status: 'malformed', n: bad.length },
  ]);

  // and, once the service has stopped, nothing is left on the subscription: past the 10 s ack
  // deadline a plain subscriber receives nothing, so every message (bad ones too) was acked
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());
  const leftovers = await drain(pubsub, names.subscription, 13_000);
  t.deepEqual(leftovers.map((m) => m.data.toString('utf8').slice(0, 80)), []);
  t.deepEqual(await drain(pubsub, names.dlqSubscription, 1_000), [], 'no further dead letters');
});
