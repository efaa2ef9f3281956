/**
 * A flood of malformed messages mixed with good ones on the official Pub/Sub emulator
 * (SOURCE=pubsub, SINKS=local): a simulator run where half the pairs are malformed (every kind)
 * or half pairs, plus hundreds of raw junk bodies (not JSON, wrong shapes, bad ids, binary, deep
 * nesting). Every bad message must reach the dead-letter topic once, with its reason in the
 * attributes; every good pair must be processed once with the simulator's counts; /health must
 * show the anomaly; the same consumer process must stay up and keep working afterwards.
 */
import anyTest from 'ava';
import type { Message } from '@google-cloud/pubsub';
import { runSimulation } from '../../src/simulate/run.js';
import { pubsubTarget } from '../../src/simulate/target-pubsub.js';
import { scenarioItems, type MalformedItem, type ScenarioOptions } from '../../src/simulate/scenario.js';
import { receiveMessages } from '../support/pubsub-emulator.js';
import { getJson, startService, waitFor } from '../support/service-process.js';
import { drain, freshTopologyAndDataDir, openStoreFile, publishBodies, serviceEnv, withEmulator } from '../support/pubsub-e2e.js';
import { RssSampler } from '../support/fault-rss.js';
import { auditResults, describeAudit, goodPairs, hourlyTotals, inlineTruth, localResults } from '../support/fault-truth.js';
import { junkBodies } from '../support/fault-junk.js';

const test = withEmulator(anyTest);

const MALFORMED_CODES = ['malformed_task', 'malformed_version'];

