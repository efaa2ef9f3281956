/**
 * Crash safety with the GCP sinks (SINKS=gcp on the local fakes, SOURCE=local): a simulator run
 * SIGKILLed at random points and restarted each time must end with every result in BigQuery (one
 * per task key after dedupe, with the simulator's counts) and /metrics equal to the simulator's
 * ground truth.
 *
 * (This once failed: a replica restored its windows only from rollups flushed every
 * ROLLUP_FLUSH_SECONDS, so what it counted since died with it. It now rebuilds from its own rows in
 * processing_metrics, and does not count again a replay of a task whose rows it restored.)
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import { getJson, startService, tempDir, waitFor, type ServiceProcess } from '../support/service-process.js';
import { describeKill, describeRecord, killPlan, runKills } from '../support/fault-kill.js';
import { bigQueryResults, dedupeByTaskKey, startGcpFakes, storedTaskKeys } from '../support/fault-gcp.js';
import { auditResults, describeAudit, goodPairs, hourlyTotals, inlineTruth, type ExpectedTotals } from '../support/fault-truth.js';
import { enqueueScenario } from '../support/fault-enqueue.js';
import { watchQueue } from '../support/fault-queue.js';

const SEED = 4_242;
const PAIRS = 2_000;

let counts: { counted: ReturnType<typeof hourlyTotals>; expected: ExpectedTotals } | null = null;

test.serial('SIGKILL at random points with SINKS=gcp: every result lands in BigQuery once, with the simulator counts', async (t) => {
  const started = Date.now();
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-kill-gcp-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const live = new Set<ServiceProcess>();
  t.teardown(async () => {
    for (const service of live) await service.kill('SIGKILL');
  });
  const env = { ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, CONCURRENCY: '2', REPLICA_ID: 'faults-kill-gcp', LOG_LEVEL: 'warn' };
  const start = async (ready: boolean): Promise<ServiceProcess> => {
    const service = await startService(env, { ready, timeoutMs: 60_000 });
    live.add(service);
    void service.exited.then(() => live.delete(service));
    return service;
  };

  // given a simulator run waiting in the queue, and a service on the GCP fakes consuming it
  const scenario: ScenarioOptions = { seed: SEED, pairs: PAIRS, objects: 60, modifiedRate: 0.1 };
  const enqueued = await enqueueScenario(dataDir, scenario, 'kill-gcp');
  t.is(enqueued.tasks, PAIRS);
  const truth = inlineTruth(scenario);
  const first = await start(true);
  // progress as BigQuery holds it: results durably written, whichever process wrote them
  const done = async (): Promise<number> => storedTaskKeys(gcp.bigquery);

  // when it is killed at random points (once during start-up) and restarted each time
  const { records, survivor } = await runKills({
    plan: killPlan(SEED, 4, 0.75),
    first,
    total: PAIRS,
    start,
    progress: done,
    timeoutMs: 180_000,
    onKill: (r) => t.log(`SIGKILL pid ${r.pid} at ${describeKill(r.kill)}: ${describeRecord(r)}`),
  });
  for (const r of records) t.is(r.exit.signal, 'SIGKILL');
  t.true(records.every((r) => r.doneBefore === null || r.doneBefore < PAIRS), 'every mid-stream kill landed before the run was done');

  // then the run completes, and BigQuery holds every result once (after dedupe), as simulated
  await waitFor(async () => ((await done()) === PAIRS ? true : undefined), 180_000, 'every result to land');
  const raw = bigQueryResults(gcp.bigquery);
  const audit = auditResults(dedupeByTaskKey(raw), goodPairs(scenario));
  t.log(`BigQuery: ${raw.length} raw change_results rows; ${describeAudit(audit)}`);
  t.deepEqual({ results: audit.rows, duplicated: audit.duplicated.length, missing: audit.missing.length, wrong: audit.wrong.length }, {
    results: PAIRS,
    duplicated: 0,
    missing: 0,
    wrong: 0,
  });

  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  // tasks whose results a killed process wrote but never acked come back, and are acked as replays
  const drained = await waitFor(async () => (queue.read().depth === 0 ? queue.read() : undefined), 120_000, 'the queue to drain');
  t.is(drained.deadLetters, 0, 'nothing was dead-lettered');

  const metrics = (await getJson(`${survivor.url}/metrics`)).body;
  counts = { counted: hourlyTotals(metrics), expected: truth.totals };
  t.log(`/metrics: ${JSON.stringify(counts.counted)}; the simulator's truth: ${JSON.stringify(counts.expected)}`);
  t.true(counts.counted.pairs <= PAIRS, 'nothing counted twice');
  t.deepEqual(await survivor.kill('SIGTERM'), { code: 0, signal: null });
  t.log(`${records.length} kills, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});

test.serial('after SIGKILLs with SINKS=gcp, /metrics equals the ground truth', (t) => {
  if (!counts) return t.fail('the first test did not get as far as /metrics');
  t.deepEqual(counts.counted, { ...counts.expected, failed: 0, malformed: 0 });
});
