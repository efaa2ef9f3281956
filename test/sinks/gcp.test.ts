import test, { type ExecutionContext } from 'ava';
import { loadConfig } from '../../src/config.js';
import { TransientError } from '../../src/domain/errors.js';
import { silentLogger } from '../../src/log.js';
import { createBigQueryClient } from '../../sinks/bigquery/config.js';
import { METRICS } from '../../src/infra/monitoring/metrics.js';
import { createStorageClient } from '../../src/infra/storage/client.js';
import { createGcpSink, type GcpSink } from '../../sinks/gcp.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { startFakeGcs } from '../support/fake-gcs.js';
import { startFakeMonitoring } from '../support/fake-monitoring.js';
import { anomaly, failure, result } from '../support/gcp-fixtures.js';
import { batchOf, runSinkCompliance } from '../support/sink-compliance.js';
import { Telemetry } from '../../streams/telemetry/telemetry.js';
import { instrumentSink } from '../../streams/telemetry/instrument.js';
import { telemetrySeriesSource } from '../../streams/telemetry/monitoring.js';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';

const OUT = 'buildtrace-output-test';

/** The composite over three local fakes; BigQuery's insertId dedupe is off so the queries must dedupe. */
async function gcpUnderTest(t: ExecutionContext, options: { dedupeInsertIds?: boolean } = {}) {
  const [bq, gcs, monitoring] = await Promise.all([
    startFakeBigQuery({ dedupeInsertIds: options.dedupeInsertIds ?? false }),
    startFakeGcs(),
    startFakeMonitoring(),
  ]);
  gcs.createBucket(OUT);
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: bq.projectId, OUTPUT_BUCKET: OUT, REPLICA_ID: 'replica-a' });
  const sink = createGcpSink(
    config,
    silentLogger,
    { bigquery: bq.client(), storage: gcs.client({ maxRetries: 0 }), monitoring: monitoring.client() },
    {
      monitoringIntervalMs: 3_600_000,
      monitoringMinPointSpacingMs: 0,
      env: {},
    },
  );
  const dispose = async () => {
    await Promise.all([bq.close(), gcs.close(), monitoring.close()]);
  };
  return { sink, bq, gcs, monitoring, dispose };
}

runSinkCompliance(test, 'gcp sink', async (t) => {
  const { sink, bq, dispose } = await gcpUnderTest(t);
  return {
    sink,
    store: sink,
    dispose,
    // BigQuery, the store that decides durability, answering 503 to everything until it is back.
    outage: { down: () => bq.failRequests({ pathIncludes: '/projects/', status: 503, times: 1_000_000 }), up: () => bq.clearFaults() },
    // A row over BigQuery's 10 MB row limit.
    refusable: { make: (r) => ({ ...r, changes: { ...r.changes, summary: 'x'.repeat(10 * 1024 * 1024) } }), code: 'row_too_large' },
  };
});

/** For the tests below: closes the sink, then the fakes. */
async function open(t: ExecutionContext, options: { dedupeInsertIds?: boolean } = {}) {
  const under = await gcpUnderTest(t, options);
  t.teardown(async () => {
    await under.sink.close();
    await under.dispose();
  });
  return under;
}

const pairsCounted = (m: Awaited<ReturnType<typeof startFakeMonitoring>>) =>
  m.find(METRICS.pairsProcessed).map((s) => Number(s.points.at(-1)!.value.int64Value));

test('a batch lands in BigQuery and Cloud Storage, and metrics count it once', async (t) => {
  const { sink, bq, gcs, monitoring } = await open(t);
  const batch = batchOf({ results: [result('k1')], failures: [failure('k2')], anomalies: [anomaly('malformed_input:k2')] });

  const first = await sink.writeBatch(batch);
  const replay = await sink.writeBatch(batch);

  t.deepEqual([...first.fresh].sort(), ['k1', 'k2']);
  t.is(replay.fresh.size, 0);
  t.deepEqual(bq.table('buildtrace', 'change_results')!.rows.map((r) => r.insertId), ['k1', 'k1'], 'replays resend rows with the same insertId');
  t.truthy(gcs.object(OUT, 'results/D1/k1.json'));
  t.truthy(gcs.object(OUT, 'failures/k2.json'));

  await sink.close();
  t.deepEqual(pairsCounted(monitoring), [1]);
  t.deepEqual(
    monitoring.find(METRICS.anomalies, { type: 'malformed_input' }).map((s) => Number(s.points.at(-1)!.value.int64Value)),
    [1],
  );
  t.deepEqual(monitoring.find(METRICS.deadLettered, { reason: 'malformed' }).map((s) => Number(s.points.at(-1)!.value.int64Value)), [1]);
  t.is(monitoring.find(METRICS.pairsProcessed)[0]!.resource.labels.task_id, 'replica-a');
});

