import test from 'ava';
import { TransientError } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/log.js';
import {
  anomalyRow,
  changeResultRow,
  chunkRows,
  excerptChangeResultRow,
  failureMetricRow,
  insertIdFor,
  jobRow,
  resultMetricRow,
  rollupRow,
  uniqueRows,
  type InsertRow,
} from '../../sinks/bigquery/encode.js';
import { changesQuery, tableRef } from '../../sinks/bigquery/queries.js';
import { TABLES, TABLE_IDS, tableMetadata } from '../../sinks/bigquery/schema.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { MAX_ROW_BYTES } from '../../sinks/bigquery/config.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { decodeChange, RowDecodeError } from '../../sinks/bigquery/decode.js';
import { rewriteQualify, startFakeBigQuery } from '../support/fake-bigquery.js';
import { anomaly, failure, result, rollup } from '../support/gcp-fixtures.js';

const DATASET = 'buildtrace';

async function setup(
  t: { teardown(fn: () => unknown): void },
  options: { dedupeInsertIds?: boolean } = {},
) {
  const fake = await startFakeBigQuery({ dedupeInsertIds: options.dedupeInsertIds ?? true });
  t.teardown(() => fake.close());
  const client = fake.client();
  const writer = new BigQueryWriter({ client, datasetId: DATASET, logger: silentLogger });
  const store = new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: DATASET });
  return { fake, writer, store };
}

const insertIds = (body: { rows: { insertId?: string }[] }) => body.rows.map((r) => r.insertId);

// ---------------------------------------------------------------- encode (pure)

test('encode: rows carry deterministic insertIds and the columns of the table schema', (t) => {
  const r = result('task-1');
  const rows: [keyof typeof TABLES, InsertRow][] = [
    ['change_results', changeResultRow(r)],
    ['processing_metrics', resultMetricRow(r)],
    ['processing_metrics', failureMetricRow(failure('task-2'))],
    ['anomalies', anomalyRow(anomaly('malformed_input:task-2'))],
    ['hourly_rollups', rollupRow(rollup('replica-a', '2026-11-29T10:00:00Z', '2026-11-29T10:30:00Z', 3))],
    ['jobs', jobRow({ jobId: 'job-1', tasksCreated: 3, createdAt: new Date('2026-11-29T10:00:00Z') })],
  ];
  // result_object is set only on the row of a result too large for one row (NULL otherwise)
  const columns = (table: keyof typeof TABLES) => TABLES[table].fields.map((f) => f.name).filter((n) => n !== 'result_object').sort();
  for (const [table, row] of rows) {
    t.deepEqual(Object.keys(row.json).sort(), columns(table), table);
  }
  const excerpt = excerptChangeResultRow(r, 'gs://out/results/D1/task-1.json', 0);
  t.deepEqual(Object.keys(excerpt.json).sort(), TABLES.change_results.fields.map((f) => f.name).sort());
  t.is(excerpt.insertId, 'task-1', 'the same insertId as the whole row');
  t.is(excerpt.json.added, '[]', 'the excerpt is bounded');
  t.is(changeResultRow(r).insertId, 'task-1');
  t.deepEqual(changeResultRow(r), changeResultRow(result('task-1')), 'same record → same row and insertId');
  t.is(resultMetricRow(r).insertId, 'completed:task-1');
  t.is(failureMetricRow(failure('task-2')).insertId, 'malformed:task-2');
  t.is(rows[4]![1].insertId, 'replica-a:2026-11-29T10:00:00.000Z:2026-11-29T10:30:00.000Z');
  t.is(changeResultRow(r).json.added, JSON.stringify(r.changes.added), 'JSON columns travel as JSON text');
  t.is(changeResultRow(r).json.created_at, '2026-11-29T10:15:00.000Z');
});

test('encode: insertIds longer than the 128-character limit are hashed deterministically', (t) => {
  const long = 'k'.repeat(300);
  t.true(insertIdFor(long).length <= 128);
  t.is(insertIdFor(long), insertIdFor(long));
  t.not(insertIdFor(long), insertIdFor('k'.repeat(299)));
  t.is(insertIdFor('short'), 'short');
});

