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
import { waitFor } from '../support/service-process.js';
import { finishAfterRestart, runInProgress } from '../support/fault-sigterm.js';
import type { expectedTotals, hourlyTotals } from '../support/fault-truth.js';

const GRACE_SECONDS = 10;
const PAIRS = 800;

/** What the first test saw, for the known-bug tests after it. */
let termination: { exit: { code: number | null; signal: NodeJS.Signals | null }; seconds: number } | null = null;
let counts: { counted: ReturnType<typeof hourlyTotals>; expected: ReturnType<typeof expectedTotals> } | null = null;

test.serial('SIGTERM during a BigQuery outage, then a restart after recovery: every result lands, none twice', async (t) => {
  // given a run in progress
  const run = await runInProgress(t, {
    name: 'term',
    graceSeconds: GRACE_SECONDS,
    scenario: { seed: 15, pairs: PAIRS, objects: 100, modifiedRate: 0.1 },
    env: { MAX_OUTSTANDING_MESSAGES: '100' },
  });
  const { gcp, first } = run;

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
  const { second, counted, expected } = await finishAfterRestart(t, run);
  counts = { counted, expected };
  t.true(counted.pairs <= PAIRS, 'nothing counted twice');
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
