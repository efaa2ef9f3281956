import test from 'ava';
import { silentLogger } from '../../src/log.js';
import { bucketIndex, Distribution, MetricTotals } from '../../src/infra/monitoring/accumulate.js';
import { LATENCY_BUCKETS, METRICS } from '../../src/infra/monitoring/metrics.js';
import { encodeTimeSeries, metricDescriptors, toTimestamp } from '../../src/infra/monitoring/encode.js';
import { detectResource } from '../../src/infra/monitoring/resource.js';
import { CloudMonitoringSink } from '../../sinks/cloud-monitoring/sink.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { startFakeMonitoring, type FakeMonitoring } from '../support/fake-monitoring.js';
import { anomaly, failure, result } from '../support/gcp-fixtures.js';

const START = new Date('2026-11-29T10:00:00.000Z');

function makeSink(fake: FakeMonitoring, replicaId: string, clock: { now: number }, options: { intervalMs?: number; minSpacing?: number } = {}) {
  const sleeps: number[] = [];
  const sink = new CloudMonitoringSink({
    client: fake.client(),
    projectId: fake.projectId,
    resource: detectResource({ projectId: fake.projectId, replicaId }, {}),
    logger: silentLogger,
    intervalMs: options.intervalMs ?? 60_000,
    minPointSpacingMs: options.minSpacing ?? 5_000,
    startTime: START,
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
  });
  return { sink, sleeps };
}

async function setup(t: { teardown(fn: () => unknown): void }, minPointSpacingMs = 5_000) {
  const fake = await startFakeMonitoring({ minPointSpacingMs });
  t.teardown(() => fake.close());
  return fake;
}

const batch = (b: Partial<SinkBatch>): SinkBatch => ({ results: [], failures: [], anomalies: [], ...b });
const all = (b: SinkBatch) => ({
  tasks: new Set([...b.results.map((r) => r.taskKey), ...b.failures.map((f) => f.taskKey)]),
  anomalies: new Set(b.anomalies.map((a) => a.id)),
});
const int = (fake: FakeMonitoring, type: string, labels: Record<string, string> = {}) =>
  fake.find(type, labels).map((s) => Number(s.points.at(-1)!.value.int64Value));

// ---------------------------------------------------------------- pure parts

test('bucketIndex: underflow, exact bounds, overflow', (t) => {
  const b = LATENCY_BUCKETS;
  t.is(bucketIndex(0, b), 0);
  t.is(bucketIndex(0.99, b), 0);
  t.is(bucketIndex(1, b), 1);
  t.is(bucketIndex(1.39, b), 1);
  t.is(bucketIndex(1.4, b), 2);
  t.is(bucketIndex(1.4 ** 10, b), 11);
  t.is(bucketIndex(1.4 ** 10 * 0.999, b), 10);
  t.is(bucketIndex(1.4 ** 40, b), 41, 'overflow');
  t.is(bucketIndex(1e12, b), 41);
  t.is(bucketIndex(Number.NaN, b), 0);
});

test('Distribution: count, mean, squared deviation and buckets add up', (t) => {
  const d = new Distribution();
  for (const v of [2, 4, 4, 4, 5, 5, 7, 9]) d.record(v);
  d.record(Number.NaN);
  d.record(-1);
  const s = d.snapshot();
  t.is(s.count, 8);
  t.is(s.mean, 5);
  t.is(s.sumOfSquaredDeviation, 32);
  t.is(s.bucketCounts.length, LATENCY_BUCKETS.numFiniteBuckets + 2);
  t.is(s.bucketCounts.reduce((a, b) => a + b, 0), 8);
});

