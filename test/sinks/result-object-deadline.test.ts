/**
 * The read of a large result's Cloud Storage object has a deadline that cancels it on the wire,
 * like every BigQuery read: through the real Storage client against the local fake GCS behind the
 * fault proxy, which can hold requests unanswered like a hung API.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import test from 'ava';
import { readResultObject } from '../../sinks/gcp.js';
import { createStorageClient } from '../../src/infra/storage/client.js';
import { TransientError } from '../../src/domain/errors.js';
import { startFakeGcs } from '../support/fake-gcs.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { waitFor } from '../support/in-process.js';

const BUCKET = 'buildtrace-output-deadline';
const DEADLINE_MS = 400;
const LISTS = { added: [{ id: 'D1' }], removed: [], moved: [], modified: [] };

/** Counts the HTTP requests this thread starts (as Node creates them) until `stop()`. */
function requestsStarted(): { stop(): number } {
  let count = 0;
  const onStart = () => (count += 1);
  diagnosticsChannel.subscribe('http.client.request.start', onStart);
  return {
    stop: () => {
      diagnosticsChannel.unsubscribe('http.client.request.start', onStart);
      return count;
    },
  };
}

async function bucketBehindProxy(t: import('ava').ExecutionContext) {
  const gcs = await startFakeGcs();
  const proxy = await startFaultProxy({ target: gcs.url });
  t.teardown(async () => {
    await proxy.close();
    await gcs.close();
  });
  gcs.put(BUCKET, 'results/D1/k1.json', JSON.stringify(LISTS), 'application/json');
  // built as the sink builds its client for result reads: retries end at the read's deadline
  const storage = createStorageClient({ projectId: 'deadline-project', gcp: { storageEndpoint: proxy.url } }, { retryForMs: DEADLINE_MS });
  return { proxy, bucket: storage.bucket(BUCKET) };
}

test('a result object is read whole while Cloud Storage answers', async (t) => {
  const { bucket } = await bucketBehindProxy(t);
  t.like(await readResultObject(bucket, BUCKET, `gs://${BUCKET}/results/D1/k1.json`, DEADLINE_MS), LISTS);
});

test('reads while Cloud Storage hangs are given up at the deadline, their connections closed, and none pile up', async (t) => {
  const { proxy, bucket } = await bucketBehindProxy(t);
  proxy.hang();
  const reads = 20;
  for (let wave = 1; wave <= 2; wave++) {
    const started = Date.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: reads }, () => readResultObject(bucket, BUCKET, `gs://${BUCKET}/results/D1/k1.json`, DEADLINE_MS)),
    );
    const waited = Date.now() - started;
    t.true(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof TransientError), 'each read failed as a transient store error');
    t.regex(String((outcomes[0] as PromiseRejectedResult).reason.message), /cannot read result object .*no answer within 0.4 s/);
    t.true(waited < 10_000, `given up near the deadline, not left waiting (${waited} ms)`);
    await waitFor(async () => (proxy.holding === 0 ? true : undefined), 5_000, `the held connections of wave ${wave} to close`);
  }
  t.true(proxy.stats.held >= reads, `the reads reached the hung API (${proxy.stats.held} held in all)`);
  // nothing of the given-up reads goes on retrying past the deadline (the client's first retry
  // would come 1 to 2 s after it, the next 2 to 3 s after that)
  const started = requestsStarted();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  t.is(started.stop(), 0, 'no request was started after the reads were given up');

  proxy.recover();
  t.like(await readResultObject(bucket, BUCKET, `gs://${BUCKET}/results/D1/k1.json`, DEADLINE_MS), LISTS);
});