test('encode: chunkRows keeps requests within the row and byte limits, in order', (t) => {
  const rows = Array.from({ length: 1203 }, (_, i) => ({ insertId: `id-${i}`, json: { n: i } }));
  const chunks = chunkRows(rows);
  t.deepEqual(chunks.map((c) => c.length), [500, 500, 203]);
  t.deepEqual(chunks.flat(), rows);
  const big = Array.from({ length: 10 }, (_, i) => ({ insertId: `b-${i}`, json: { s: 'x'.repeat(1000) } }));
  const byBytes = chunkRows(big, { maxRows: 500, maxBytes: 3500 });
  t.true(byBytes.every((c) => JSON.stringify(c).length <= 3500 + c.length));
  t.true(byBytes.length >= 3);
  t.deepEqual(chunkRows([{ insertId: 'huge', json: { s: 'x'.repeat(5000) } }], { maxRows: 500, maxBytes: 100 }).length, 1, 'an oversized row travels alone');
  t.deepEqual(chunkRows([]), []);
});

test('encode: uniqueRows keeps the first row of each insertId', (t) => {
  const rows = [
    { insertId: 'a', json: { v: 1 } },
    { insertId: 'b', json: { v: 2 } },
    { insertId: 'a', json: { v: 3 } },
  ];
  t.deepEqual(uniqueRows(rows).map((r) => r.json.v), [1, 2]);
});

test('queries: caller values travel as parameters, never in the SQL text', (t) => {
  const spec = changesQuery({ projectId: 'p-1', datasetId: 'ds' }, "D1' OR '1'='1", 5);
  t.false(spec.query.includes('D1'));
  t.deepEqual(spec.params, { drawing_id: "D1' OR '1'='1", limit: 5 });
  t.throws(() => tableRef({ projectId: 'p`; DROP', datasetId: 'ds' }, 'jobs'), { instanceOf: RangeError });
});

test('decode: malformed stored rows raise RowDecodeError, not undefined fields', (t) => {
  const good = {
    drawing_id: 'D1',
    job_id: null,
    added: '[]',
    removed: '[]',
    moved: '[]',
    modified: '[]',
    summary: 'No changes detected.',
    processing_time_ms: 3,
    created_at: { value: '2026-11-29T10:15:00.123456000Z' },
  };
  t.is(decodeChange(good).created_at, '2026-11-29T10:15:00.123Z');
  t.throws(() => decodeChange({ ...good, added: '{"not":"array"}' }), { instanceOf: RowDecodeError });
  t.throws(() => decodeChange({ ...good, created_at: 'yesterday' }), { instanceOf: RowDecodeError });
  t.throws(() => decodeChange({ ...good, summary: 7 }), { instanceOf: RowDecodeError });
});

test('fake: QUALIFY is rewritten block by block for SQLite', (t) => {
  t.is(
    rewriteQualify('SELECT a FROM t WHERE b = @b QUALIFY ROW_NUMBER() OVER (PARTITION BY a ORDER BY c) = 1 ORDER BY a LIMIT 3'),
    'SELECT a FROM (SELECT *, (ROW_NUMBER() OVER (PARTITION BY a ORDER BY c) = 1) AS __qualify FROM t WHERE b = @b) WHERE __qualify ORDER BY a LIMIT 3',
  );
});

// ---------------------------------------------------------------- schema