test('BigQuery down: TransientError, no marker left behind, and the redelivery is fresh and counted once', async (t) => {
  const { sink, bq, gcs, monitoring } = await open(t);
  await sink.healthcheck().catch(() => undefined);
  bq.failRequests({ pathIncludes: '/insertAll', status: 503, times: 1 });
  const batch = batchOf({ results: [result('k1')] });

  const err = await t.throwsAsync(sink.writeBatch(batch), { instanceOf: TransientError });
  t.is(err?.code, 'sink_unavailable');
  t.is(gcs.objects(OUT).length, 0, 'no marker without rows');

  const again = await sink.writeBatch(batch);
  t.deepEqual([...again.fresh], ['k1']);
  await sink.close();
  t.deepEqual(pairsCounted(monitoring), [1]);
});

test('a result BigQuery refuses for good is rejected alone: no marker, not fresh, not re-sent by later writes', async (t) => {
  const { sink, bq, gcs } = await open(t);
  const bad = result('bad');
  const poisoned = { ...bad, changes: { ...bad.changes, summary: 'x'.repeat(10 * 1024 * 1024) } };
  const receipt = await sink.writeBatch(batchOf({ results: [result('good'), poisoned] }));

  t.deepEqual([...receipt.fresh], ['good']);
  t.deepEqual([...(receipt.rejected?.keys() ?? [])], ['bad']);
  t.like(receipt.rejected?.get('bad'), { code: 'row_too_large' });
  t.deepEqual(gcs.objects(OUT).map((o) => o.name), ['results/D1/good.json']);
  t.is(sink.stats().bigqueryRejectedRows, 1);

  const later = await sink.writeBatch(batchOf({ results: [result('later')] }));
  t.deepEqual([...later.fresh], ['later']);
  t.false(bq.insertRequests('change_results').slice(-1)[0]!.rows.some((r) => r.insertId === 'bad'));
});

test('a 100,000-object pair with every object moved: the row keeps an excerpt and a pointer, the result object holds it whole, and changes() answers it whole', async (t) => {
  const { sink, bq, gcs } = await open(t);
  // given the result of such a pair (about 31 MB, over BigQuery's 10 MB row limit)
  const a = Array.from({ length: 100_000 }, (_, i) => ({ id: `O${i}`, type: 'door', x: i, y: 0, width: 1, height: 1 }));
  const changes = validateAndDiff(a, a.map((o) => ({ ...o, x: o.x + 2 })), 'D1');
  const huge = { ...result('huge'), changes, counts: countChanges(changes) };

  // when it is written
  const receipt = await sink.writeBatch(batchOf({ results: [huge, result('small')] }));

  // then it is durable and fresh, not rejected
  t.deepEqual([...receipt.fresh].sort(), ['huge', 'small']);
  t.is(receipt.rejected?.size ?? 0, 0);
  // and its row holds the summary, an excerpt and the pointer; the small one is whole, with no pointer
  const rows = bq.table('buildtrace', 'change_results')!.rows;
  const row = rows.find((r) => r.insertId === 'huge')!.json;
  t.is(row.result_object, `gs://${OUT}/results/D1/huge.json`);
  t.is(JSON.parse(String(row.moved)).length, 100);
  t.is(row.summary, changes.summary);
  t.true(Buffer.byteLength(JSON.stringify(row)) < 1024 * 1024);
  t.is(rows.find((r) => r.insertId === 'small')!.json.result_object, undefined);
  t.truthy(gcs.object(OUT, 'results/D1/huge.json'));
  // and any replica's read answers it whole
  const stored = await sink.changes('D1', 10);
  const whole = stored.find((c) => c.moved.length === 100_000);
  t.truthy(whole, `lengths ${stored.map((c) => c.moved.length).join(',')}`);
  t.deepEqual(whole!.moved[99_999], changes.moved[99_999]);
  t.is(whole!.summary, changes.summary);
});

test('Cloud Storage down after the rows were written: TransientError, then fresh once on redelivery', async (t) => {
  const { sink, bq, gcs } = await open(t);
  gcs.failRequests({ method: 'POST', pathIncludes: '/upload/', status: 503 });
  const batch = batchOf({ results: [result('k1')] });

  await t.throwsAsync(sink.writeBatch(batch), { instanceOf: TransientError });
  t.is(bq.table('buildtrace', 'change_results')!.rows.length, 1, 'rows are written before the marker');

  t.deepEqual([...(await sink.writeBatch(batch)).fresh], ['k1']);
  t.deepEqual([...(await sink.writeBatch(batch)).fresh], []);
  t.is((await sink.changes('D1', 10)).length, 1);
});

test('Monitoring down never fails a batch', async (t) => {
  const { sink, monitoring } = await open(t);
  monitoring.fail('CreateTimeSeries', 100);
  monitoring.fail('CreateMetricDescriptor', 100);
  t.deepEqual([...(await sink.writeBatch(batchOf({ results: [result('k1')] }))).fresh], ['k1']);
  await t.notThrowsAsync(sink.flush());
  await t.notThrowsAsync(sink.close());
  t.true(sink.stats().monitoring.writeFailures >= 1);
});

