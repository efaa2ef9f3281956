/**
 * A result's version references (where its versions were read from, and their hashes) are kept
 * by both stores and read back with the result, for the overlay; inline results keep none; a file
 * written before the references existed is upgraded in place and its rows read back without them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/log.js';
import { changeResultRow } from '../../sinks/bigquery/encode.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { DATABASE_FILE, openLocalStore, SCHEMA_VERSION } from '../../sinks/local-store/index.js';
import { MIGRATIONS } from '../../src/infra/sqlite/schema.js';
import type { ResultRecord, ResultStore, VersionRefs } from '../../src/domain/sink.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { result } from '../support/gcp-fixtures.js';

const REFS: VersionRefs = {
  a: { ref: 'batch-1/D1/version_a.json', sha256: 'a'.repeat(64) },
  b: { ref: 'batch-1/D1/version_b.json', sha256: 'b'.repeat(64) },
};
const BY_REFERENCE = result('t1', { drawingId: 'D1', versions: REFS, createdAt: new Date('2026-11-29T10:00:00Z') });
const INLINE = result('t2', { drawingId: 'D1', versions: null, createdAt: new Date('2026-11-29T11:00:00Z') });

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-refs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function localStore(t: ExecutionContext, results: readonly ResultRecord[]): Promise<ResultStore> {
  const store = openLocalStore({ dataDir: tempDir(t) });
  t.teardown(() => store.close());
  await store.writeBatch({ results, failures: [], anomalies: [] });
  return store;
}

async function bigQueryStore(t: ExecutionContext, results: readonly ResultRecord[]): Promise<ResultStore> {
  const fake = await startFakeBigQuery();
  t.teardown(() => fake.close());
  const client = fake.client();
  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  await writer.ensureSchema();
  await writer.insert({ change_results: results.map(changeResultRow) });
  return new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: 'buildtrace' });
}

for (const [name, open] of [['local store', localStore], ['BigQuery', bigQueryStore]] as const) {
  test(`${name}: a by-reference result reads back with its references, an inline one without`, async (t) => {
    const store = await open(t, [BY_REFERENCE, INLINE]);
    const [inline, byReference] = await store.changes('D1', 10);
    t.deepEqual(byReference?.versions, REFS);
    t.false('versions' in (inline ?? {}));
  });
}

test('a version-2 file gains the reference columns in place; its rows read back without references', async (t) => {
  // given a file as the build before references left it, with one result in it
  const dataDir = tempDir(t);
  const raw = new Database(path.join(dataDir, DATABASE_FILE));
  raw.exec(MIGRATIONS[0] as string);
  raw.exec(MIGRATIONS[1] as string);
  raw.pragma('user_version = 2');
  raw.prepare(
    `INSERT INTO change_results (task_key, drawing_id, job_id, added, removed, moved, modified, summary, processing_time_ms, end_to_end_ms, created_at, replica_id)
     VALUES ('old', 'D1', NULL, '[]', '[]', '[]', '[]', 'No changes detected.', 1, 2, '2026-11-29T09:00:00.000Z', 'local')`,
  ).run();
  raw.close();

  // when this build opens it and writes a by-reference result
  const store = openLocalStore({ dataDir });
  t.teardown(() => store.close());
  await store.writeBatch({ results: [BY_REFERENCE], failures: [], anomalies: [] });

  // then both read back, the old one without references
  const [newest, oldest] = await store.changes('D1', 10);
  t.deepEqual(newest?.versions, REFS);
  t.is(oldest?.summary, 'No changes detected.');
  t.false('versions' in (oldest ?? {}));
  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  t.true(SCHEMA_VERSION >= 3);
  t.is(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
});
