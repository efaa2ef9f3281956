import test from 'ava';
import { TransientError } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/log.js';
import { anomalyObject, failureObject, resultObject, resultObjectName } from '../../sinks/cloud-storage/encode.js';
import { CloudStorageMarkers } from '../../sinks/cloud-storage/sink.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { crc32cBase64, globToRegExp, startFakeGcs } from '../support/fake-gcs.js';
import { anomaly, failure, result } from '../support/gcp-fixtures.js';

const OUT = 'buildtrace-output-test';

async function setup(t: { teardown(fn: () => unknown): void }, maxRetries = 2) {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.createBucket(OUT);
  const markers = new CloudStorageMarkers({ bucket: gcs.client({ maxRetries }).bucket(OUT), logger: silentLogger });
  return { gcs, markers };
}

const batch = (b: Partial<SinkBatch>): SinkBatch => ({ results: [], failures: [], anomalies: [], ...b });
const uploads = (gcs: Awaited<ReturnType<typeof startFakeGcs>>) => gcs.requests.filter((r) => r.path.startsWith('/upload/'));

test('encode: object names follow the layout and escape keys that are not path-safe', (t) => {
  t.is(resultObjectName({ drawingId: 'D1', taskKey: 'abc123' }), 'results/D1/abc123.json');
  t.is(resultObjectName({ drawingId: 'D1', taskKey: '../x/y' }), 'results/D1/..%2Fx%2Fy.json');
  t.is(failureObject(failure('k1')).name, 'failures/k1.json');
  t.is(anomalyObject(anomaly('malformed_input:k1')).name, 'anomalies/malformed_input%3Ak1.json');
  const doc = JSON.parse(resultObject(result('k1')).body);
  t.is(doc.drawing_id, 'D1');
  t.is(doc.task_key, 'k1');
  t.deepEqual(doc.added, result('k1').changes.added);
  t.is(doc.created_at, '2026-11-29T10:15:00.000Z');
});

test('fake: checksums and globs match the API definitions', (t) => {
  // RFC 3720 test vector: 32 bytes of zeros → 0x8A9136AA
  t.is(crc32cBase64(Buffer.alloc(32)), Buffer.from('8a9136aa', 'hex').toString('base64'));
  t.true(globToRegExp('in/*/version_[ab].json').test('in/D1/version_a.json'));
  t.false(globToRegExp('in/*/version_[ab].json').test('in/D1/x/version_a.json'));
});

test('first write creates the object with a create-if-absent multipart upload and is fresh', async (t) => {
  const { gcs, markers } = await setup(t);
  const receipt = await markers.writeBatch(batch({ results: [result('k1')], failures: [failure('k2')], anomalies: [anomaly('a1')] }));

  t.deepEqual([...receipt.freshTasks].sort(), ['k1', 'k2']);
  t.deepEqual([...receipt.freshAnomalies], ['a1']);
  const up = uploads(gcs);
  t.is(up.length, 3);
  for (const r of up) {
    t.is(r.query.get('uploadType'), 'multipart', 'resumable: false');
    t.is(r.query.get('ifGenerationMatch'), '0', 'create-if-absent');
  }
  const stored = gcs.object(OUT, 'results/D1/k1.json')!;
  t.is(stored.contentType, 'application/json');
  t.deepEqual(JSON.parse(stored.data.toString()), JSON.parse(resultObject(result('k1')).body));
  t.truthy(gcs.object(OUT, 'failures/k2.json'));
  t.truthy(gcs.object(OUT, 'anomalies/a1.json'));
});

test('a replay gets 412: not fresh, and the first writer’s object is kept', async (t) => {
  const { gcs, markers } = await setup(t);
  await markers.writeBatch(batch({ results: [result('k1')] }));
  const first = gcs.object(OUT, 'results/D1/k1.json')!;

  const again = await markers.writeBatch(batch({ results: [result('k1', { replicaId: 'replica-b' }), result('k3')] }));

  t.deepEqual([...again.freshTasks], ['k3']);
  t.is(gcs.object(OUT, 'results/D1/k1.json')!.generation, first.generation);
  t.is(JSON.parse(gcs.object(OUT, 'results/D1/k1.json')!.data.toString()).replica_id, 'replica-a');
});

test('two replicas racing on one task: exactly one is fresh', async (t) => {
  const { gcs, markers } = await setup(t);
  const other = new CloudStorageMarkers({ bucket: gcs.client().bucket(OUT), logger: silentLogger });
  const [a, b] = await Promise.all([
    markers.writeBatch(batch({ results: [result('k1')] })),
    other.writeBatch(batch({ results: [result('k1', { replicaId: 'replica-b' })] })),
  ]);
  t.is(a.freshTasks.size + b.freshTasks.size, 1);
});

test('a duplicate inside one batch is one object, fresh once', async (t) => {
  const { gcs, markers } = await setup(t);
  const receipt = await markers.writeBatch(batch({ results: [result('k1'), result('k1')] }));
  t.deepEqual([...receipt.freshTasks], ['k1']);
  t.is(uploads(gcs).length, 1);
});

test('when the answer to a successful write is lost, the client retry’s 412 is still recognised as ours', async (t) => {
  const { gcs, markers } = await setup(t);
  gcs.failRequests({ method: 'POST', pathIncludes: '/upload/', status: 503, afterApplying: true });

  const receipt = await markers.writeBatch(batch({ results: [result('k1')] }));

  t.is(uploads(gcs).length, 2, 'the client retried the conditional upload');
  t.deepEqual([...receipt.freshTasks], ['k1'], 'our own object, not a replay');
});

test('persistent 503: TransientError, and objects this batch created are rolled back so the redelivery counts them', async (t) => {
  const { gcs, markers } = await setup(t, 0);
  gcs.failRequests({ method: 'POST', match: (_, q) => q.get('name') === 'results/D1/k2.json', status: 503, times: 1 });

  const err = await t.throwsAsync(markers.writeBatch(batch({ results: [result('k1'), result('k2')] })), { instanceOf: TransientError });
  t.is(err?.code, 'sink_unavailable');
  t.regex(err!.message, /1 of 2/);
  t.is(gcs.object(OUT, 'results/D1/k1.json'), undefined, 'rolled back');

  // when: the batch is redelivered and Cloud Storage is back
  const receipt = await markers.writeBatch(batch({ results: [result('k1'), result('k2')] }));
  t.deepEqual([...receipt.freshTasks].sort(), ['k1', 'k2']);
});

test('dropped connections are a TransientError', async (t) => {
  const { gcs, markers } = await setup(t, 1);
  gcs.failRequests({ method: 'POST', pathIncludes: '/upload/', status: 'reset', times: 5 });
  await t.throwsAsync(markers.writeBatch(batch({ results: [result('k1')] })), { instanceOf: TransientError });
});

test('healthcheck resolves for an existing bucket and rejects for a missing one', async (t) => {
  const { gcs, markers } = await setup(t);
  await t.notThrowsAsync(markers.healthcheck());
  const missing = new CloudStorageMarkers({ bucket: gcs.client().bucket('no-such-bucket'), logger: silentLogger });
  await t.throwsAsync(missing.healthcheck(), { instanceOf: TransientError, message: /no-such-bucket/ });
});
