/**
 * Issue 9 reports one run where a `storage_path` of 5,000 drawing folders gave 3,888 tasks. These
 * tests list folders at sizes around Cloud Storage's 1,000-entry listing pages (and at 5,000),
 * with pairs whose two versions fall on different pages and half pairs at a page edge, through
 * the real client against the fake (which pages as the API does, and can also answer the short or
 * empty pages a filtered listing may give), and through INPUT_DIR at the same sizes; every folder
 * must come back as a pair or as a half pair, never lost.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { CloudStorageInput } from '../../../streams/load/cloud-storage.js';
import type { PairListing } from '../../../streams/load/input-store.js';
import { localInputStore } from '../../../streams/load/local-files.js';
import { postJson, startApi, waitForJob } from '../../support/api-fixture.js';
import { startFakeGcs, type FakeGcs } from '../../support/fake-gcs.js';
import { startGcpFakes } from '../../support/fault-gcp.js';

const IN = 'buildtrace-input-test';

interface Layout {
  readonly name: string;
  readonly folders: number;
  /** Folder indexes holding only version_a.json (or only version_b.json). */
  readonly onlyA?: readonly number[];
  readonly onlyB?: readonly number[];
}

/**
 * Sizes at and around page boundaries. With both versions, folder k's objects are entries 2k and
 * 2k+1, so a page of 1,000 ends between folders; a half pair first shifts every later pair by one
 * entry, so each page then ends between a folder's version_a and its version_b.
 */
const LAYOUTS: readonly Layout[] = [
  { name: '999 folders', folders: 999 },
  { name: '1000 folders', folders: 1000 },
  { name: '1001 folders', folders: 1001 },
  { name: '2000 folders', folders: 2000 },
  { name: '5000 folders', folders: 5000 },
  { name: '500 folders (exactly one page of objects)', folders: 500 },
  { name: '501 folders (one object past a page)', folders: 501 },
  { name: '2000 folders, a half pair first: every page splits a pair', folders: 2000, onlyA: [0] },
  { name: '5000 folders, version_a only at entry 999 and version_b only at entry 1000', folders: 5000, onlyA: [499], onlyB: [500] },
  { name: '5000 folders, 1,112 half pairs spread over every page', folders: 5000, onlyA: range(0, 5000, 9), onlyB: range(4, 5000, 9) },
];

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i += step) out.push(i);
  return out;
}

const id = (k: number) => `D${String(k).padStart(5, '0')}`;

function versionsOf(layout: Layout, k: number): ('version_a.json' | 'version_b.json')[] {
  if (layout.onlyA?.includes(k)) return ['version_a.json'];
  if (layout.onlyB?.includes(k)) return ['version_b.json'];
  return ['version_a.json', 'version_b.json'];
}

/** Every folder is a pair or a half pair, each once, with the versions it holds. */
function checkListing(t: import('ava').ExecutionContext, layout: Layout, listing: PairListing): void {
  const halves = new Set([...(layout.onlyA ?? []), ...(layout.onlyB ?? [])]);
  t.is(listing.pairs.length + listing.halfPairs.length, layout.folders, 'tasks + missing uploads = folders');
  t.is(listing.halfPairs.length, halves.size);
  t.deepEqual(listing.invalidFolders, []);
  const expectedPairs = range(0, layout.folders, 1).filter((k) => !halves.has(k)).map(id);
  t.deepEqual(listing.pairs.map((p) => p.drawingId), expectedPairs);
  t.deepEqual(
    listing.halfPairs.map((h) => [h.drawingId, h.present]),
    [...halves].sort((x, y) => x - y).map((k) => [id(k), versionsOf(layout, k)[0]]),
  );
}

function seedGcs(gcs: FakeGcs, layout: Layout): void {
  gcs.createBucket(IN);
  for (let k = 0; k < layout.folders; k++) {
    for (const file of versionsOf(layout, k)) gcs.put(IN, `batch/${id(k)}/${file}`, '[]');
  }
  // Neighbours a listing must leave out: other folders' files and a deeper level.
  gcs.put(IN, 'batch/notes.txt', 'x');
  gcs.put(IN, `batch/${id(0)}/old/version_a.json`, '[]');
  gcs.put(IN, 'batch-2/D00000/version_a.json', '[]');
}

for (const sparse of [false, true]) {
  for (const layout of LAYOUTS) {
    test.serial(`Cloud Storage listing, ${sparse ? 'short filtered pages' : 'full pages'}: ${layout.name}`, async (t) => {
      const gcs = await startFakeGcs({ sparseGlobPages: sparse });
      t.teardown(() => gcs.close());
      seedGcs(gcs, layout);
      const input = new CloudStorageInput({ storage: gcs.client({ maxRetries: 0 }), inputBucket: IN, maxBytes: 1024 });

      checkListing(t, layout, await input.listPairs(`gs://${IN}/batch/`));

      const lists = gcs.requests.filter((r) => r.path === `/storage/v1/b/${IN}/o`);
      t.true(lists.every((r) => r.query.get('maxResults') === '1000' && r.query.get('prefix') === 'batch/'));
      const objects = gcs.objects(IN).filter((o) => /^batch\/[^/]+\/version_[ab]\.json$/.test(o.name)).length;
      // Full pages: one request per 1,000 matching objects. Short pages: one per 1,000 scanned names.
      t.is(lists.length, Math.max(1, Math.ceil((sparse ? objects + 2 : objects) / 1000)));
    });
  }
}