test('detectResource: generic_task per replica, k8s_container on GKE with pod info', (t) => {
  const ids = { projectId: 'proj', replicaId: 'rev-1-42-abc' };
  t.deepEqual(detectResource(ids, { K_SERVICE: 'buildtrace-api', GOOGLE_CLOUD_REGION: 'us-west2' }), {
    type: 'generic_task',
    labels: { project_id: 'proj', location: 'us-west2', namespace: 'buildtrace', job: 'buildtrace-api', task_id: 'rev-1-42-abc' },
  });
  const gke = { KUBERNETES_SERVICE_HOST: '10.0.0.1', POD_NAME: 'bt-7f9', POD_NAMESPACE: 'default', CLUSTER_NAME: 'c1', CLUSTER_LOCATION: 'us-west2-a' };
  t.deepEqual(detectResource(ids, gke), {
    type: 'k8s_container',
    labels: { project_id: 'proj', location: 'us-west2-a', cluster_name: 'c1', namespace_name: 'default', pod_name: 'bt-7f9', container_name: 'buildtrace' },
  });
  t.is(detectResource(ids, { ...gke, POD_NAME: undefined }).type, 'generic_task', 'no pod info → generic_task');
});

test('encodeTimeSeries: one cumulative point per series, one interval, fixed bucket layout', (t) => {
  const totals = new MetricTotals();
  totals.recordResult({ added: 2, removed: 1, moved: 0, modified: 3 }, 12, 40);
  totals.recordAnomaly('spike_detected');
  totals.recordDeadLetter('malformed');
  const end = new Date('2026-11-29T10:05:00.250Z');
  const series = encodeTimeSeries(totals.snapshot(), { resource: detectResource({ projectId: 'p', replicaId: 'r' }, {}), start: START, end });

  t.is(series.length, 1 + 4 + 5 + 2 + 2);
  for (const s of series) {
    t.is(s.metricKind, 'CUMULATIVE');
    t.deepEqual(s.points![0]!.interval, { startTime: toTimestamp(START), endTime: { seconds: 1795946700, nanos: 250_000_000 } });
  }
  const modified = series.find((s) => s.metric!.type === METRICS.changes && s.metric!.labels!.kind === 'modified')!;
  t.is(modified.points![0]!.value!.int64Value, 3);
  const latency = series.find((s) => s.metric!.type === METRICS.processingLatency)!;
  t.deepEqual(latency.points![0]!.value!.distributionValue!.bucketOptions, { exponentialBuckets: { numFiniteBuckets: 40, growthFactor: 1.4, scale: 1 } });
  t.is(latency.points![0]!.value!.distributionValue!.count, 1);
  t.deepEqual(metricDescriptors().filter((d) => d.valueType === 'DISTRIBUTION').map((d) => d.metricKind), ['CUMULATIVE', 'CUMULATIVE']);
});

// ---------------------------------------------------------------- against the gRPC fake

test('ensureDescriptors creates every custom metric once, distributions CUMULATIVE', async (t) => {
  const fake = await setup(t);
  const { sink } = makeSink(fake, 'r1', { now: START.getTime() + 1000 });
  t.true(await sink.ensureDescriptors());
  t.true(await sink.ensureDescriptors());

  t.is(fake.calls.filter((c) => c.method === 'CreateMetricDescriptor').length, 6);
  t.deepEqual([...fake.descriptors.keys()].sort(), Object.values(METRICS).sort());
  const latency = fake.descriptors.get(METRICS.processingLatency)!;
  t.is(latency.metricKind, 'CUMULATIVE');
  t.is(latency.valueType, 'DISTRIBUTION');
  t.is(latency.unit, 'ms');
  t.deepEqual(fake.descriptors.get(METRICS.changes)!.labels.map((l: { key: string }) => l.key), ['kind']);
  t.deepEqual(fake.descriptors.get(METRICS.anomalies)!.labels.map((l: { key: string }) => l.key), ['type']);
});

