/**
 * The schema migration shared by `buildtrace setup` and the service's start-up check: missing
 * columns are added (NULLABLE), existing ones never dropped, the rollups get their partition
 * expiration; and the writer applies it to a table created by an older version, whose old rows
 * stay readable and new rows then carry the new column.
 */
import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { describeDrift, hasDrift, migrationPatch, tableDrift } from '../../sinks/bigquery/migrate.js';
import { ROLLUP_PARTITION_EXPIRATION_DAYS, TABLES, tableMetadata } from '../../sinks/bigquery/schema.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';

test('tableDrift names the missing columns (as NULLABLE) and ignores extra ones', (t) => {
  const drift = tableDrift(TABLES.jobs, { schema: { fields: [{ name: 'JOB_ID' }, { name: 'legacy_column' }] } });
  t.deepEqual(drift.missingColumns.map((f) => [f.name, f.mode]), [
    ['tasks_created', 'NULLABLE'],
    ['created_at', 'NULLABLE'],
  ]);
  t.is(drift.partitionExpirationMs, null, 'jobs partitions never expire');
  t.is(describeDrift(drift), 'add columns tasks_created, created_at');
  const patch = migrationPatch({ schema: { fields: [{ name: 'JOB_ID' }, { name: 'legacy_column' }] } }, drift);
  t.deepEqual(patch.schema?.fields.map((f) => (f as { name: string }).name), ['JOB_ID', 'legacy_column', 'tasks_created', 'created_at'], 'nothing dropped');
});

test('tableDrift wants the rollups partition expiration, and a table made from its spec has no drift', (t) => {
  const bare = tableDrift(TABLES.hourly_rollups, { schema: { fields: TABLES.hourly_rollups.fields }, timePartitioning: {} });
  t.is(bare.partitionExpirationMs, String(ROLLUP_PARTITION_EXPIRATION_DAYS * 86_400_000));
  t.is(describeDrift(bare), 'partition expiration');
  for (const spec of Object.values(TABLES)) t.false(hasDrift(tableDrift(spec, tableMetadata(spec))), spec.id);
});

test("the writer's start-up check adds a missing column to an older table, keeps its rows, and inserts into it", async (t) => {
  const fake = await startFakeBigQuery();
  t.teardown(() => fake.close());
  const client = fake.client();
  await client.dataset('buildtrace').create();
  const old = TABLES.jobs.fields.filter((f) => f.name !== 'tasks_created');
  await client.dataset('buildtrace').table('jobs').create({ schema: { fields: old.map((f) => ({ ...f })) }, timePartitioning: { type: 'DAY', field: 'created_at' } });
  await client.dataset('buildtrace').table('jobs').insert([{ job_id: 'old', created_at: '2026-01-01T00:00:00Z' }]);

  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  await writer.insert({ jobs: [{ insertId: 'j1', json: { job_id: 'new', tasks_created: 3, created_at: '2026-01-02T00:00:00Z' } }] });

  const jobs = fake.table('buildtrace', 'jobs')!;
  t.deepEqual(jobs.fields.map((f) => f.name), ['job_id', 'created_at', 'tasks_created']);
  t.deepEqual(jobs.rows.map((r) => [r.json.job_id, r.json.tasks_created]), [['old', undefined], ['new', 3]]);
  const patches = fake.requests.filter((r) => r.method === 'PATCH');
  t.is(patches.length, 1, 'one migration, only for the table that lacked a column');
  t.true(patches[0]!.path.endsWith('/tables/jobs'));
});
