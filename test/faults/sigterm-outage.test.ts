/**
 * SIGTERM while BigQuery is down (SINKS=gcp on the local fakes, SOURCE=local): the process must
 * stop pulling, nack what it holds and exit 0 within the grace period (design.md, Delivery
 * guarantees), and a restart after recovery must lose nothing and count nothing twice.
 *
 * (Both checks once failed: the BigQuery client's own retries outlasted the grace period, and a
 * replica rebuilt its windows only from rollups that the outage kept from being flushed. The
 * client no longer retries on its own, and a replica with the same REPLICA_ID rebuilds its windows
 * from its rows in processing_metrics.)
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { runSimulation } from '../../src/simulate/run.js';
import { httpTarget } from '../../src/simulate/target-http.js';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import { getJson, startService, tempDir, waitFor, type ServiceProcess } from '../support/service-process.js';
import { bigQueryResults, dedupeByTaskKey, startGcpFakes } from '../support/fault-gcp.js';
import { watchQueue } from '../support/fault-queue.js';
import { auditResults, describeAudit, expectedTotals, goodPairs, hourlyTotals } from '../support/fault-truth.js';

const GRACE_SECONDS = 10;
const PAIRS = 800;

/** What the first test saw, for the known-bug tests after it. */
let termination: { exit: { code: number | null; signal: NodeJS.Signals | null }; seconds: number } | null = null;
let counts: { counted: ReturnType<typeof hourlyTotals>; expected: ReturnType<typeof expectedTotals> } | null = null;

test.serial('SIGTERM during a BigQuery outage, then a restart after recovery: every result lands, none twice', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-term-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    ...gcp.env,
    SOURCE: 'local',
    DATA_DIR: dataDir,
    CONCURRENCY: '2',
    MAX_OUTSTANDING_MESSAGES: '100',
    SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
    REPLICA_ID: 'faults-term',
    LOG_LEVEL: 'warn',
  };
  const live: ServiceProcess[] = [];
  t.teardown(async () => {
    for (const s of live) await s.kill('SIGKILL');
  });

  // given a run in progress
  const first = await startService(env, { timeoutMs: 60_000 });
  live.push(first);
  const scenario: ScenarioOptions = { seed: 15, pairs: PAIRS, objects: 100, modifiedRate: 0.1 };
  const { truth, report } = await runSimulation({ scenario, target: httpTarget({ url: first.url, maxPairs: 200 }) });

  // when BigQuery goes down, a write fails, and the process is told to stop
  gcp.proxy.outage(503);
  await waitFor(async () => (gcp.proxy.stats.refused > 0 ? true : undefined), 60_000, 'a write to hit the outage');
  const stopping = Date.now();
  const exit = await first.kill('SIGTERM');
  termination = { exit, seconds: (Date.now() - stopping) / 1000 };
  t.log(`SIGTERM during the outage: exit ${JSON.stringify(exit)} after ${termination.seconds.toFixed(1)} s (grace ${GRACE_SECONDS} s)`);
  t.is(exit.signal, null, 'the process ended by itself, not by a signal');

  // then after recovery a restarted process finishes the run from the queue
  gcp.proxy.recover();
  const second = await startService(env, { timeoutMs: 60_000 });
  live.push(second);
  for (const jobId of report.jobs!) {
    const job = await waitFor(
      async () => {
        const { status, body } = await getJson(`${second.url}/jobs/${jobId}`);
        return status === 200 && body.pending === 0 ? body : undefined;
      },
      180_000,
      `job ${jobId} to finish`,
    );
    t.is(job.failed, 0);
  }
  // A job counts a task done once its BigQuery rows exist, a moment before the result objects
  // and the count: the queue is empty only when every task is counted and acked.
  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  await waitFor(async () => (queue.read().depth === 0 ? true : undefined), 60_000, 'the queue to drain');
  const audit = auditResults(dedupeByTaskKey(bigQueryResults(gcp.bigquery)), goodPairs(scenario));
  t.log(describeAudit(audit));
  t.deepEqual({ results: audit.rows, duplicated: audit.duplicated.length, missing: audit.missing.length, wrong: audit.wrong.length }, {
    results: PAIRS,
    duplicated: 0,
    missing: 0,
    wrong: 0,
  });
  const metrics = (await getJson(`${second.url}/metrics`)).body;
  counts = { counted: hourlyTotals(metrics), expected: expectedTotals(truth) };
  t.log(`/metrics after the restart: ${JSON.stringify(counts.counted)}; the simulator's truth: ${JSON.stringify(counts.expected)}`);
  t.true(counts.counted.pairs <= PAIRS, 'nothing counted twice');
  t.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
});

test.serial('SIGTERM during a BigQuery outage exits 0 within the grace period', (t) => {
  if (!termination) return t.fail('the previous test did not get as far as the SIGTERM');
  t.deepEqual(termination.exit, { code: 0, signal: null }, `exit after ${termination.seconds.toFixed(1)} s`);
});

test.serial('after SIGTERM during a BigQuery outage and a restart, /metrics equals the ground truth', (t) => {
  if (!counts) return t.fail('the first test did not get as far as /metrics');
  t.deepEqual(counts.counted, { ...counts.expected, failed: 0, malformed: 0 });
});
