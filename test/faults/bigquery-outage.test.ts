/**
 * A BigQuery outage under load (SINKS=gcp on the local fakes, SOURCE=local): the BigQuery endpoint
 * answers 503 to everything for 30 s, then recovers. With MAX_DELIVERY_ATTEMPTS=2 that is 15 times
 * MAX_DELIVERY_ATTEMPTS × the old model's retry window scaled to 1 s (SINK_RETRY_SECONDS=1 would
 * have dead-lettered the held tasks after about 2 s): the breaker pauses the stream instead, so no
 * attempt is spent and no good task is dead-lettered. Backpressure holds (the process keeps at most
 * MAX_OUTSTANDING_MESSAGES tasks, the rest wait in the queue, RSS stays flat), nothing is lost
 * (every task's result reaches BigQuery, one per task key after dedupe, with the simulator's
 * counts), nothing is counted twice (/metrics equals the ground truth), and a job posted through
 * the API ends `completed`.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import { getJson, postJson, sleep, startService, tempDir, waitFor } from '../support/service-process.js';
import { RssSampler } from '../support/fault-rss.js';
import { watchQueue, type QueueState } from '../support/fault-queue.js';
import { bigQueryResults, dedupeByTaskKey, startGcpFakes, storedTaskKeys } from '../support/fault-gcp.js';
import { auditResults, describeAudit, goodPairs, hourlyTotals, inlineTruth } from '../support/fault-truth.js';
import { enqueueScenario } from '../support/fault-enqueue.js';

const OUTAGE_MS = 30_000;
const MAX_OUTSTANDING = 100;
const PAIRS = 2_000;
const MAX_DELIVERY_ATTEMPTS = 2;
/** A job posted through the API before the outage, queued behind the backlog. */
const JOB_PAIRS = 50;

const obj = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });
/** A pair with one object moved east by 2 (counts: moved 1). */
const jobPair = (i: number) => ({ drawing_id: `job_${i}`, version_a: [obj('D1', 0)], version_b: [obj('D1', 2)] });