test('points carry the fixed start time, later ends, and cumulative counts of fresh records only', async (t) => {
  const fake = await setup(t);
  const clock = { now: START.getTime() + 60_000 };
  const { sink } = makeSink(fake, 'r1', clock);

  const first = batch({
    results: [result('k1', { counts: { added: 2, removed: 1, moved: 0, modified: 0 }, processingTimeMs: 3 }), result('replayed')],
    failures: [failure('k2')],
    anomalies: [anomaly('a1', { type: 'missing_upload' }), anomaly('a-replayed')],
  });
  sink.record(first, { tasks: new Set(['k1', 'k2']), anomalies: new Set(['a1']) });
  await sink.flush();
  clock.now += 60_000;
  sink.record(batch({ results: [result('k3', { counts: { added: 0, removed: 0, moved: 4, modified: 0 }, processingTimeMs: 300 })] }), {
    tasks: new Set(['k3']),
    anomalies: new Set(),
  });
  await sink.flush();

  t.deepEqual(sink.stats(), { pointsWritten: 2, writeFailures: 0, lastError: null });
  const [pairs] = fake.find(METRICS.pairsProcessed);
  t.deepEqual(pairs!.points.map((p) => p.startMs), [START.getTime(), START.getTime()], 'fixed start time');
  t.deepEqual(pairs!.points.map((p) => p.endMs), [START.getTime() + 60_000, START.getTime() + 120_000]);
  t.deepEqual(pairs!.points.map((p) => Number(p.value.int64Value)), [1, 2], 'replays are not counted');
  t.deepEqual(pairs!.resource, {
    type: 'generic_task',
    labels: { project_id: fake.projectId, location: 'global', namespace: 'buildtrace', job: 'buildtrace', task_id: 'r1' },
  });
  t.deepEqual(int(fake, METRICS.changes, { kind: 'added' }), [2]);
  t.deepEqual(int(fake, METRICS.changes, { kind: 'moved' }), [4]);
  t.deepEqual(int(fake, METRICS.anomalies, { type: 'missing_upload' }), [1]);
  t.deepEqual(int(fake, METRICS.anomalies, { type: 'malformed_input' }), [0]);
  t.deepEqual(int(fake, METRICS.deadLettered, { reason: 'malformed' }), [1]);

  const latency = fake.find(METRICS.processingLatency)[0]!.points.at(-1)!.value.distributionValue;
  t.is(latency.count, '2');
  t.is(latency.mean, 151.5);
  t.is(latency.bucketCounts.map(Number).reduce((a: number, b: number) => a + b, 0), 2);
  t.is(Number(latency.bucketCounts[bucketIndex(3, LATENCY_BUCKETS)]), 1);
  t.is(Number(latency.bucketCounts[bucketIndex(300, LATENCY_BUCKETS)]), 1);
});

test('each replica writes its own series with identical bucket options', async (t) => {
  const fake = await setup(t);
  const clock = { now: START.getTime() + 60_000 };
  const a = makeSink(fake, 'replica-a', clock).sink;
  const b = makeSink(fake, 'replica-b', clock).sink;
  a.record(batch({ results: [result('k1', { processingTimeMs: 10 })] }), all(batch({ results: [result('k1')] })));
  b.record(batch({ results: [result('k2', { processingTimeMs: 20 })] }), all(batch({ results: [result('k2')] })));

  // same instant on both replicas: no collision, because the series differ by task_id
  await Promise.all([a.flush(), b.flush()]);

  const latency = fake.find(METRICS.processingLatency);
  t.deepEqual(latency.map((s) => s.resource.labels.task_id).sort(), ['replica-a', 'replica-b']);
  t.deepEqual(latency[0]!.points[0]!.value.distributionValue.bucketOptions, latency[1]!.points[0]!.value.distributionValue.bucketOptions);
  t.is(a.stats().writeFailures + b.stats().writeFailures, 0);
});

test('flushIfDue writes at most once per interval', async (t) => {
  const fake = await setup(t);
  const clock = { now: START.getTime() + 60_000 };
  const { sink } = makeSink(fake, 'r1', clock, { intervalMs: 60_000 });

  await sink.flushIfDue();
  clock.now += 30_000;
  await sink.flushIfDue();
  clock.now += 29_999;
  await sink.flushIfDue();
  t.is(sink.stats().pointsWritten, 1);
  clock.now += 1;
  await sink.flushIfDue();
  t.is(sink.stats().pointsWritten, 2);
  t.deepEqual(fake.find(METRICS.pairsProcessed)[0]!.points.map((p) => p.endMs - START.getTime()), [60_000, 120_000]);
});

