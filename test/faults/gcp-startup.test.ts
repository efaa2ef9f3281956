/**
 * Start-up of the real service process with SINKS=gcp on the local fakes when BigQuery is not
 * there yet: a fresh project whose dataset the service is to create itself, and a BigQuery
 * outage during start-up. The GCP sink sets its schema up in the background so that "a slow or
 * down API at start-up must not crash the process" (sinks/gcp.ts).
 *
 * (These once failed: start-up awaited a restore that queried `hourly_rollups` before the table
 * existed. The restore is now retried in the background.)
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { getJson, postJson, sleep, startService, tempDir, waitFor } from '../support/service-process.js';
import { startGcpFakes } from '../support/fault-gcp.js';

const OUTAGE_MS = 40_000;
const door = { id: 'D1', type: 'door', x: 1, y: 2, width: 1, height: 2 };
const moved = { ...door, x: 3 };

/** Posts one pair and waits for its result: the service is not only up but working. */
async function processesOnePair(url: string): Promise<unknown> {
  const posted = await postJson(`${url}/process`, { version_pairs: [{ drawing_id: 'startup_1', version_a: [door], version_b: [moved] }] });
  if (posted.status !== 202) return posted;
  return waitFor(
    async () => {
      const { status, body } = await getJson(`${url}/changes?drawing_id=startup_1`);
      return status === 200 ? body : undefined;
    },
    60_000,
    'the result of startup_1',
  );
}

test.serial('a fresh project: the service creates its dataset and tables and starts', async (t) => {
  const gcp = await startGcpFakes({ provision: false });
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-fresh-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  const service = await startService({ ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  t.truthy(gcp.bigquery.table('buildtrace', 'change_results'), 'the service created its tables');
  const result = (await processesOnePair(service.url)) as { moved?: unknown[] };
  t.is(result.moved?.length, 1);
});

test.serial('BigQuery down during start-up: the process waits, unready, and becomes ready after recovery', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-down-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  gcp.proxy.outage(503);
  const service = await startService({ ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, { ready: false });
  t.teardown(() => void service.kill('SIGKILL'));
  // longer than the client's own retries of one request (~15 s), which would otherwise hide it
  await Promise.race([sleep(OUTAGE_MS), service.exited]);
  const alive = service.child.exitCode === null && service.child.signalCode === null;
  t.true(alive, `still running after ${OUTAGE_MS / 1000} s of outage (output: ${service.output().slice(-500)})`);
  gcp.proxy.recover();
  if (!alive) return;

  await waitFor(async () => ((await fetch(`${service.url}/readyz`)).status === 200 ? true : undefined), 90_000, 'readiness after recovery');
  const result = (await processesOnePair(service.url)) as { moved?: unknown[] };
  t.is(result.moved?.length, 1);
});
