/**
 * The two halves every SIGTERM-during-a-sink-fault test shares: a run in progress on the GCP sinks'
 * local fakes (embedded queue in), and, after the fault, a restarted process that must finish the
 * run with every result landing once and the counts equal to the simulator's truth.
 */
import { rmSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import { runSimulation } from '../../src/simulate/run.js';
import { httpTarget } from '../../src/simulate/target-http.js';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import type { TruthFile } from '../../src/simulate/truth.js';
import { getJson, startService, tempDir, waitFor, type ServiceProcess } from './service-process.js';
import { bigQueryResults, dedupeByTaskKey, startGcpFakes, type GcpFakes } from './fault-gcp.js';
import { watchQueue, type QueueWatcher } from './fault-queue.js';
import { auditResults, describeAudit, expectedTotals, goodPairs, hourlyTotals } from './fault-truth.js';

export interface RunInProgress {
  readonly gcp: GcpFakes;
  readonly dataDir: string;
  readonly env: Record<string, string>;
  readonly first: ServiceProcess;
  readonly scenario: ScenarioOptions;
  readonly truth: TruthFile;
  readonly jobs: readonly string[];
  readonly queue: QueueWatcher;
  /** Starts another process on the same environment (killed at teardown). */
  start(): Promise<ServiceProcess>;
}

/**
 * Starts the fakes and a service process, and posts a simulator run to it.
 *
 * @example
 * const run = await runInProgress(t, { name: 'hang', graceSeconds: 4, scenario: { seed: 16, pairs: 1000, objects: 100 } });
 */
export async function runInProgress(
  t: ExecutionContext,
  options: { readonly name: string; readonly graceSeconds: number; readonly scenario: ScenarioOptions; readonly env?: Record<string, string> },
): Promise<RunInProgress> {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir(`buildtrace-faults-${options.name}-`);
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = {
    ...gcp.env,
    SOURCE: 'local',
    DATA_DIR: dataDir,
    CONCURRENCY: '2',
    SHUTDOWN_GRACE_SECONDS: String(options.graceSeconds),
    REPLICA_ID: `faults-${options.name}`,
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const live: ServiceProcess[] = [];
  t.teardown(async () => {
    for (const s of live) await s.kill('SIGKILL');
  });
  const start = async () => {
    const service = await startService(env, { timeoutMs: 60_000 });
    live.push(service);
    return service;
  };
  const first = await start();
  const { truth, report } = await runSimulation({ scenario: options.scenario, target: httpTarget({ url: first.url, maxPairs: 200 }) });
  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  return { gcp, dataDir, env, first, scenario: options.scenario, truth, jobs: report.jobs ?? [], queue, start };
}

/**
 * Restarts after the fault is over and waits until the run is finished: every job done without a
 * failure and the queue empty. Asserts that BigQuery holds one correct result per good pair, and
 * returns the restarted process and the counts its `/metrics` shows next to the truth.
 */
export async function finishAfterRestart(
  t: ExecutionContext,
  run: RunInProgress,
): Promise<{ second: ServiceProcess; counted: ReturnType<typeof hourlyTotals>; expected: ReturnType<typeof expectedTotals> }> {
  const second = await run.start();
  for (const jobId of run.jobs) {
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
  await waitFor(async () => (run.queue.read().depth === 0 ? true : undefined), 60_000, 'the queue to drain');
  const audit = auditResults(dedupeByTaskKey(bigQueryResults(run.gcp.bigquery)), goodPairs(run.scenario));
  t.log(describeAudit(audit));
  t.deepEqual({ results: audit.rows, duplicated: audit.duplicated.length, missing: audit.missing.length, wrong: audit.wrong.length }, {
    results: run.scenario.pairs,
    duplicated: 0,
    missing: 0,
    wrong: 0,
  });
  const counted = hourlyTotals((await getJson(`${second.url}/metrics`)).body);
  const expected = expectedTotals(run.truth);
  t.log(`/metrics after the restart: ${JSON.stringify(counted)}; the simulator's truth: ${JSON.stringify(expected)}`);
  return { second, counted, expected };
}