test('writeRollups is an upsert by (replica, hour) as readers see it', async (t) => {
  const { sink, bq } = await open(t);
  const hour = new Date(Math.floor((Date.now() - 3600_000) / 3600_000) * 3600_000);
  const base = { replicaId: 'replica-a', hourStart: hour, processingHistogram: 'p', endToEndHistogram: 'e' };
  const counts = (pairs: number) => ({ pairs, added: 0, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 });
  await sink.writeRollups([{ ...base, counts: counts(1), updatedAt: new Date(hour.getTime() + 1000) }]);
  await sink.writeRollups([{ ...base, counts: counts(4), updatedAt: new Date(hour.getTime() + 2000) }]);
  t.deepEqual((await sink.rollups(hour)).map((r) => r.counts.pairs), [4]);
  t.deepEqual(
    bq.insertRequests('hourly_rollups').flatMap((b) => b.rows.map((r) => r.insertId)),
    [`replica-a:${hour.toISOString()}:${new Date(hour.getTime() + 1000).toISOString()}`, `replica-a:${hour.toISOString()}:${new Date(hour.getTime() + 2000).toISOString()}`],
  );
});

test('healthcheck rejects while the dataset or the output bucket is unreachable', async (t) => {
  const { sink, bq, gcs } = await open(t);
  await t.notThrowsAsync(sink.healthcheck());
  bq.failRequests({ method: 'GET', pathIncludes: '/datasets/buildtrace', status: 503 });
  await t.throwsAsync(sink.healthcheck(), { instanceOf: TransientError, message: /BigQuery/ });
  gcs.failRequests({ method: 'GET', pathIncludes: `/b/${OUT}`, status: 503 });
  await t.throwsAsync(sink.healthcheck(), { instanceOf: TransientError, message: /Cloud Storage/ });
  await t.notThrowsAsync(sink.healthcheck());
});

test('clients built from the configuration use the *_API_ENDPOINT overrides', async (t) => {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.createBucket('out-bucket');
  const config = loadConfig({
    GOOGLE_CLOUD_PROJECT: 'buildtrace-test',
    OUTPUT_BUCKET: 'out-bucket',
    STORAGE_API_ENDPOINT: gcs.url,
    BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9',
  });
  t.is(createBigQueryClient(config).apiEndpoint, 'http://127.0.0.1:9');
  const [metadata] = await createStorageClient(config).bucket('out-bucket').getMetadata();
  t.is(metadata.name, 'out-bucket');
  t.throws(() => createGcpSink(loadConfig({}), silentLogger, {}), { instanceOf: RangeError, message: /GOOGLE_CLOUD_PROJECT/ });
});

test('close is idempotent and writes the final metrics point once', async (t) => {
  const { sink, monitoring } = await open(t);
  await sink.writeBatch(batchOf({ results: [result('k1')] }));
  await Promise.all([sink.close(), sink.close()]);
  await sink.close();
  t.is(monitoring.find(METRICS.pairsProcessed)[0]!.points.length, 1);
});

// Keeps the type of the composite honest: it is both halves of the contract.
const _contract: (s: GcpSink) => [import('../../src/domain/sink.js').ResultSink, import('../../src/domain/sink.js').ResultStore] = (s) => [s, s];
void _contract;

test('the service’s telemetry is written with the product metrics: same replica resource, descriptors first', async (t) => {
  const { sink, monitoring } = await open(t);
  const telemetry = new Telemetry(silentLogger);
  const instrumented = instrumentSink(sink, telemetry);
  sink.attachMetrics(telemetrySeriesSource(telemetry));
  telemetry.useSamplers({ ready: async () => true });
  telemetry.setBreakerState('bigquery', 'open', 'test');

  await instrumented.writeBatch(batchOf({ results: [result('tel-1')] }));
  await sink.close();

  const written = (name: string, labels: Record<string, string> = {}) => monitoring.find(`custom.googleapis.com/buildtrace/${name}`, labels);
  // each of the three sinks is timed under its own label, the composite under none
  for (const label of ['bigquery', 'cloud_storage']) {
    const [latency] = written('sink_write_latency', { sink: label });
    t.is(Number(latency!.points.at(-1)!.value.distributionValue.count), 1, label);
  }
  t.deepEqual(written('sink_write_latency', { sink: 'gcp' }), []);
  t.is(telemetry.snapshot().sinks.cloud_monitoring!.writes, 1, 'the final point, timed after it was written');
  t.is(Number(written('breaker_state', { sink: 'bigquery' })[0]!.points.at(-1)!.value.int64Value), 2);
  t.is(Number(written('replica_ready')[0]!.points.at(-1)!.value.int64Value), 1);
  const resources = new Set([...monitoring.series.values()].map((s) => JSON.stringify(s.resource)));
  t.is(resources.size, 1, 'one replica, one monitored resource for product and telemetry series');
  t.true([...resources][0]!.includes('"task_id":"replica-a"'));
  t.truthy(monitoring.descriptors.get('custom.googleapis.com/buildtrace/deliveries_dead_lettered'));
});
