/**
 * SIGTERM while BigQuery hangs (answers nothing, unlike the 503 outage of sigterm-outage): a write
 * in flight can then never finish, so the drain cannot either. The process must still answer its
 * probes, exit 0 when the grace period ends (design.md: exit 0 within the grace period), and a
 * restart after recovery must lose nothing and count nothing twice.
 */
import test from 'ava';
import { getJson, waitFor } from '../support/service-process.js';
import { finishAfterRestart, runInProgress } from '../support/fault-sigterm.js';

const GRACE_SECONDS = 4;
const PAIRS = 1_000;

test('SIGTERM while BigQuery hangs: probes still answer, exit 0 at the grace period, and a restart loses and doubles nothing', async (t) => {
  // given a run in progress
  const run = await runInProgress(t, { name: 'hang', graceSeconds: GRACE_SECONDS, scenario: { seed: 16, pairs: PAIRS, objects: 100, modifiedRate: 0.1 } });
  const { gcp, first } = run;

  // when BigQuery stops answering with work left
  gcp.proxy.hang();
  await waitFor(async () => (gcp.proxy.stats.held > 0 ? true : undefined), 60_000, 'a request to hang');
  const left = run.queue.read().depth;
  t.log(`BigQuery hangs with ${left} of ${PAIRS} tasks still queued`);
  t.true(left > 0, 'the hang came while work was left, so the drain cannot finish');

  // then liveness answers at once and readiness says why it is not ready, instead of hanging too
  t.is((await getJson(`${first.url}/healthz`)).status, 200);
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

  // and after recovery a restarted process finishes the run: every result once, counts as the truth
  gcp.proxy.recover();
  const { second, counted, expected } = await finishAfterRestart(t, run);
  t.deepEqual(counted, { ...expected, failed: 0, malformed: 0 });
  t.deepEqual(await second.kill('SIGTERM'), { code: 0, signal: null });
});
