/**
 * `drawings()` — the query behind `GET /drawings` — answers the same from the embedded store and
 * from BigQuery (through the real client against the local fake): each drawing once, at its latest
 * result, newest first, ties by id, failures left out, and keyset pages that neither skip nor repeat.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { silentLogger } from '../../src/log.js';
import { changeResultRow, failureMetricRow, resultMetricRow } from '../../sinks/bigquery/encode.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { openLocalStore } from '../../sinks/local-store/index.js';
import type { DrawingSummary, FailureRecord, ResultRecord, ResultStore } from '../../src/domain/sink.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { failure, result } from '../support/gcp-fixtures.js';

const at = (minute: number) => new Date(Date.UTC(2026, 10, 29, 10, minute));
const counts = (added: number, moved: number) => ({ added, removed: 0, moved, modified: 0 });

const RESULTS: ResultRecord[] = [
  result('t1', { drawingId: 'D1', jobId: 'job-1', createdAt: at(0), counts: counts(1, 0) }),
  result('t2', { drawingId: 'D2', jobId: 'job-1', createdAt: at(5), counts: counts(2, 1) }),
  result('t3', { drawingId: 'D1', jobId: 'job-2', createdAt: at(10), counts: counts(0, 3) }),
  result('t4', { drawingId: 'D3', jobId: null, createdAt: at(5), counts: counts(4, 0) }),
];
const FAILURES: FailureRecord[] = [failure('t5', { drawingId: 'D4', createdAt: at(20) })];

const EXPECTED: DrawingSummary[] = [
  { drawing_id: 'D1', job_id: 'job-2', latest_result_at: at(10).toISOString(), counts: counts(0, 3) },
  { drawing_id: 'D3', job_id: null, latest_result_at: at(5).toISOString(), counts: counts(4, 0) },
  { drawing_id: 'D2', job_id: 'job-1', latest_result_at: at(5).toISOString(), counts: counts(2, 1) },
];

async function localStore(t: ExecutionContext): Promise<ResultStore> {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-drawings-'));
  const store = openLocalStore({ dataDir: dir });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await store.writeBatch({ results: RESULTS, failures: FAILURES, anomalies: [] });
  return store;
}

async function bigQueryStore(t: ExecutionContext): Promise<ResultStore> {
  // Insert-id dedupe off: a replayed row is stored twice, and the query must still list it once.
  const fake = await startFakeBigQuery({ dedupeInsertIds: false });
  t.teardown(() => fake.close());
  const client = fake.client();
  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  await writer.ensureSchema();
  const rows = { change_results: RESULTS.map(changeResultRow), processing_metrics: [...RESULTS.map(resultMetricRow), ...FAILURES.map(failureMetricRow)] };
  await writer.insert(rows);
  await writer.insert({ processing_metrics: [resultMetricRow(RESULTS[1]!)] });
  return new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: 'buildtrace' });
}

for (const [name, open] of [['local store', localStore], ['BigQuery', bigQueryStore]] as const) {
  test(`${name}: each drawing once at its latest result, newest first, failures left out`, async (t) => {
    const store = await open(t);
    t.deepEqual(await store.drawings(10, null), EXPECTED);
    t.deepEqual(await store.drawings(0, null), []);
  });

  test(`${name}: pages after a cursor neither skip nor repeat, ties included`, async (t) => {
    const store = await open(t);
    const first = await store.drawings(2, null);
    t.deepEqual(first, EXPECTED.slice(0, 2));
    const last = first[1]!;
    const second = await store.drawings(2, { latestAt: new Date(last.latest_result_at), drawingId: last.drawing_id });
    t.deepEqual(second, EXPECTED.slice(2));
    t.deepEqual(await store.drawings(2, { latestAt: at(5), drawingId: 'D2' }), []);
  });
}
