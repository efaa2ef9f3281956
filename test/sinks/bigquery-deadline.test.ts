/**
 * Every BigQuery read has a deadline that cancels it on the wire, through the real client against
 * the local fake (behind the fault proxy, which can hold requests unanswered like a hung API): the
 * query job carries the deadline as `jobTimeoutMs`, the connection is closed when it passes, and
 * reads abandoned during a hang do not accumulate.
 */
import test from 'ava';
import { createBigQueryClient } from '../../sinks/bigquery/config.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { loadConfig } from '../../src/config.js';
import { TransientError } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/log.js';
import { startGcpFakes } from '../support/fault-gcp.js';
import { waitFor } from '../support/in-process.js';

const DEADLINE_MS = 400;

async function storeBehindProxy(t: import('ava').ExecutionContext) {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const client = createBigQueryClient(loadConfig(gcp.env));
  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  const store = new BigQueryStore({ client, writer, projectId: gcp.bigquery.projectId, datasetId: 'buildtrace', queryDeadlineMs: DEADLINE_MS });
  return { gcp, store };
}

test('a read sends its deadline with the query: jobs.query timeoutMs and the job limit jobTimeoutMs', async (t) => {
  const { gcp, store } = await storeBehindProxy(t);
  t.deepEqual(await store.changes('D1', 5), []);
  const queries = gcp.bigquery.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/queries'));
  t.is(queries.length, 1);
  t.like(queries[0]?.body, { timeoutMs: DEADLINE_MS, jobTimeoutMs: String(DEADLINE_MS) });
});

test('reads during a hang are given up at the deadline, their connections closed, and none pile up', async (t) => {
  const { gcp, store } = await storeBehindProxy(t);
  gcp.proxy.hang();
  const reads = 25;
  // three waves, as a dashboard polling through an outage would send them
  for (let wave = 1; wave <= 3; wave++) {
    const started = Date.now();
    const outcomes = await Promise.allSettled(Array.from({ length: reads }, (_, i) => store.changes(`D${i}`, 5)));
    const waited = Date.now() - started;
    t.true(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof TransientError), 'each read failed as a transient store error');
    t.regex(String((outcomes[0] as PromiseRejectedResult).reason.message), /no answer within 0.4 s/);
    t.true(waited < 10_000, `given up near the deadline, not left waiting (${waited} ms)`);
    // the client closed each connection when its read was given up: the "API" holds none of them
    await waitFor(async () => (gcp.proxy.holding === 0 ? true : undefined), 5_000, `the held connections of wave ${wave} to close`);
  }
  t.true(gcp.proxy.stats.held >= reads, `the reads reached the hung API (${gcp.proxy.stats.held} held in all)`);

  // and once the API answers again, reads work
  gcp.proxy.recover();
  t.deepEqual(await store.changes('D1', 5), []);
});
