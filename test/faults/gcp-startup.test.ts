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

const HANG_MS = 20_000;

/** `/healthz` and `/readyz` once, each given up after 5 s (a probe's generous timeout). */
async function probe(url: string): Promise<{ healthz: number | string; readyz: number | string; reason: string }> {
  const get = async (route: string): Promise<{ status: number | string; body: { error?: { message?: string } } }> => {
    try {
      const res = await fetch(`${url}${route}`, { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, body: (await res.json()) as { error?: { message?: string } } };
    } catch (err) {
      return { status: (err as Error).name, body: {} };
    }
  };
  const [healthz, readyz] = await Promise.all([get('/healthz'), get('/readyz')]);
  return { healthz: healthz.status, readyz: readyz.status, reason: readyz.body.error?.message ?? '' };
}

test.serial('BigQuery hanging at start-up: the service listens at once, /healthz answers, /readyz is 503 "restoring", then ready once BigQuery answers', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-hang-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));

  // every BigQuery request is held unanswered, as a hung API would
  gcp.proxy.hang();
  const service = await startService({ ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, { ready: false });
  t.teardown(() => void service.kill('SIGKILL'));
  await waitFor(async () => ((await probe(service.url)).healthz === 200 ? true : undefined), 30_000, 'the server to listen');

  const seen: Awaited<ReturnType<typeof probe>>[] = [];
  const until = Date.now() + HANG_MS;
  while (Date.now() < until && service.child.exitCode === null) {
    seen.push(await probe(service.url));
    await sleep(500);
  }
  t.is(service.child.exitCode, null, `still running after ${HANG_MS / 1000} s of a hung BigQuery (output: ${service.output().slice(-500)})`);
  t.true(gcp.proxy.stats.held > 0, 'the service did call the hung API');
  t.true(seen.length > 10);
  t.deepEqual(
    seen.filter((p) => p.healthz !== 200 || p.readyz !== 503),
    [],
    'every probe: /healthz 200 and /readyz 503',
  );
  for (const p of seen) t.regex(p.reason, /^not ready: .*restoring this replica's hourly windows from the store/);

  gcp.proxy.recover();
  await waitFor(async () => ((await probe(service.url)).readyz === 200 ? true : undefined), 120_000, 'readiness once BigQuery answers');
  const result = (await processesOnePair(service.url)) as { moved?: unknown[] };
  t.is(result.moved?.length, 1);
});
