import test from 'ava';
import { MalformedInputError, TransientError } from '../../../src/domain/errors.js';
import { loadConfig } from '../../../src/config.js';
import { CloudStorageInput, openCloudStorageInput } from '../../../streams/load/cloud-storage.js';
import { startFakeGcs, type FakeGcs } from '../../support/fake-gcs.js';

const IN = 'buildtrace-input-test';

async function setup(t: { teardown(fn: () => unknown): void }, options: { maxBytes?: number; maxRetries?: number; maxListed?: number } = {}) {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.createBucket(IN);
  gcs.createBucket('someone-elses-bucket');
  const input = new CloudStorageInput({
    storage: gcs.client({ maxRetries: options.maxRetries ?? 2 }),
    inputBucket: IN,
    maxBytes: options.maxBytes ?? 1024,
    ...(options.maxListed !== undefined ? { maxListedObjects: options.maxListed } : {}),
  });
  return { gcs, input };
}

const media = (gcs: FakeGcs) => gcs.requests.filter((r) => r.query.get('alt') === 'media');

test('reads gs://INPUT_BUCKET objects and bare object names inside INPUT_BUCKET', async (t) => {
  const { gcs, input } = await setup(t);
  const obj = gcs.put(IN, 'uploads/D1/version_a.json', '[{"id":"A"}]');

  t.is((await input.read(`gs://${IN}/uploads/D1/version_a.json`)).toString(), '[{"id":"A"}]');
  t.is((await input.read('uploads/D1/version_a.json')).toString(), '[{"id":"A"}]');
  t.is(media(gcs)[0]!.query.get('generation'), String(obj.generation), 'the download is pinned to the checked generation');
});

test('another bucket, other schemes, local paths and dot segments are forbidden, before any request', async (t) => {
  const { gcs, input } = await setup(t);
  gcs.put('someone-elses-bucket', 'secret.json', '[]');
  for (const ref of [
    'gs://someone-elses-bucket/secret.json',
    `gs://${IN}evil/x.json`,
    'https://example.com/x.json',
    'file:///etc/passwd',
    '/etc/passwd',
    `gs://${IN}/a/../b.json`,
    `gs://${IN}/`,
    `gs://${IN}`,
    'uploads/D1/\0.json',
  ]) {
    const err = await t.throwsAsync(input.read(ref), { instanceOf: MalformedInputError }, ref);
    t.is(err?.code, 'forbidden_path', ref);
  }
  t.is(gcs.requests.length, 0);
});

test('a missing object is a missing_upload', async (t) => {
  const { input } = await setup(t);
  const err = await t.throwsAsync(input.read(`gs://${IN}/uploads/D1/version_b.json`), { instanceOf: MalformedInputError });
  t.is(err?.code, 'missing_upload');
  t.regex(err!.message, /version_b\.json/);
});

test('an object over the size cap is refused from its metadata, without downloading it', async (t) => {
  const { gcs, input } = await setup(t, { maxBytes: 100 });
  gcs.put(IN, 'big.json', `[${'1,'.repeat(100)}1]`);
  gcs.put(IN, 'exact.json', 'x'.repeat(100));
  const err = await t.throwsAsync(input.read('big.json'), { instanceOf: MalformedInputError });
  t.is(err?.code, 'input_too_large');
  t.is(media(gcs).length, 0);
  t.is((await input.read('exact.json')).length, 100);
});

test('a transient 503 is retried by the client; a persistent one is a TransientError', async (t) => {
  const { gcs, input } = await setup(t, { maxRetries: 2 });
  gcs.put(IN, 'v.json', '[]');
  gcs.failRequests({ method: 'GET', pathIncludes: '/o/v.json', status: 503, times: 1 });
  t.is((await input.read('v.json')).toString(), '[]');

  gcs.failRequests({ method: 'GET', pathIncludes: '/o/v.json', status: 503, times: 10 });
  const err = await t.throwsAsync(input.read('v.json'), { instanceOf: TransientError });
  t.is(err?.code, 'storage_unavailable');
});

test('429 and dropped connections are TransientErrors', async (t) => {
  const { gcs, input } = await setup(t, { maxRetries: 0 });
  gcs.put(IN, 'v.json', '[]');
  gcs.failRequests({ pathIncludes: '/o/v.json', status: 429 });
  await t.throwsAsync(input.read('v.json'), { instanceOf: TransientError });
  gcs.failRequests({ pathIncludes: '/o/v.json', status: 'reset' });
  await t.throwsAsync(input.read('v.json'), { instanceOf: TransientError });
});

