/**
 * Crash safety on the embedded default (SOURCE=local, SINKS=local): a 5,000-pair run from the
 * simulator is SIGKILLed at random points several times (once during start-up) and restarted
 * each time; in the end every pair has exactly one result, with the simulator's counts, and the
 * hourly counts equal the simulator's ground truth. The embedded queue reclaims a dead process's
 * leases at once, so many kills fit in the main suite; the same run on the Pub/Sub emulator,
 * where leases linger, is in test/faults/long.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runSimulation } from '../../src/simulate/run.js';
import { filesTarget } from '../../src/simulate/target-files.js';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import { getJson, postJson, startService, tempDir, waitFor, type ServiceProcess } from '../support/service-process.js';
import { describeKill, describeRecord, killPlan, runKills } from '../support/fault-kill.js';
import { auditResults, describeAudit, expectedTotals, goodPairs, hourlyTotals, localResults } from '../support/fault-truth.js';

const SEED = 20_261_129;
const PAIRS = 5_000;
const KILLS = 6;

test('SIGKILL at random points of a 5,000-pair run, restarting each time: one result per pair, counts equal the simulator', async (t) => {
  const started = Date.now();
  const dataDir = tempDir('buildtrace-faults-kill-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const live = new Set<ServiceProcess>();
  t.teardown(async () => {
    for (const service of live) await service.kill('SIGKILL');
  });

  // given a simulator run in the seed layout, with its ground truth
  const scenario: ScenarioOptions = { seed: SEED, pairs: PAIRS, objects: 40, modifiedRate: 0.1 };
  const { truth } = await runSimulation({ scenario, target: filesTarget({ dir: path.join(dataDir, 'input', 'run'), revisions: 1 }) });
  t.is(truth.expected.results, PAIRS);
  t.log(`simulator: ${truth.pairs} pairs, ${JSON.stringify(truth.changes)} (${truth.sent.seconds.toFixed(1)} s to write)`);

  const env = { DATA_DIR: dataDir, CONCURRENCY: '2', LOG_LEVEL: 'warn' };
  const start = async (ready: boolean): Promise<ServiceProcess> => {
    const service = await startService(env, { ready, timeoutMs: 60_000 });
    live.add(service);
    void service.exited.then(() => live.delete(service));
    return service;
  };
  const first = await start(true);
  const accepted = await postJson(`${first.url}/process`, { storage_path: 'run' });
  t.is(accepted.status, 202, JSON.stringify(accepted.body));
  t.is(accepted.body.tasks_created, PAIRS);
  const jobId: string = accepted.body.job_id;
  const progress = async (service: ServiceProcess): Promise<number> => (await getJson(`${service.url}/jobs/${jobId}`)).body.completed as number;

  // when it is killed at random points, once during start-up, and restarted each time
  const plan = killPlan(SEED, KILLS);
  const { records, survivor } = await runKills({
    plan,
    first,
    total: PAIRS,
    start,
    progress,
    timeoutMs: 180_000,
    onKill: (r) => t.log(`SIGKILL pid ${r.pid} at ${describeKill(r.kill)}: ${describeRecord(r)}`),
  });
  for (const r of records) t.is(r.exit.signal, 'SIGKILL', `pid ${r.pid} was alive when killed (${describeKill(r.kill)})`);
  const progressKills = records.filter((r) => r.kill.when === 'progress');
  t.true(progressKills.every((r) => r.doneBefore! < PAIRS), 'every mid-stream kill landed before the run was done');

  // then the last process finishes the run
  const job = await waitFor(
    async () => {
      const { body } = await getJson(`${survivor.url}/jobs/${jobId}`);
      return body.pending === 0 ? body : undefined;
    },
    180_000,
    'the job to finish',
  );
  t.deepEqual(job, { job_id: jobId, tasks_created: PAIRS, completed: PAIRS, failed: 0, pending: 0 });

  // and the hourly counts equal the simulator's ground truth: nothing lost, nothing doubled
  const metrics = (await getJson(`${survivor.url}/metrics`)).body;
  const counted = hourlyTotals(metrics);
  t.log(`/metrics: ${JSON.stringify(counted)}, latency_count ${metrics.latency_count}`);
  t.deepEqual(counted, { ...expectedTotals(truth), failed: 0, malformed: 0 });
  t.is(metrics.latency_count, PAIRS);

  // and every pair has exactly one result, with the simulator's counts
  const db = new Database(path.join(dataDir, 'buildtrace.db'), { readonly: true, fileMustExist: true });
  t.teardown(() => db.close());
  const audit = auditResults(localResults(db), goodPairs(scenario));
  t.log(describeAudit(audit));
  t.deepEqual(
    { rows: audit.rows, duplicated: audit.duplicated, missing: audit.missing.slice(0, 10), unexpected: audit.unexpected, wrong: audit.wrong.slice(0, 5) },
    { rows: PAIRS, duplicated: [], missing: [], unexpected: [], wrong: [] },
  );
  const queue = db.prepare('SELECT (SELECT count(*) FROM queue) AS queued, (SELECT count(*) FROM dead_letters) AS dead').get();
  t.deepEqual(queue, { queued: 0, dead: 0 }, 'the queue is drained and nothing was dead-lettered');

  t.deepEqual(await survivor.kill('SIGTERM'), { code: 0, signal: null }, survivor.output());
  t.log(`${records.length} kills, ${((Date.now() - started) / 1000).toFixed(1)} s in all`);
});
