/**
 * The embedded store and geometry matching (issue 13): a file written before the new columns is
 * upgraded in place, its rows keep the seed's shape, and new results carry renamed, ambiguous and
 * the renamed counts through `changes`, samples and rollups.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { countChanges, diffVersions } from '../../src/domain/diff.js';
import { DATABASE_FILE, openLocalStore, SCHEMA_VERSION } from '../../sinks/local-store/index.js';
import { MIGRATIONS } from '../../src/infra/sqlite/schema.js';
import type { MetricSample } from '../../src/domain/sink.js';
import { batchOf, result } from '../support/sink-compliance.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'buildtrace-match-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const door = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });
const T = new Date('2026-11-29T10:15:00.000Z');

test('a version-1 file is upgraded in place; old rows read back in the seed shape, new ones with the geometry fields', async (t) => {
  // given a file as the build before geometry matching left it, with one result in it
  const dataDir = await tempDir(t);
  const raw = new Database(path.join(dataDir, DATABASE_FILE));
  raw.exec(MIGRATIONS[0] as string);
  raw.pragma('user_version = 1');
  raw.prepare(
    `INSERT INTO change_results (task_key, drawing_id, job_id, added, removed, moved, modified, summary, processing_time_ms, end_to_end_ms, created_at, replica_id)
     VALUES ('old', 'D1', NULL, '[]', '[]', '[]', '[]', 'No changes detected.', 1, 2, '2026-11-29T10:00:00.000Z', 'local')`,
  ).run();
  raw.prepare(
    `INSERT INTO processing_metrics (task_key, drawing_id, status, latency_ms, end_to_end_ms, created_at, replica_id)
     VALUES ('old', 'D1', 'completed', 1, 2, '2026-11-29T10:00:00.000Z', 'local')`,
  ).run();
  raw.close();

  // when this build opens it and writes a result geometry matching produced
  const store = openLocalStore({ dataDir, replicaId: 'local' });
  t.teardown(() => store.close());
  const changes = diffVersions([door('A1', 0), door('A2', 50), door('A3', 100), door('A4', 101)], [door('B1', 0), door('B2', 52), door('B3', 100.5)], { match: 'geometry' });
  await store.writeBatch(batchOf({ results: [result({ taskKey: 'new', drawingId: 'D1', createdAt: T, replicaId: 'local', changes, counts: countChanges(changes) })] }));

  // then the file is at the current version and both results read back as written
  const [newest, oldest] = await store.changes('D1', 10);
  t.deepEqual(newest?.renamed, changes.renamed);
  t.deepEqual(newest?.ambiguous, changes.ambiguous);
  t.is(newest?.ambiguous?.length, 1);
  t.deepEqual(newest?.moved, changes.moved);
  t.is(newest?.summary, changes.summary);
  t.deepEqual(Object.keys(oldest ?? {}), ['drawing_id', 'job_id', 'added', 'removed', 'moved', 'modified', 'summary', 'processing_time_ms', 'created_at']);

  const samples: MetricSample[] = [];
  for await (const s of store.samples(new Date('2026-11-29T00:00:00Z'), 'local')) samples.push(s);
  const counts = samples.map((s) => (s.kind === 'result' ? s.counts : null));
  t.deepEqual(counts, [
    { added: 0, removed: 0, moved: 0, modified: 0 },
    { added: 1, removed: 2, moved: 1, modified: 0, renamed: 1 },
  ]);

  await store.writeRollups([
    {
      replicaId: 'local',
      hourStart: new Date('2026-11-29T10:00:00Z'),
      counts: { pairs: 2, added: 1, removed: 2, moved: 1, modified: 0, renamed: 1, failed: 0, malformed: 0 },
      processingHistogram: 'p',
      endToEndHistogram: 'e',
      updatedAt: T,
    },
  ]);
  t.is((await store.rollups(new Date('2026-11-29T00:00:00Z')))[0]?.counts.renamed, 1);

  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  t.is(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  t.is(SCHEMA_VERSION, MIGRATIONS.length);
});