test('listPairs groups version files into pairs and half pairs, sorted, ignoring everything else', async (t) => {
  const { gcs, input } = await setup(t);
  for (const name of [
    'batch/D2/version_a.json',
    'batch/D2/version_b.json',
    'batch/D1/version_a.json',
    'batch/D1/version_b.json',
    'batch/D3/version_a.json',
    'batch/D4/version_b.json',
    'batch/D5/notes.txt',
    'batch/D6/deeper/version_a.json',
    'batch/bad id/version_a.json',
    'batch/version_a.json',
    'other/D9/version_a.json',
  ]) {
    gcs.put(IN, name, '[]');
  }

  const listing = await input.listPairs(`gs://${IN}/batch/`);

  t.deepEqual(listing.pairs, [
    { drawingId: 'D1', storagePath: `gs://${IN}/batch/D1` },
    { drawingId: 'D2', storagePath: `gs://${IN}/batch/D2` },
  ]);
  t.deepEqual(listing.halfPairs, [
    { drawingId: 'D3', storagePath: `gs://${IN}/batch/D3`, present: 'version_a.json' },
    { drawingId: 'D4', storagePath: `gs://${IN}/batch/D4`, present: 'version_b.json' },
  ]);
  t.deepEqual(listing.invalidFolders, [`gs://${IN}/batch/bad id`], 'version files under a name that is not a drawing id are reported');
  const list = gcs.requests.find((r) => r.path === `/storage/v1/b/${IN}/o`)!;
  t.is(list.query.get('prefix'), 'batch/');
  t.is(list.query.get('matchGlob'), 'batch/*/version_[ab].json');
  t.deepEqual(await input.listPairs('batch'), listing, 'a bare prefix without the slash is the same folder');
});

test('listPairs follows pages', async (t) => {
  const { gcs, input } = await setup(t);
  for (let i = 0; i < 700; i++) {
    gcs.put(IN, `big/D${String(i).padStart(4, '0')}/version_a.json`, '[]');
    gcs.put(IN, `big/D${String(i).padStart(4, '0')}/version_b.json`, '[]');
  }
  const listing = await input.listPairs(`gs://${IN}/big/`);
  t.is(listing.pairs.length, 700);
  t.is(listing.halfPairs.length, 0);
  t.is(gcs.requests.filter((r) => r.path === `/storage/v1/b/${IN}/o`).length, 2);
});

test('listPairs refuses other buckets, empty prefixes and listings over the cap', async (t) => {
  const { gcs, input } = await setup(t, { maxListed: 3 });
  gcs.put(IN, 'many/D1/version_a.json', '[]');
  gcs.put(IN, 'many/D1/version_b.json', '[]');
  gcs.put(IN, 'many/D2/version_a.json', '[]');
  gcs.put(IN, 'many/D2/version_b.json', '[]');

  t.is((await t.throwsAsync(input.listPairs('gs://someone-elses-bucket/x/'), { instanceOf: MalformedInputError }))?.code, 'forbidden_path');
  t.is((await t.throwsAsync(input.listPairs(`gs://${IN}/nothing-here/`), { instanceOf: MalformedInputError }))?.code, 'missing_upload');
  t.is((await t.throwsAsync(input.listPairs(`gs://${IN}/many/`), { instanceOf: MalformedInputError }))?.code, 'input_too_large');
});

test('listPairs on an unreachable store is a TransientError', async (t) => {
  const { gcs, input } = await setup(t, { maxRetries: 0 });
  gcs.failRequests({ pathIncludes: `/b/${IN}/o`, status: 500 });
  await t.throwsAsync(input.listPairs(`gs://${IN}/batch/`), { instanceOf: TransientError });
});

test('openCloudStorageInput reads INPUT_BUCKET through STORAGE_API_ENDPOINT', async (t) => {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.put('my-inputs', 'x/D1/version_a.json', '[1]');
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: 'proj-test',
    INPUT_BUCKET: 'my-inputs',
    STORAGE_API_ENDPOINT: gcs.url,
    MAX_VERSION_BYTES: '2048',
  });
  const input = openCloudStorageInput(config);
  t.is((await input.read('gs://my-inputs/x/D1/version_a.json')).toString(), '[1]');
  await t.throwsAsync(input.read(`gs://${IN}/x.json`), { instanceOf: MalformedInputError });
});
