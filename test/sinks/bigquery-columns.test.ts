/**
 * A table created by an older build gains the columns geometry matching writes (issue 13) when the
 * writer starts, through the real client against the local BigQuery stand-in, and old rows still
 * read back in the seed's shape.
 */
import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { diffVersions } from '../../src/domain/diff.js';
import { tableDrift, type ExistingTable } from '../../sinks/bigquery/migrate.js';
import { changeResultRow, resultMetricRow, rollupRow } from '../../sinks/bigquery/encode.js';
import { TABLES, TABLE_IDS, tableMetadata, type TableSpec } from '../../sinks/bigquery/schema.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { countChanges } from '../../src/domain/diff.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { result, rollup } from '../support/gcp-fixtures.js';

const DATASET = 'buildtrace';
const NEW_COLUMNS: Record<string, string[]> = {
  change_results: ['renamed', 'ambiguous'],
  processing_metrics: ['renamed_count'],
  hourly_rollups: ['renamed'],
};

/** The table as a build before geometry matching created it. */
const olderSpec = (spec: TableSpec): TableSpec => ({ ...spec, fields: spec.fields.filter((f) => !(NEW_COLUMNS[spec.id] ?? []).includes(f.name)) });

async function olderDataset(t: { teardown(fn: () => unknown): void }) {
  const fake = await startFakeBigQuery({ dedupeInsertIds: true });
  t.teardown(() => fake.close());
  const client = fake.client();
  const dataset = client.dataset(DATASET);
  await dataset.create();
  for (const id of TABLE_IDS) await dataset.table(id).create(tableMetadata(olderSpec(TABLES[id])));
  return { fake, client, dataset };
}

const door = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });

test('start-up adds the missing nullable columns to existing tables, keeping the rows they hold', async (t) => {
  // given tables without the new columns, holding a result written by the older build
  const { fake, client } = await olderDataset(t);
  const old = result('old-1');
  const { renamed: _r, ambiguous: _a, ...oldRow } = changeResultRow(old).json;
  await client.dataset(DATASET).table('change_results').insert([oldRow]);

  // when a writer of this build starts
  const before = fake.requests.length;
  const writer = new BigQueryWriter({ client, datasetId: DATASET, logger: silentLogger });
  await writer.ensureSchema();

  // then each table has its new columns, after the old ones, and nothing was recreated
  for (const [table, columns] of Object.entries(NEW_COLUMNS)) {
    const names = fake.table(DATASET, table)!.fields.map((f) => f.name);
    t.deepEqual(names.slice(-columns.length), columns, table);
    t.deepEqual(tableDrift(TABLES[table as keyof typeof TABLES], { schema: { fields: fake.table(DATASET, table)!.fields } } as ExistingTable).missingColumns, [], table);
  }
  const started = fake.requests.slice(before);
  t.false(started.some((r) => r.method === 'POST' && r.path.endsWith('/tables')), 'no table created again');
  t.is(started.filter((r) => r.method === 'PATCH').length, 3);

  // and a geometry result is written and read back with its fields, the old one in the seed's shape
  const changes = diffVersions([door('A1', 0), door('A2', 50)], [door('B1', 0), door('B2', 53)], { match: 'geometry' });
  const matched = result('new-1', { changes, counts: countChanges(changes), createdAt: new Date('2026-11-29T10:20:00.000Z') });
  await writer.insert({
    change_results: [changeResultRow(matched)],
    processing_metrics: [resultMetricRow(matched)],
    hourly_rollups: [rollupRow({ ...rollup('replica-a', '2026-11-29T10:00:00Z', '2026-11-29T10:30:00Z', 1), counts: { pairs: 1, added: 0, removed: 0, moved: 1, modified: 0, renamed: 1, failed: 0, malformed: 0 } })],
  });
  const store = new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: DATASET });
  const [newest, oldest] = await store.changes('D1', 10);
  t.deepEqual(newest?.renamed, [{ id: 'B1', previous_id: 'A1', type: 'door', description: 'A1 is now B1 (door)' }]);
  t.deepEqual(newest?.ambiguous, []);
  t.like(newest?.moved[0], { id: 'B2', previous_id: 'A2', matched_by: 'geometry', dx: 3 });
  t.false(oldest !== undefined && 'renamed' in oldest, 'a row without the columns reads back without the fields');
  t.is(oldest?.summary, old.changes.summary);
  const [hour] = await store.rollups(new Date('2026-11-29T00:00:00Z'));
  t.is(hour?.counts.renamed, 1);
});
