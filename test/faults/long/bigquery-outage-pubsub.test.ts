/**
 * A BigQuery outage with the stream still coming: the service consumes the official Pub/Sub
 * emulator (SOURCE=pubsub) and writes to the GCP fakes (SINKS=gcp); BigQuery answers 503 for 30 s
 * while the simulator keeps publishing, so the backlog grows in the broker, not in the process.
 * The process stays live and within its working memory, nothing is lost or dead-lettered, nothing
 * is counted twice. The embedded-queue
 * variant runs in the main suite (test/faults/bigquery-outage.test.ts); this one is in
 * `npm run test:faults` only.
 */
import anyTest from 'ava';
import { runSimulation } from '../../../src/simulate/run.js';
import { pubsubTarget } from '../../../src/simulate/target-pubsub.js';
import type { ScenarioOptions } from '../../../src/simulate/scenario.js';
import { getJson, startService, waitFor } from '../../support/service-process.js';
import { drain, freshTopologyAndDataDir, withEmulator } from '../../support/pubsub-e2e.js';
import { RssSampler } from '../../support/fault-rss.js';
import { bigQueryResults, dedupeByTaskKey, startGcpFakes, storedTaskKeys } from '../../support/fault-gcp.js';
import { auditResults, describeAudit, goodPairs, hourlyTotals, inlineTruth } from '../../support/fault-truth.js';

const test = withEmulator(anyTest);

const OUTAGE_MS = 30_000;
const HALF = 1_000;

test('BigQuery 503 for 30 s while Pub/Sub traffic keeps coming: stays live, nothing lost, nothing counted twice', async (t) => {
  const started = Date.now();
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-faults-bq-ps-');
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());

  const service = await startService(
    {
      ...gcp.env,
      SOURCE: 'pubsub',
      PUBSUB_EMULATOR_HOST: emulator.host,
      PUBSUB_TOPIC: names.topic,
      PUBSUB_SUBSCRIPTION: names.subscription,
      PUBSUB_DLQ_TOPIC: names.dlqTopic,
      DATA_DIR: dataDir,
      CONCURRENCY: '2',
      MAX_OUTSTANDING_MESSAGES: '100',
      REPLICA_ID: 'faults-bq-ps',
      LOG_LEVEL: 'warn',
    },
    { timeoutMs: 90_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));
  const rss = new RssSampler(service.child.pid!, 250, 'flowing');
  t.teardown(() => rss.stop());

  // given a first half of the run flowing
  const before: ScenarioOptions = { seed: 61, pairs: HALF, objects: 200, modifiedRate: 0.1, drawingPrefix: 'before_' };
  const after: ScenarioOptions = { seed: 62, pairs: HALF, objects: 200, modifiedRate: 0.1, drawingPrefix: 'during_' };
  await runSimulation({ scenario: before, target: await pubsubTarget({ client: pubsub, topic: names.topic, runId: 'before' }) });
  await waitFor(async () => (storedTaskKeys(gcp.bigquery) >= HALF / 4 ? true : undefined), 120_000, 'a quarter of the first half in BigQuery');

  // when BigQuery goes down for 30 s and the second half is published meanwhile
  const storedAtOutage = storedTaskKeys(gcp.bigquery);
  rss.phase = 'outage';
  gcp.proxy.outage(503);
  const outageStarted = Date.now();
  const { report } = await runSimulation({ scenario: after, target: await pubsubTarget({ client: pubsub, topic: names.topic, runId: 'during' }) });
  const liveness: number[] = [];
  while (Date.now() - outageStarted < OUTAGE_MS) {
    liveness.push((await fetch(`${service.url}/healthz`)).status);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  const storedAtRecovery = storedTaskKeys(gcp.bigquery);
  gcp.proxy.recover();
  rss.sample();
  rss.phase = 'recovery';
  t.log(
    `outage: ${gcp.proxy.stats.refused} BigQuery requests answered 503; ${report.written} more pairs published meanwhile ` +
      `(${(report.bytes / 2 ** 20).toFixed(0)} MiB); results stored ${storedAtOutage} at the start, ${storedAtRecovery} at the end`,
  );

  // then every pair lands after recovery
  await waitFor(async () => (storedTaskKeys(gcp.bigquery) >= 2 * HALF ? true : undefined), 300_000, 'every result in BigQuery');
  const metrics = await waitFor(
    async () => {
      const { status, body } = await getJson(`${service.url}/metrics`);
      return status === 200 && hourlyTotals(body).pairs >= 2 * HALF ? body : undefined;
    },
    120_000,
    'every pair in /metrics',
  );
  rss.sample();

  t.true(gcp.proxy.stats.refused > 0, 'the outage was hit');
  t.true(storedAtRecovery - storedAtOutage <= 100, 'at most one flow-control window was written as the outage began');
  t.true(liveness.every((s) => s === 200), `the process stayed live (/healthz ${liveness.join(',')})`);

  // memory: the outage does not take the process beyond what it uses while work flows. (No
  // tighter bound on the emulator: it ignores streaming-pull flow control and pushes what is
  // published in large responses, which the client holds pending; a subscriber allowed 100
  // messages and 8 MiB was sent 2,000 messages, 40 MB, at once. The embedded-queue variant in the main
  // suite bounds memory during the outage tightly.)
  t.log(rss.describe());
  const flowing = rss.summary('flowing');
  const outage = rss.summary('outage');
  const recovery = rss.summary('recovery');
  t.log(`RSS grew ${(outage.maxMb - outage.firstMb).toFixed(0)} MiB during the outage, while ${(report.bytes / 2 ** 20).toFixed(0)} MiB were published`);
  t.true(outage.maxMb < Math.max(flowing.maxMb, recovery.maxMb) + 32, 'RSS during the outage stays within what the process uses while work flows');

  // nothing lost, nothing twice, nothing dead-lettered
  const raw = bigQueryResults(gcp.bigquery);
  const expected = new Map([...goodPairs(before), ...goodPairs(after)]);
  const audit = auditResults(dedupeByTaskKey(raw), expected);
  t.log(`BigQuery: ${raw.length} raw change_results rows; ${describeAudit(audit)}`);
  t.deepEqual({ results: audit.rows, duplicated: audit.duplicated.length, missing: audit.missing.length, wrong: audit.wrong.length }, {
    results: 2 * HALF,
    duplicated: 0,
    missing: 0,
    wrong: 0,
  });
  const truth = [inlineTruth(before).totals, inlineTruth(after).totals];
  const sum = Object.fromEntries(Object.keys(truth[0]!).map((k) => [k, truth.reduce((n, x) => n + (x[k as keyof typeof x] ?? 0), 0)]));
  t.log(`/metrics: ${JSON.stringify(hourlyTotals(metrics))}`);
  t.deepEqual(hourlyTotals(metrics), { ...sum, failed: 0, malformed: 0 });

  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
  const dead = await drain(pubsub, names.dlqSubscription, 3_000);
  t.is(dead.length, 0, 'nothing was dead-lettered');
  t.log(`${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