test('BigQuery answering 503 for 30 s: bounded memory, nothing lost, nothing counted twice', async (t) => {
  const started = Date.now();
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-bq-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  // given a simulator run waiting in the queue, with its ground truth
  const scenario: ScenarioOptions = { seed: 7_503, pairs: PAIRS, objects: 200, modifiedRate: 0.1 };
  const enqueued = await enqueueScenario(dataDir, scenario, 'outage');
  const truth = inlineTruth(scenario);
  t.log(`simulator: ${enqueued.tasks} pairs, ${(enqueued.bytes / 2 ** 20).toFixed(0)} MiB of inline tasks queued`);

  // and a service on the GCP fakes consuming it, writing to BigQuery through the fault proxy
  const service = await startService(
    {
      ...gcp.env,
      SOURCE: 'local',
      DATA_DIR: dataDir,
      CONCURRENCY: '2',
      MAX_OUTSTANDING_MESSAGES: String(MAX_OUTSTANDING),
      MAX_DELIVERY_ATTEMPTS: String(MAX_DELIVERY_ATTEMPTS),
      SINK_PROBE_INITIAL_MS: '200',
      SINK_PROBE_MAX_MS: '2000',
      REPLICA_ID: 'faults-bq',
      LOG_LEVEL: 'warn',
    },
    { timeoutMs: 60_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));
  const rss = new RssSampler(service.child.pid!, 250);
  t.teardown(() => rss.stop());
  rss.phase = 'flowing';
  const stored = (): number => storedTaskKeys(gcp.bigquery);
  await waitFor(async () => (stored() >= PAIRS / 4 ? true : undefined), 120_000, 'a quarter of the run in BigQuery');
  const job = await postJson(`${service.url}/process`, { version_pairs: Array.from({ length: JOB_PAIRS }, (_, i) => jobPair(i)) });
  t.is(job.status, 202, JSON.stringify(job.body));

  // when BigQuery goes down while most of the run still waits
  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  const atOutage = queue.read();
  const storedBefore = stored();
  t.true(atOutage.depth > MAX_OUTSTANDING * 5, `a backlog remains when the outage starts (${atOutage.depth} queued)`);
  rss.phase = 'outage';
  gcp.proxy.outage(503);
  const outageStarted = Date.now();
  const during: QueueState[] = [];
  const liveness: number[] = [];
  while (Date.now() - outageStarted < OUTAGE_MS) {
    during.push(queue.read());
    if (during.length % 20 === 0) liveness.push((await fetch(`${service.url}/healthz`)).status);
    await sleep(250);
  }
  const atRecovery = queue.read();
  gcp.proxy.recover();
  rss.sample();
  rss.phase = 'recovery';
  t.log(`outage: ${gcp.proxy.stats.refused} BigQuery requests answered 503 over ${OUTAGE_MS / 1000} s`);
  t.log(
    `queue: ${atOutage.depth} waiting at the start, ${atRecovery.depth} at the end; leased at most ` +
      `${Math.max(...during.map((q) => q.leased))} (limit ${MAX_OUTSTANDING}); most delivery attempts ${Math.max(...during.map((q) => q.maxAttempts))}`,
  );

  // then the run completes after recovery
  await waitFor(async () => (queue.read().depth === 0 ? true : undefined), 240_000, 'the queue to drain');
  rss.sample();
  const recoveredAfterMs = Date.now() - outageStarted - OUTAGE_MS;

  // backpressure: the process never held more than its flow-control limit, and took nothing new
  // off the queue that it could not write (nothing was acked while BigQuery was down)
  t.true(gcp.proxy.stats.refused > 0, 'the outage was hit');
  for (const q of during) t.true(q.leased <= MAX_OUTSTANDING, `leased ${q.leased} > ${MAX_OUTSTANDING}`);
  t.true(atOutage.depth - atRecovery.depth <= MAX_OUTSTANDING, `at most one flow-control window acked during the outage (${atOutage.depth} → ${atRecovery.depth})`);
  t.is(atRecovery.deadLetters, 0);
  t.true(Math.max(...during.map((q) => q.maxAttempts)) <= 1, 'the outage spent no delivery attempt');
  t.true(liveness.length > 0 && liveness.every((s) => s === 200), `the process stayed live (/healthz ${liveness.join(',')})`);

  // memory: RSS during the outage stays near where it was under load, far below the backlog
  t.log(rss.describe());
  const flowing = rss.summary('flowing');
  const outage = rss.summary('outage');
  const recovery = rss.summary('recovery');
  const normalMb = Math.max(flowing.maxMb, recovery.maxMb);
  const backlogMb = (atOutage.depth * (enqueued.bytes / PAIRS)) / 2 ** 20;
  t.log(
    `backlog at the outage ${backlogMb.toFixed(0)} MiB; RSS max ${flowing.maxMb.toFixed(0)} MiB flowing before, ` +
      `${recovery.maxMb.toFixed(0)} MiB after, ` +
      `${outage.maxMb.toFixed(0)} MiB during the outage (first ${outage.firstMb.toFixed(0)}, last ${outage.lastMb.toFixed(0)})`,
  );
  // (Within the outage the process holds one flow-control window of decoded tasks and the batch
  // being retried; what must not happen is a climb with the backlog, which the flow-control
  // check above bounds. The slack below covers those and garbage-collection swing.)
  t.true(outage.maxMb < normalMb + 64 + 48, 'RSS during the outage stays within the working level plus the held window');

  // nothing lost: every task's result is in BigQuery, one per task key after dedupe
  const raw = bigQueryResults(gcp.bigquery);
  const deduped = dedupeByTaskKey(raw).filter((r) => !r.drawingId.startsWith('job_'));
  const audit = auditResults(deduped, goodPairs(scenario));
  t.log(`BigQuery change_results: ${storedBefore} rows before the outage, ${raw.length} raw rows at the end (replays included); ${describeAudit(audit)}`);
  t.deepEqual(
    { results: audit.rows, duplicated: audit.duplicated, missing: audit.missing.slice(0, 10), unexpected: audit.unexpected, wrong: audit.wrong.slice(0, 5) },
    { results: PAIRS, duplicated: [], missing: [], unexpected: [], wrong: [] },
  );
  t.is(raw.length >= PAIRS + JOB_PAIRS, true);
  const sample = deduped[Math.floor(deduped.length / 2)]!;
  const history = await getJson(`${service.url}/changes?drawing_id=${sample.drawingId}&limit=10`);
  t.is(history.body.length, 1, `the service's own read of ${sample.drawingId} sees one result`);

  // nothing counted twice: /metrics equals the simulator's ground truth
  const metrics = (await getJson(`${service.url}/metrics`)).body;
  t.log(`/metrics: ${JSON.stringify(hourlyTotals(metrics))}, latency_count ${metrics.latency_count}`);
  const expected = { ...truth.totals, failed: 0, malformed: 0 };
  expected.pairs += JOB_PAIRS;
  expected.moved += JOB_PAIRS;
  t.deepEqual(hourlyTotals(metrics), expected);
  t.is(metrics.latency_count, PAIRS + JOB_PAIRS);

  // every job ends completed, and nothing was dead-lettered
  t.like((await getJson(`${service.url}/jobs/${job.body.job_id}`)).body, { tasks_created: JOB_PAIRS, completed: JOB_PAIRS, failed: 0, pending: 0 });
  t.is(queue.read().deadLetters, 0);

  const warnings = service.output().split('\n').filter((l) => l.includes('sink write failed')).length;
  t.log(`${warnings} 'sink write failed' log lines; run finished ${(recoveredAfterMs / 1000).toFixed(1)} s after recovery, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
});