test('a flood of malformed messages among good ones: all dead-lettered with reasons, every good one processed, the consumer stays up', async (t) => {
  const started = Date.now();
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-faults-flood-');

  const service = await startService(serviceEnv(emulator, names, dataDir, { LOG_LEVEL: 'warn' }), { timeoutMs: 90_000 });
  t.teardown(() => void service.kill('SIGKILL'));
  const rss = new RssSampler(service.child.pid!, 500);
  t.teardown(() => rss.stop());

  // given a simulator run, half of it bad, and raw junk published at the same time
  const scenario: ScenarioOptions = { seed: 31, pairs: 2_000, objects: 20, malformedRate: 0.4, halfRate: 0.1, modifiedRate: 0.1, drawingPrefix: 'flood_' };
  const junk = junkBodies(300);
  rss.phase = 'flood';
  const [{ truth }] = await Promise.all([
    (async () => runSimulation({ scenario, target: await pubsubTarget({ client: pubsub, topic: names.topic, runId: 'flood' }) }))(),
    publishBodies(
      pubsub,
      names.topic,
      junk.map((j) => j.body),
      (i) => ({ junk_id: junk[i]!.id }),
    ),
  ]);
  const expected = inlineTruth(scenario);
  const badTasks = new Map<string, MalformedItem | null>();
  for (const item of scenarioItems(scenario)) if (item.kind !== 'good') badTasks.set(`flood:${item.index}`, item.kind === 'malformed' ? item : null);
  const dlqTotal = badTasks.size + junk.length;
  t.log(
    `published ${truth.pairs} simulator pairs (${truth.good_pairs} good, ${truth.malformed.total} malformed: ` +
      `${JSON.stringify(truth.malformed.by_kind)}, ${truth.half_pairs} half) and ${junk.length} junk bodies`,
  );

  // then every bad message reaches the dead-letter topic once, with its reason
  const dead = await receiveMessages(pubsub, names.dlqSubscription, dlqTotal, { timeoutMs: 180_000, settleMs: 3_000 });
  const byOriginal = new Map<string, Message>();
  for (const m of dead) byOriginal.set(m.attributes.original_message_id ?? `missing:${m.id}`, m);
  t.is(dead.length, dlqTotal, 'each bad message is dead-lettered, none twice');
  t.is(byOriginal.size, dead.length, 'no message dead-lettered twice');
  const codes: Record<string, number> = {};
  const problems: string[] = [];
  const seenTasks = new Set<string>();
  const seenJunk = new Set<string>();
  for (const m of dead) {
    const a = m.attributes;
    codes[a.error_code ?? 'none'] = (codes[a.error_code ?? 'none'] ?? 0) + 1;
    if (!MALFORMED_CODES.includes(a.error_code ?? '')) problems.push(`${a.task_id ?? a.junk_id}: code ${a.error_code}`);
    if (!a.error_message) problems.push(`${a.task_id ?? a.junk_id}: no error_message`);
    if (a.source_subscription !== names.subscription) problems.push(`${a.task_id ?? a.junk_id}: source_subscription ${a.source_subscription}`);
    if (a.junk_id) {
      seenJunk.add(a.junk_id);
      continue;
    }
    const taskId = a.task_id ?? '';
    seenTasks.add(taskId);
    if (!badTasks.has(taskId)) {
      problems.push(`${taskId}: a good task was dead-lettered (${a.error_message})`);
      continue;
    }
    const item = badTasks.get(taskId);
    if (item) {
      // a malformed version: the dead letter names the drawing (in its reason or its drawing_id
      // attribute), and the reason names the version, the object and the field
      if (a.drawing_id !== item.drawingId) problems.push(`${taskId}: drawing_id attribute ${a.drawing_id}, expected ${item.drawingId}`);
      const mentions = [`version_${item.malformed.version}`];
      if (item.malformed.index !== undefined) mentions.push(`object ${item.malformed.index}`);
      if (item.malformed.field !== undefined) mentions.push(item.malformed.field);
      const absent = mentions.filter((w) => !(a.error_message ?? '').includes(w));
      if (absent.length > 0) problems.push(`${taskId} (${item.malformed.kind}, ${item.malformed.variant}): reason lacks ${absent.join(', ')}: ${a.error_message}`);
    }
  }
  t.log(`dead letters: ${dead.length} (${JSON.stringify(codes)}) after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.deepEqual(problems.slice(0, 10), []);
  t.is(seenTasks.size, badTasks.size, 'every malformed and half pair of the run is on the DLQ');
  t.is(seenJunk.size, junk.length, 'every junk body is on the DLQ');

  // and every good one is processed once, with the simulator's counts
  const metrics = await waitFor(
    async () => {
      const { body } = await getJson(`${service.url}/metrics`);
      return hourlyTotals(body).pairs >= expected.totals.pairs && hourlyTotals(body).malformed >= dlqTotal ? body : undefined;
    },
    120_000,
    'every good pair and every failure counted',
  );
  t.log(`/metrics: ${JSON.stringify(hourlyTotals(metrics))}, data_quality_issues ${metrics.data_quality_issues}`);
  // `failed` counts every task that ended without a result, malformed ones included
  t.deepEqual(hourlyTotals(metrics), { ...expected.totals, failed: dlqTotal, malformed: dlqTotal });
  t.is(metrics.data_quality_issues, dlqTotal);
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  const audit = auditResults(localResults(db), goodPairs(scenario));
  t.log(describeAudit(audit));
  t.deepEqual({ duplicated: audit.duplicated, missing: audit.missing, unexpected: audit.unexpected, wrong: audit.wrong }, { duplicated: [], missing: [], unexpected: [], wrong: [] });

  // and /health shows the anomaly
  const health = (await getJson(`${service.url}/health`)).body;
  const types = new Set((health.anomalies as { type: string }[]).map((a) => a.type));
  t.log(`/health: ${health.status}, ${health.anomalies.length} anomalies listed (${[...types].join(', ')}), warnings ${JSON.stringify(health.warnings)}`);
  t.is(health.status, 'degraded');
  t.true(types.has('malformed_input'));
  // (one request's malformed inputs fold into one entry with a count; a message arrives alone)
  for (const a of health.anomalies as Record<string, unknown>[]) {
    t.deepEqual(Object.keys(a).filter((k) => k !== 'count').sort(), ['details', 'drawing_id', 'severity', 'timestamp', 'type']);
  }

  // and the same consumer is still up, ready, and processing
  rss.phase = 'after';
  t.is(service.child.exitCode, null, 'the consumer never exited');
  t.is((await getJson(`${service.url}/healthz`)).status, 200);
  t.is((await getJson(`${service.url}/readyz`)).status, 200);
  const after: ScenarioOptions = { seed: 32, pairs: 50, objects: 20, drawingPrefix: 'after_' };
  await runSimulation({ scenario: after, target: await pubsubTarget({ client: pubsub, topic: names.topic, runId: 'after' }) });
  const total = expected.totals.pairs + inlineTruth(after).totals.pairs;
  await waitFor(
    async () => ((hourlyTotals((await getJson(`${service.url}/metrics`)).body).pairs === total) ? true : undefined),
    60_000,
    'the pairs published after the flood',
  );
  t.log(rss.describe());

  // and nothing is left unacknowledged on the task subscription once the consumer stops
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
  const leftovers = await drain(pubsub, names.subscription, 12_000);
  t.is(leftovers.length, 0, `left on the subscription: ${leftovers.slice(0, 3).map((m) => m.data.toString().slice(0, 80)).join(' | ')}`);
  t.log(`${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