test.serial('Cloud Storage listing follows an empty page that still carries a token', async (t) => {
  const gcs = await startFakeGcs({ sparseGlobPages: true });
  t.teardown(() => gcs.close());
  gcs.createBucket(IN);
  // 1,000 names the glob rejects fill the first page; the folders come after them.
  for (let i = 0; i < 1000; i++) gcs.put(IN, `batch/A-${String(i).padStart(4, '0')}.txt`, 'x');
  for (let k = 0; k < 3; k++) for (const f of ['version_a.json', 'version_b.json']) gcs.put(IN, `batch/${id(k)}/${f}`, '[]');
  const input = new CloudStorageInput({ storage: gcs.client({ maxRetries: 0 }), inputBucket: IN, maxBytes: 1024 });

  const listing = await input.listPairs(`gs://${IN}/batch/`);
  t.deepEqual(listing.pairs.map((p) => p.drawingId), [id(0), id(1), id(2)]);
  const lists = gcs.requests.filter((r) => r.path === `/storage/v1/b/${IN}/o`);
  t.is(lists.length, 2, 'the first page held no match and a token; the listing went on');
});

test.serial('the fake pages a delimiter listing as the API does: each rolled-up prefix once, on one page', async (t) => {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.createBucket(IN);
  for (let k = 0; k < 1500; k++) for (const f of ['version_a.json', 'version_b.json']) gcs.put(IN, `batch/${id(k)}/${f}`, '[]');
  const [files, , first] = await gcs.client({ maxRetries: 0 }).bucket(IN).getFiles({ prefix: 'batch/', delimiter: '/', autoPaginate: false, maxResults: 1000 });
  t.is(files.length, 0);
  const firstPage = (first as { prefixes?: string[]; nextPageToken?: string });
  t.is(firstPage.prefixes?.length, 1000);
  t.truthy(firstPage.nextPageToken);
  const [, , second] = await gcs.client({ maxRetries: 0 }).bucket(IN).getFiles({ prefix: 'batch/', delimiter: '/', autoPaginate: false, maxResults: 1000, pageToken: firstPage.nextPageToken! });
  const secondPage = second as { prefixes?: string[]; nextPageToken?: string };
  t.is(secondPage.prefixes?.length, 500);
  t.is(secondPage.nextPageToken, undefined);
  t.is(new Set([...firstPage.prefixes!, ...secondPage.prefixes!]).size, 1500);
});

// A directory has no pages: the sizes, and the 5,000 folders with 1,112 half pairs of the report.
for (const layout of LAYOUTS.filter((l) => l.folders >= 999 && (!l.onlyA || l.onlyA.length > 1))) {
  test.serial(`INPUT_DIR listing: ${layout.name}`, async (t) => {
    const root = mkdtempSync(path.join(tmpdir(), 'buildtrace-listing-'));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    for (let k = 0; k < layout.folders; k++) {
      const folder = path.join(root, 'batch', id(k));
      mkdirSync(folder, { recursive: true });
      for (const file of versionsOf(layout, k)) writeFileSync(path.join(folder, file), '[]');
    }
    writeFileSync(path.join(root, 'batch', 'notes.txt'), 'x');
    const store = localInputStore({ inputDir: root, maxBytes: 1024 });

    const listing = await store.listPairs('batch');
    checkListing(t, layout, listing);
    t.is(listing.pairs[0]?.storagePath, `batch/${listing.pairs[0]?.drawingId}`);
  });
}

/** The report's case end to end: 5,000 folders, 1,112 of them half pairs, through `POST /process`. */
const REPORTED = LAYOUTS.find((l) => l.name.startsWith('5000 folders, 1,112'))!;

test.serial('POST /process over 5,000 INPUT_DIR folders: tasks_created + missing_uploads = folders, and the job completes them all', async (t) => {
  const api = await startApi(t);
  for (let k = 0; k < REPORTED.folders; k++) {
    const folder = path.join(api.inputDir, 'batch', id(k));
    mkdirSync(folder, { recursive: true });
    for (const file of versionsOf(REPORTED, k)) writeFileSync(path.join(folder, file), '[]');
  }
  const res = await postJson(`${api.url}/process`, { storage_path: 'batch/' });
  t.is(res.status, 202, res.text);
  t.is(res.body.tasks_created, 3888);
  t.is(res.body.tasks_created + res.body.missing_uploads, REPORTED.folders);
  const job = await waitForJob(api.url, res.body.job_id, 120_000);
  t.like(job, { tasks_created: 3888, completed: 3888, failed: 0, pending: 0 });
});

/** Through the GCP sinks every task costs more to process, so the page edge, at a smaller size. */
// 1,002 objects: a half pair first, so D00500's version_a ends page 1 and its version_b starts page 2.
const PAGE_EDGE: Layout = { name: '502 folders, a pair split across pages', folders: 502, onlyA: [0], onlyB: [501] };

test.serial('POST /process over 502 gs:// folders, one pair split across two listing pages: tasks_created + missing_uploads = folders, all completed', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  for (let k = 0; k < PAGE_EDGE.folders; k++) {
    for (const file of versionsOf(PAGE_EDGE, k)) gcp.gcs.put(gcp.inputBucket, `batch/${id(k)}/${file}`, '[]');
  }
  const api = await startApi(t, { ...gcp.env, SOURCE: 'local' });
  const res = await postJson(`${api.url}/process`, { storage_path: `gs://${gcp.inputBucket}/batch/` });
  t.is(res.status, 202, res.text);
  t.is(res.body.tasks_created, 500);
  t.is(res.body.tasks_created + res.body.missing_uploads, PAGE_EDGE.folders);
  const job = await waitForJob(api.url, res.body.job_id, 150_000);
  t.like(job, { tasks_created: 500, completed: 500, failed: 0, pending: 0 });
  t.is(gcp.gcs.requests.filter((r) => r.path === `/storage/v1/b/${gcp.inputBucket}/o`).length, 2, 'two listing pages');
});
