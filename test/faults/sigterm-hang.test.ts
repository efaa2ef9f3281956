/**
 * SIGTERM while BigQuery hangs (answers nothing, unlike the 503 outage of sigterm-outage): a write
 * in flight can then never finish, so the drain cannot either. The process must still answer its
 * probes, exit 0 when the grace period ends (design.md: exit 0 within the grace period), and a
 * restart after recovery must lose nothing and count nothing twice.
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

const GRACE_SECONDS = 4;
const PAIRS = 1_000;

test('SIGTERM while BigQuery hangs: probes still answer, exit 0 at the grace period, and a restart loses and doubles nothing', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-hang-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    ...gcp.env,
    SOURCE: 'local',
    DATA_DIR: dataDir,
    CONCURRENCY: '2',
    SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
    REPLICA_ID: 'faults-hang',
    LOG_LEVEL: 'warn',
  };
  const live: ServiceProcess[] = [];
  t.teardown(async () => {
    for (const s of live) await s.kill('SIGKILL');
  });

  // given a run in progress
  const first = await startService(env, { timeoutMs: 60_000 });
  live.push(first);
  const scenario: ScenarioOptions = { seed: 16, pairs: PAIRS, objects: 100, modifiedRate: 0.1 };
  const { truth, report } = await runSimulation({ scenario, target: httpTarget({ url: first.url, maxPairs: 100 }) });

  // when BigQuery stops answering with a write in flight
  gcp.proxy.hang();
  await waitFor(async () => (gcp.proxy.stats.held > 0 ? true : undefined), 60_000, 'a request to hang');
  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  const left = queue.read().depth;
  t.log(`BigQuery hangs with ${left} of ${PAIRS} tasks still queued`);
  t.true(left > 0, 'the hang came while work was left, so the drain cannot finish');

  // then liveness answers at once and readiness says why it is not ready, instead of hanging too
  const live1 = await getJson(`${first.url}/healthz`);
  t.is(live1.status, 200);
  const ready = await waitFor(
    async () => {
      const res = await getJson(`${first.url}/readyz`);
      return res.status === 503 ? res : undefined;
    },
    30_000,
    '/readyz to report the hung sink',
  );
  t.regex(JSON.stringify(ready.body), /no answer within/);

  // and SIGTERM ends the process by itself with exit 0 once the grace period is over
  const stopping = Date.now();
  const exit = await first.kill('SIGTERM');
  const seconds = (Date.now() - stopping) / 1000;
  t.log(`SIGTERM while BigQuery hangs (${gcp.proxy.stats.held} requests held): exit ${JSON.stringify(exit)} after ${seconds.toFixed(1)} s (grace ${GRACE_SECONDS} s)`);
  t.deepEqual(exit, { code: 0, signal: null });
  t.regex(first.output(), /grace period reached before the drain finished/);

  // and after recovery a restarted process finishes the run from the queue
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
  await waitFor(async () => (queue.read().depth === 0 ? true : undefined), 60_000, 'the queue to drain');
  const audit = auditResults(dedupeByTaskKey(bigQueryResults(gcp.bigquery)), goodPairs(scenario));
  t.log(describeAudit(audit));
  t.deepEqual({ results: audit.rows, duplicated: audit.duplicated.length, missing: audit.missing.length, wrong: audit.wrong.length }, {
    results: PAIRS,
    duplicated: 0,
    missing: 0,
    wrong: 0,
  });
  const counted = hourlyTotals((await getJson(`${second.url}/metrics`)).body);
  t.log(`/metrics after the restart: ${JSON.stringify(counted)}; the simulator's truth: ${JSON.stringify(expectedTotals(truth))}`);
  t.deepEqual(counted, { ...expectedTotals(truth), failed: 0, malformed: 0 });
  t.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
});