test('an explicit flush soon after a point waits out the API’s minimum spacing instead of being rejected', async (t) => {
  const fake = await setup(t, 5_000);
  const clock = { now: START.getTime() + 60_000 };
  const { sink, sleeps } = makeSink(fake, 'r1', clock, { minSpacing: 5_000 });
  await sink.flush();
  clock.now += 1_000;
  await sink.close();
  t.deepEqual(sleeps, [4_000]);
  t.deepEqual(sink.stats(), { pointsWritten: 2, writeFailures: 0, lastError: null });
});

test('the timer writes points on its own and close stops it after a final point', async (t) => {
  const fake = await setup(t, 0);
  const sink = new CloudMonitoringSink({
    client: fake.client(),
    projectId: fake.projectId,
    resource: detectResource({ projectId: fake.projectId, replicaId: 'timer' }, {}),
    logger: silentLogger,
    intervalMs: 20,
    minPointSpacingMs: 0,
  });
  sink.startTimer();
  while (sink.stats().pointsWritten < 2) await new Promise((r) => setTimeout(r, 10));
  await sink.close();
  const written = sink.stats().pointsWritten;
  await new Promise((r) => setTimeout(r, 60));
  t.is(sink.stats().pointsWritten, written, 'no points after close');
  const ends = fake.find(METRICS.pairsProcessed)[0]!.points.map((p) => p.endMs);
  t.deepEqual(ends, [...ends].sort((x, y) => x - y), 'in order');
});

test('a failed write is counted and logged, never thrown; the next point carries the totals', async (t) => {
  const fake = await setup(t);
  const clock = { now: START.getTime() + 60_000 };
  const { sink } = makeSink(fake, 'r1', clock);
  const writes: boolean[] = [];
  sink.observeWrites((ms, ok) => void writes.push(ok && ms >= 0));
  sink.record(batch({ results: [result('k1')] }), { tasks: new Set(['k1']), anomalies: new Set() });

  fake.fail('CreateTimeSeries', 1);
  await t.notThrowsAsync(sink.flush());
  t.is(sink.stats().writeFailures, 1);
  t.regex(sink.stats().lastError!, /Injected/);
  t.is(fake.find(METRICS.pairsProcessed).length, 0);

  clock.now += 60_000;
  await sink.flush();
  t.deepEqual(int(fake, METRICS.pairsProcessed), [1]);
  t.deepEqual(writes, [false, true], 'each point’s write is timed, failed or not');
});

test('descriptor creation failing does not fail the sink and is retried before the next point', async (t) => {
  const fake = await setup(t);
  const clock = { now: START.getTime() + 60_000 };
  const { sink } = makeSink(fake, 'r1', clock);
  fake.fail('CreateMetricDescriptor', 1, 7 /* PERMISSION_DENIED */);
  t.false(await sink.ensureDescriptors());
  await t.notThrowsAsync(sink.flush());
  t.is(sink.stats().pointsWritten, 1);
  t.is(fake.descriptors.size, 6);
});

test('an unreachable Monitoring endpoint only counts failures', async (t) => {
  const fake = await startFakeMonitoring();
  const client = fake.client();
  await fake.close();
  const sink = new CloudMonitoringSink({
    client,
    projectId: fake.projectId,
    resource: detectResource({ projectId: fake.projectId, replicaId: 'r' }, {}),
    logger: silentLogger,
    intervalMs: 60_000,
  });
  await t.notThrowsAsync(sink.close());
  t.is(sink.stats().pointsWritten, 0);
  t.true(sink.stats().writeFailures >= 1);
  await client.close();
});