test('ensureSchema creates the dataset and six partitioned, clustered tables, once', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  await writer.ensureSchema();

  const creates = fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/datasets/${DATASET}/tables`));
  t.is(creates.length, 6, 'each table created once, the second call is remembered');
  t.is(fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/datasets')).length, 1);
  const byId = new Map(creates.map((r) => [(r.body as { tableReference: { tableId: string } }).tableReference.tableId, r.body]));
  t.deepEqual([...byId.keys()].sort(), [...TABLE_IDS].sort());

  const changeResults = byId.get('change_results') as Record<string, any>;
  t.deepEqual(changeResults.timePartitioning, { type: 'DAY', field: 'created_at' });
  t.deepEqual(changeResults.clustering, { fields: ['drawing_id'] });
  t.deepEqual(
    changeResults.schema.fields.map((f: any) => `${f.name}:${f.type}:${f.mode}`),
    [
      'task_key:STRING:REQUIRED',
      'drawing_id:STRING:REQUIRED',
      'job_id:STRING:NULLABLE',
      'added:JSON:REQUIRED',
      'removed:JSON:REQUIRED',
      'moved:JSON:REQUIRED',
      'modified:JSON:REQUIRED',
      'renamed:JSON:NULLABLE',
      'ambiguous:JSON:NULLABLE',
      'summary:STRING:REQUIRED',
      'processing_time_ms:FLOAT64:REQUIRED',
      'end_to_end_ms:FLOAT64:REQUIRED',
      'created_at:TIMESTAMP:REQUIRED',
      'replica_id:STRING:REQUIRED',
      'result_object:STRING:NULLABLE',
      'version_a_ref:STRING:NULLABLE',
      'version_a_sha256:STRING:NULLABLE',
      'version_b_ref:STRING:NULLABLE',
      'version_b_sha256:STRING:NULLABLE',
    ],
  );
  const metrics = byId.get('processing_metrics') as Record<string, any>;
  t.deepEqual(
    metrics.schema.fields.map((f: any) => f.name),
    ['task_key', 'job_id', 'drawing_id', 'status', 'latency_ms', 'end_to_end_ms', 'added_count', 'removed_count', 'moved_count', 'modified_count', 'renamed_count', 'error_code', 'error_message', 'created_at', 'replica_id'],
  );
  t.is((byId.get('anomalies') as any).schema.fields.find((f: any) => f.name === 'details').type, 'JSON');
  t.deepEqual((byId.get('hourly_rollups') as any).timePartitioning, { type: 'DAY', field: 'hour_start', expirationMs: String(400 * 86_400_000) });
  t.deepEqual((byId.get('hourly_rollups') as any).clustering, { fields: ['replica_id'] });
  t.deepEqual((byId.get('jobs') as any).clustering, { fields: ['job_id'] });
  t.deepEqual((byId.get('jobs') as any).timePartitioning, { type: 'DAY', field: 'created_at' });
  const jobTasks = byId.get('job_tasks') as Record<string, any>;
  t.deepEqual(
    jobTasks.schema.fields.map((f: any) => `${f.name}:${f.type}:${f.mode}`),
    ['job_id:STRING:REQUIRED', 'task_key:STRING:REQUIRED', 'created_at:TIMESTAMP:REQUIRED'],
  );
  t.deepEqual(jobTasks.clustering, { fields: ['task_key', 'job_id'] });
  t.deepEqual(jobTasks.timePartitioning, { type: 'DAY', field: 'created_at' });
});

test('ensureSchema leaves existing tables alone and tolerates another replica creating them', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  const before = fake.requests.length;
  const second = new BigQueryWriter({ client: fake.client(), datasetId: DATASET, logger: silentLogger });
  await second.ensureSchema();
  t.false(fake.requests.slice(before).some((r) => r.method === 'POST' || r.method === 'PATCH'), 'no create or patch requests for up-to-date tables');
});

test('ensureSchema adds the nullable columns a newer build defines to a table an older build created, and rows using them go in', async (t) => {
  // given a change_results table created without result_object (the schema before it existed)
  const { fake, writer } = await setup(t);
  const client = fake.client();
  await client.dataset(DATASET).create();
  const old = tableMetadata(TABLES.change_results);
  await client.dataset(DATASET).table('change_results').create({ ...old, schema: { fields: old.schema.fields.filter((f) => f.name !== 'result_object') } });
  t.false(fake.table(DATASET, 'change_results')!.fields.some((f) => f.name === 'result_object'));

  // when a newer writer sets the schema up
  await writer.ensureSchema();

  // then the column was added in place, and a row carrying it is accepted
  t.true(fake.table(DATASET, 'change_results')!.fields.some((f) => f.name === 'result_object' && f.mode === 'NULLABLE'));
  const row = changeResultRow(result('spilled'));
  const receipt = await writer.insert({ change_results: [{ insertId: row.insertId, json: { ...row.json, result_object: 'gs://out/results/D1/spilled.json' } }] });
  t.deepEqual(receipt.rejected, []);
  t.is(fake.table(DATASET, 'change_results')!.rows[0]?.json.result_object, 'gs://out/results/D1/spilled.json');
});

test('ensureSchema failure is a TransientError and is retried on the next call', async (t) => {
  const { fake, writer } = await setup(t);
  fake.failRequests({ pathIncludes: `/datasets/${DATASET}`, method: 'GET', status: 503 });
  const err = await t.throwsAsync(writer.ensureSchema(), { instanceOf: TransientError });
  t.is(err?.code, 'sink_unavailable');
  await t.notThrowsAsync(writer.ensureSchema());
  t.truthy(fake.table(DATASET, 'jobs'));
});

// ---------------------------------------------------------------- inserts

test('insert sends raw rows with their insertIds, at most 500 per request', async (t) => {
  const { fake, writer } = await setup(t);
  const results = Array.from({ length: 1100 }, (_, i) => result(`task-${i}`));
  await writer.insert({ change_results: results.map(changeResultRow), processing_metrics: results.map(resultMetricRow) });

  const bodies = fake.insertRequests('change_results');
  t.deepEqual(bodies.map((b) => b.rows.length).sort((a, b) => b - a), [500, 500, 100]);
  t.deepEqual(bodies.flatMap(insertIds).sort(), results.map((r) => r.taskKey).sort());
  t.is(fake.table(DATASET, 'change_results')!.rows.length, 1100);
  t.is(fake.table(DATASET, 'processing_metrics')!.rows.length, 1100);
  const first = bodies[0]!.rows[0]!;
  t.is(typeof first.json.added, 'string');
  t.false('skipInvalidRows' in bodies[0]! && (bodies[0] as any).skipInvalidRows === true, 'invalid rows are never silently skipped');
});

test('a transient row failure rejects the insert as unavailable; repeating it writes each row once, nothing kept in between', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  fake.failRows({ table: 'change_results', match: (row) => row.task_key === 'task-2' || row.task_key === 'task-4', times: 2, reason: 'backendError' });
  const rows = [1, 2, 3, 4, 5].map((i) => changeResultRow(result(`task-${i}`)));

  // when: the first insert meets backend errors on two rows
  const err = await t.throwsAsync(writer.insert({ change_results: rows }), { instanceOf: TransientError });
  t.is(err?.code, 'sink_unavailable');
  t.regex(err!.message, /2 change_results row\(s\) \(backendError\)/);
  t.is(fake.insertRequests('change_results').length, 1, 'the writer does not retry on its own');

  // then: the caller repeats the call (its retry policy); the same insertIds make it idempotent
  t.deepEqual(await writer.insert({ change_results: rows }), { rejected: [] });
  t.deepEqual(fake.table(DATASET, 'change_results')!.rows.map((r) => r.insertId).sort(), ['task-1', 'task-2', 'task-3', 'task-4', 'task-5']);

  // and: a later insert of other rows sends only those (nothing retained behind it)
  await writer.insert({ change_results: [changeResultRow(result('task-6'))] });
  t.deepEqual(insertIds(fake.insertRequests('change_results').at(-1)!), ['task-6']);
});

test('an invalid row is rejected for good and reported; the rows it stopped are written in the same call', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  const bad: InsertRow = { insertId: 'bad', json: { ...changeResultRow(result('bad')).json, created_at: 'not a time' } };
  const rows = [changeResultRow(result('ok-1')), bad, changeResultRow(result('ok-2'))];

  const receipt = await writer.insert({ change_results: rows });

  t.is(receipt.rejected.length, 1);
  t.like(receipt.rejected[0], { table: 'change_results', insertId: 'bad', code: 'invalid_row' });
  const bodies = fake.insertRequests('change_results');
  t.deepEqual(insertIds(bodies[1]!), ['ok-1', 'ok-2'], 'stopped rows resent at once, without the invalid one');
  t.deepEqual(fake.table(DATASET, 'change_results')!.rows.map((r) => r.insertId), ['ok-1', 'ok-2']);

  // and the invalid row is never sent again behind later writes
  await writer.insert({ change_results: [changeResultRow(result('ok-3'))] });
  t.deepEqual(insertIds(fake.insertRequests('change_results').at(-1)!), ['ok-3']);
  t.false(fake.insertRequests('change_results').slice(2).some((b) => insertIds(b).includes('bad')));
});

test('a column the table lacks is rejected as invalid_row, alone', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  const extra: InsertRow = { insertId: 'extra', json: { ...changeResultRow(result('extra')).json, no_such_column: 1 } };
  const receipt = await writer.insert({ change_results: [changeResultRow(result('fine')), extra] });
  t.deepEqual(receipt.rejected.map((r) => [r.insertId, r.code]), [['extra', 'invalid_row']]);
  t.deepEqual(fake.table(DATASET, 'change_results')!.rows.map((r) => r.insertId), ['fine']);
});

test('a row over the row-size limit is rejected as row_too_large without being sent; its neighbours are written', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  const huge: InsertRow = { insertId: 'huge', json: { ...changeResultRow(result('huge')).json, summary: 'x'.repeat(MAX_ROW_BYTES) } };
  const receipt = await writer.insert({ change_results: [changeResultRow(result('small')), huge] });
  t.deepEqual(receipt.rejected.map((r) => [r.insertId, r.code]), [['huge', 'row_too_large']]);
  t.false(fake.insertRequests('change_results').some((b) => insertIds(b).includes('huge')));
  t.deepEqual(fake.table(DATASET, 'change_results')!.rows.map((r) => r.insertId), ['small']);
});

test('503 from insertAll is a TransientError; repeating the call after recovery writes the row once', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  fake.failRequests({ pathIncludes: '/insertAll', status: 503, times: 1 });
  const rows = { anomalies: [anomalyRow(anomaly('a-1'))] };
  const err = await t.throwsAsync(writer.insert(rows), { instanceOf: TransientError });
  t.regex(err!.message, /503/);
  t.is(fake.table(DATASET, 'anomalies')!.rows.length, 0);
  await writer.insert(rows);
  t.is(fake.table(DATASET, 'anomalies')!.rows.length, 1);
});

test('a connection refused is a TransientError', async (t) => {
  const fake = await startFakeBigQuery();
  const client = fake.client();
  await fake.close();
  const writer = new BigQueryWriter({ client, datasetId: DATASET, logger: silentLogger });
  await t.throwsAsync(writer.insert({ jobs: [jobRow({ jobId: 'j', tasksCreated: 1, createdAt: new Date() })] }), {
    instanceOf: TransientError,
  });
  await t.throwsAsync(writer.healthcheck(), { instanceOf: TransientError });
});

test('a table deleted under the writer is recreated on the next insert', async (t) => {
  const { fake, writer } = await setup(t);
  await writer.ensureSchema();
  fake.deleteTable(DATASET, 'jobs');
  const row = jobRow({ jobId: 'j1', tasksCreated: 1, createdAt: new Date() });
  await t.throwsAsync(writer.insert({ jobs: [row] }), { instanceOf: TransientError, message: /404/ });
  t.is(fake.table(DATASET, 'jobs'), undefined);

  await writer.insert({ jobs: [row] }); // repeated by the caller, after the schema is set up again
  t.deepEqual(fake.table(DATASET, 'jobs')!.rows.map((r) => r.insertId), ['j1']);
});

test('healthcheck resolves when the dataset answers and rejects when it is missing', async (t) => {
  const { writer } = await setup(t);
  await t.throwsAsync(writer.healthcheck(), { instanceOf: TransientError, message: /buildtrace/ });
  await writer.ensureSchema();
  await t.notThrowsAsync(writer.healthcheck());
});

// ---------------------------------------------------------------- queries

test('changes: newest first, limited, each task once even when BigQuery kept duplicates', async (t) => {
  const { fake, writer, store } = await setup(t, { dedupeInsertIds: false });
  const r1 = result('t1', { createdAt: new Date('2026-11-29T10:00:00Z') });
  const r2 = result('t2', { createdAt: new Date('2026-11-29T11:00:00Z'), jobId: null });
  const r3 = result('t3', { createdAt: new Date('2026-11-29T12:00:00Z') });
  const other = result('t4', { drawingId: 'D2' });
  await writer.insert({ change_results: [r1, r2, r3, other].map(changeResultRow) });
  // a replay of t3 from another replica, later: BigQuery did not dedupe it
  await writer.insert({ change_results: [changeResultRow({ ...r3, createdAt: new Date('2026-11-29T12:05:00Z'), replicaId: 'replica-b' })] });
  t.is(fake.table(DATASET, 'change_results')!.rows.length, 5);

  const changes = await store.changes('D1', 10);
  t.deepEqual(changes.map((c) => c.created_at), ['2026-11-29T12:00:00.000Z', '2026-11-29T11:00:00.000Z', '2026-11-29T10:00:00.000Z']);
  t.deepEqual(changes[0], {
    drawing_id: 'D1',
    job_id: 'job-1',
    added: r3.changes.added,
    removed: [],
    moved: [],
    modified: [],
    summary: r3.changes.summary,
    processing_time_ms: 12.5,
    created_at: '2026-11-29T12:00:00.000Z',
  });
  t.is(changes[1]!.job_id, null);
  t.deepEqual((await store.changes('D1', 1)).map((c) => c.created_at), ['2026-11-29T12:00:00.000Z']);
  t.deepEqual(await store.changes('nope', 5), []);

  const q = fake.queries.at(-1)!;
  t.regex(q.sql, /QUALIFY ROW_NUMBER\(\) OVER \(PARTITION BY task_key ORDER BY created_at/);
  t.false(q.sql.includes('nope'));
  t.deepEqual(
    q.parameters.map((p) => [p.name, p.parameterType?.type, String(p.parameterValue?.value)]),
    [
      ['drawing_id', 'STRING', 'nope'],
      ['limit', 'INT64', '5'],
    ],
  );
});

test('job: counts each task once, a completed row beating a failed one; unknown job is null', async (t) => {
  const { writer, store } = await setup(t, { dedupeInsertIds: false });
  const created = new Date('2026-11-29T09:59:00Z');
  await store.createJob({ jobId: 'job-1', tasksCreated: 5, createdAt: created });
  const done = [result('a'), result('b'), result('a', { replicaId: 'replica-b' })];
  await writer.insert({
    processing_metrics: [
      ...done.map(resultMetricRow),
      failureMetricRow(failure('c', { kind: 'failed', code: 'storage_unavailable' })),
      failureMetricRow(failure('b', { kind: 'failed' })),
      resultMetricRow(result('x', { jobId: 'job-2' })),
    ],
  });

  t.deepEqual(await store.job('job-1'), { job_id: 'job-1', tasks_created: 5, completed: 2, failed: 1, pending: 2 });
  t.is(await store.job('job-404'), null);
});

test('job tasks: keys travel as one ARRAY<STRING> parameter, never in the SQL; a retried record is one row per key in the answers', async (t) => {
  const { store, fake } = await setup(t, { dedupeInsertIds: false });
  const created = new Date('2026-11-29T09:59:00Z');
  const hostile = "k'); DROP TABLE jobs; --";
  await store.createJob({ jobId: 'job-1', tasksCreated: 2, createdAt: created });
  await store.recordJobTasks({ jobId: 'job-1', createdAt: created, taskKeys: ['k1', hostile] });
  await store.recordJobTasks({ jobId: 'job-1', createdAt: created, taskKeys: ['k1', hostile] });

  t.deepEqual([...(await store.knownTaskKeys(['k1', 'k2', hostile]))].sort(), [hostile, 'k1'].sort());
  const q = fake.queries.at(-1)!;
  t.false(q.sql.includes('k1') || q.sql.includes('DROP'));
  t.deepEqual(q.parameters.map((p) => [p.name, p.parameterType?.type, (p.parameterType as any)?.arrayType?.type]), [['task_keys', 'ARRAY', 'STRING']]);
  t.deepEqual(
    fake.table(DATASET, 'job_tasks')?.rows.map((r) => r.json),
    [1, 2].flatMap(() => [
      { job_id: 'job-1', task_key: 'k1', created_at: created.toISOString() },
      { job_id: 'job-1', task_key: hostile, created_at: created.toISOString() },
    ]),
  );
  t.deepEqual(await store.job('job-1'), { job_id: 'job-1', tasks_created: 2, completed: 0, failed: 0, pending: 2 });
});

test('rollups: the newest version per replica and hour, every replica, from since', async (t) => {
  const { writer, store, fake } = await setup(t, { dedupeInsertIds: false });
  const rows = [
    rollup('replica-a', '2026-11-29T09:00:00Z', '2026-11-29T09:59:00Z', 1),
    rollup('replica-a', '2026-11-29T10:00:00Z', '2026-11-29T10:10:00Z', 2),
    rollup('replica-a', '2026-11-29T10:00:00Z', '2026-11-29T10:40:00Z', 5),
    rollup('replica-b', '2026-11-29T10:00:00Z', '2026-11-29T10:20:00Z', 7),
  ];
  await writer.insert({ hourly_rollups: rows.map(rollupRow) });
  await writer.insert({ hourly_rollups: [rollupRow(rows[2]!)] }); // a retried flush: same version

  const got = await store.rollups(new Date('2026-11-29T10:00:00Z'));
  t.deepEqual(
    got.map((r) => [r.replicaId, r.hourStart.toISOString(), r.counts.pairs, r.updatedAt.toISOString()]),
    [
      ['replica-a', '2026-11-29T10:00:00.000Z', 5, '2026-11-29T10:40:00.000Z'],
      ['replica-b', '2026-11-29T10:00:00.000Z', 7, '2026-11-29T10:20:00.000Z'],
    ],
  );
  t.deepEqual(got[0], rows[2]);
  t.is(fake.queries.at(-1)!.parameters[0]!.parameterType?.type, 'TIMESTAMP');
});

test('anomalies and data-quality issues: deduped by id, newest first, since', async (t) => {
  const { writer, store } = await setup(t, { dedupeInsertIds: false });
  const list = [
    anomaly('malformed_input:t1', { timestamp: new Date('2026-11-29T10:00:00Z') }),
    anomaly('missing_upload:D3', { type: 'missing_upload', drawingId: 'D3', severity: 'low', timestamp: new Date('2026-11-29T11:00:00Z') }),
    anomaly('spike_detected:D1:t9', { type: 'spike_detected', drawingId: 'D1', severity: 'high', details: { factor: 12 }, timestamp: new Date('2026-11-29T12:00:00Z') }),
    anomaly('malformed_input:old', { timestamp: new Date('2026-11-27T10:00:00Z') }),
  ];
  await writer.insert({ anomalies: list.map(anomalyRow) });
  await writer.insert({ anomalies: [anomalyRow(list[0]!)] }); // duplicate kept by BigQuery

  const since = new Date('2026-11-29T00:00:00Z');
  const got = await store.anomalies(since, 10);
  t.deepEqual(got.map((a) => a.id), ['spike_detected:D1:t9', 'missing_upload:D3', 'malformed_input:t1']);
  t.deepEqual(got[0], list[2]);
  t.deepEqual((await store.anomalies(since, 1)).map((a) => a.id), ['spike_detected:D1:t9']);
  t.is(await store.dataQualityIssues(since), 2);
  t.is(await store.dataQualityIssues(new Date('2026-11-30T00:00:00Z')), 0);
});

test('a failing query is a TransientError', async (t) => {
  const { fake, writer, store } = await setup(t);
  await writer.ensureSchema();
  fake.failRequests({ pathIncludes: '/queries', status: 500 });
  const err = await t.throwsAsync(store.changes('D1', 1), { instanceOf: TransientError });
  t.is(err?.code, 'sink_unavailable');
});
