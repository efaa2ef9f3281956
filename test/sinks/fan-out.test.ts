/**
 * The GCP sinks one by one, as the fan-out composes them: BigQuery as the records sink and Cloud
 * Storage as the freshness sink, each through the shared part contract on its local server with
 * real outages; and the fan-out's order (a refused item never reaches freshness or telemetry).
 */
import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { BigQueryRecords } from '../../sinks/bigquery/records.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { CloudStorageMarkers } from '../../sinks/cloud-storage/sink.js';
import { FanOutSink, type FreshnessSink, type RecordsSink } from '../../sinks/fan-out.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { startFakeGcs } from '../support/fake-gcs.js';
import { result } from '../support/gcp-fixtures.js';
import { runFreshnessSinkCompliance, runRecordsSinkCompliance } from '../support/part-compliance.js';
import { batchOf } from '../support/sink-compliance.js';

const BUCKET = 'buildtrace-output-parts';

runRecordsSinkCompliance(test, 'bigquery', async () => {
  const fake = await startFakeBigQuery({ dedupeInsertIds: true });
  const writer = new BigQueryWriter({ client: fake.client(), datasetId: 'buildtrace', logger: silentLogger });
  const sink = new BigQueryRecords({ writer, logger: silentLogger, wholeResultUri: null });
  return {
    sink,
    outage: { down: () => fake.failRequests({ pathIncludes: '/projects/', status: 503, times: 1_000_000 }), up: () => fake.clearFaults() },
    // Over the row limit, with nowhere to keep it whole.
    refusable: { make: (r) => ({ ...r, changes: { ...r.changes, summary: 'x'.repeat(10 * 1024 * 1024) } }), code: 'row_too_large' },
    stored: () => [...new Set((fake.table('buildtrace', 'change_results')?.rows ?? []).map((r) => String(r.json.task_key)))],
    dispose: () => fake.close(),
  };
});

runFreshnessSinkCompliance(test, 'cloud-storage', async () => {
  const fake = await startFakeGcs();
  fake.createBucket(BUCKET);
  const sink = new CloudStorageMarkers({ bucket: fake.client({ maxRetries: 0 }).bucket(BUCKET), logger: silentLogger });
  return {
    sink,
    outage: { down: () => fake.failRequests({ times: 1_000_000, status: 503 }), up: () => fake.clearFaults() },
    dispose: () => fake.close(),
  };
});

/** A records sink that refuses one task key, and parts that record what reached them. */
function recordingParts(refuse: string) {
  const seen: string[] = [];
  const records: RecordsSink = {
    name: 'records',
    write: async (batch) => {
      seen.push(`records:${batch.results.map((r) => r.taskKey).join(',')}`);
      return { rejected: new Map(batch.results.filter((r) => r.taskKey === refuse).map((r) => [r.taskKey, { code: 'invalid_row', message: 'bad (test)' }])) };
    },
    writeRollups: async () => {},
    flush: async () => {},
    close: async () => void seen.push('records:close'),
    healthcheck: async () => {},
  };
  const freshness: FreshnessSink = {
    name: 'freshness',
    write: async (batch: SinkBatch) => {
      seen.push(`freshness:${batch.results.map((r) => r.taskKey).join(',')}`);
      return { freshTasks: new Set(batch.results.map((r) => r.taskKey)), freshAnomalies: new Set() };
    },
    flush: async () => {},
    close: async () => void seen.push('freshness:close'),
    healthcheck: async () => {},
  };
  const telemetry = {
    name: 'telemetry',
    observe: (batch: SinkBatch, fresh: { tasks: ReadonlySet<string> }) => void seen.push(`telemetry:${[...fresh.tasks].join(',')}`),
    flush: async () => {},
    close: async () => void seen.push('telemetry:close'),
  };
  return { seen, parts: { records, freshness, telemetry: [telemetry] } };
}

test('fan-out: records first, then freshness and telemetry with only what records accepted; close once, telemetry first', async (t) => {
  const { seen, parts } = recordingParts('bad');
  const sink = new FanOutSink('test', parts);
  const receipt = await sink.writeBatch(batchOf({ results: [result('good'), result('bad')] }));
  t.deepEqual([...receipt.fresh], ['good']);
  t.deepEqual([...(receipt.rejected?.keys() ?? [])], ['bad']);
  t.deepEqual(seen, ['records:good,bad', 'freshness:good', 'telemetry:good']);
  await sink.close();
  await sink.close();
  t.deepEqual(seen.slice(3), ['telemetry:close', 'freshness:close', 'records:close']);
});

test('fan-out: an empty batch touches no sink', async (t) => {
  const { seen, parts } = recordingParts('none');
  t.deepEqual([...(await new FanOutSink('test', parts).writeBatch(batchOf({}))).fresh], []);
  t.deepEqual(seen, []);
});

test('fan-out: each part’s write is timed under its own name and role; a failed records write is reported and stops the batch there', async (t) => {
  const { seen, parts } = recordingParts('none');
  const sink = new FanOutSink('test', parts);
  const writes: [string, boolean, string][] = [];
  sink.observeWrites((part, ms, ok, role) => {
    t.true(ms >= 0);
    writes.push([part, ok, role]);
  });
  await sink.writeBatch(batchOf({ results: [result('k1')] }));
  t.deepEqual(writes, [['records', true, 'records'], ['freshness', true, 'freshness']]);

  const failing = new FanOutSink('test', { ...parts, records: { ...parts.records, write: async () => Promise.reject(new Error('503 (test)')) } });
  failing.observeWrites((part, _ms, ok, role) => writes.push([part, ok, role]));
  await t.throwsAsync(failing.writeBatch(batchOf({ results: [result('k2')] })), { message: '503 (test)' });
  t.deepEqual(writes.slice(2), [['records', false, 'records']]);
  t.false(seen.includes('freshness:k2'));
});
