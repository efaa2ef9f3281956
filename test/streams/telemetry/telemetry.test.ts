import test from 'ava';
import { Writable } from 'node:stream';
import { Subject } from 'rxjs';
import { createLogger } from '../../../src/log.js';
import { TransientError } from '../../../src/domain/errors.js';
import type { Delivery, TaskSource } from '../../../src/domain/source.js';
import type { ResultSink, SinkBatch } from '../../../src/domain/sink.js';
import { Telemetry, LOG_LABELS } from '../../../streams/telemetry/telemetry.js';
import { instrumentSink, instrumentSource } from '../../../streams/telemetry/instrument.js';
import { encodeTelemetrySeries, telemetryDescriptors } from '../../../streams/telemetry/monitoring.js';
import { TELEMETRY_METRICS, prometheusName } from '../../../streams/telemetry/metrics.js';
import { anomaly, failure, result } from '../../support/gcp-fixtures.js';

function capture() {
  const lines: Record<string, any>[] = [];
  const logger = createLogger('info', new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }));
  return { lines, telemetry: new Telemetry(logger, () => Date.parse('2026-12-01T00:00:00Z')) };
}

/** A source whose deliveries record what was done to them. */
function recordingSource() {
  const subject = new Subject<Delivery>();
  const settled: string[] = [];
  const source: TaskSource = {
    name: 'local',
    maxDeliveryAttempts: 5,
    deliveries: () => subject.asObservable(),
    stop: async () => subject.complete(),
    close: async () => undefined,
    isReady: () => true,
  };
  const delivery = (id: string, attempt = 1): Delivery => ({
    id,
    data: Buffer.from('{}'),
    attributes: { task_id: `task-${id}` },
    publishedAt: new Date(),
    receivedAt: Date.now(),
    deliveryAttempt: attempt,
    ack: () => void settled.push(`ack ${id}`),
    nack: () => void settled.push(`nack ${id}`),
    deadLetter: async (reason) => void settled.push(`dead ${id} ${reason.code}`),
  });
  return { subject, source, settled, delivery };
}

test('deliveries: received, retried, acked, nacked and held count each delivery once, passing every call through', (t) => {
  const { telemetry } = capture();
  const { subject, source, settled, delivery } = recordingSource();
  const seen: Delivery[] = [];
  instrumentSource(source, telemetry).deliveries().subscribe((d) => seen.push(d));
  subject.next(delivery('a'));
  subject.next(delivery('b', 3));
  subject.next(delivery('c'));
  t.like(telemetry.snapshot().deliveries, { received: 3, retries: 1, held: 3 });

  seen[0]!.ack();
  seen[1]!.nack();
  t.like(telemetry.snapshot().deliveries, { acked: 1, nacked: 1, held: 1 });
  seen[1]!.nack(); // a second settlement call is passed on but holds nothing back twice
  t.like(telemetry.snapshot().deliveries, { nacked: 2, held: 1 });
  t.deepEqual(settled, ['ack a', 'nack b', 'nack b']);
  t.is(seen[2]!.attributes.task_id, 'task-c');
});

test('a dead letter counts by error code once it is stored, and a failing one counts nothing', async (t) => {
  const { telemetry, lines } = capture();
  const { subject, source, delivery } = recordingSource();
  const seen: Delivery[] = [];
  instrumentSource(source, telemetry).deliveries().subscribe((d) => seen.push(d));
  subject.next(delivery('a'));
  subject.next({ ...delivery('b'), deadLetter: async () => Promise.reject(new Error('DLQ down')) });
  await seen[0]!.deadLetter({ code: 'malformed_version', message: 'bad', drawingId: 'D-1' });
  await t.throwsAsync(seen[1]!.deadLetter({ code: 'malformed_task', message: 'bad', drawingId: null }), { message: 'DLQ down' });
  t.deepEqual(telemetry.snapshot().deliveries.deadLettered, { malformed_version: 1 });
  t.deepEqual(lines.map((l) => [l.severity, l[LOG_LABELS]]), [['WARNING', { event: 'dead_letter', error_code: 'malformed_version' }]]);
  t.is(lines[0]!.drawingId, 'D-1');
});

test('sink writes are timed and failures counted per sink; errors and receipts pass through; exhausted failures count as dead letters', async (t) => {
  const { telemetry, lines } = capture();
  let fail = true;
  const inner = {
    name: 'local',
    extra: () => 'kept',
    async writeBatch(batch: SinkBatch) {
      if (fail) throw new TransientError('sink_unavailable', 'store down');
      return { fresh: new Set(batch.failures.map((f) => f.taskKey)) };
    },
  } as unknown as ResultSink & { extra(): string };
  let now = 0;
  const sink = instrumentSink(inner, telemetry, () => (now += 7));
  const batch: SinkBatch = {
    results: [result('r1')],
    failures: [failure('f1', { kind: 'failed', code: 'storage_unavailable' }), failure('f2', { kind: 'malformed', code: 'malformed_task' })],
    anomalies: [anomaly('an-1', { type: 'spike_detected', severity: 'high' })],
  };
  await t.throwsAsync(sink.writeBatch(batch), { instanceOf: TransientError });
  fail = false;
  const receipt = await sink.writeBatch(batch);
  t.deepEqual([...receipt.fresh], ['f1', 'f2']);
  t.is(sink.extra(), 'kept', 'other members of a composite sink are kept');
  t.is(telemetry.snapshot().results.pairs, 0, 'a result the store already had (not fresh) is not counted');

  const local = telemetry.snapshot().sinks.local!;
  t.is(local.writes, 2);
  t.is(local.failures, 1);
  t.is(local.latencyMs.count, 2);
  t.is(local.latencyMs.mean, 7);
  t.deepEqual(telemetry.snapshot().deliveries.deadLettered, { storage_unavailable: 1 }, 'malformed ones are counted when the source dead-letters them');
  const anomalyLine = lines.find((l) => l[LOG_LABELS]?.event === 'anomaly')!;
  t.is(anomalyLine.severity, 'ERROR');
  t.deepEqual(anomalyLine[LOG_LABELS], { event: 'anomaly', anomaly_type: 'spike_detected', severity: 'high' });
});

test('setBreakerState: each change logged once with labels, repeats ignored, a bad state refused', (t) => {
  const { telemetry, lines } = capture();
  telemetry.setBreakerState('bigquery', 'closed', 'start');
  t.is(lines.length, 0, 'closed is where a breaker starts');
  telemetry.setBreakerState('bigquery', 'open', 'quota');
  telemetry.setBreakerState('bigquery', 'open', 'quota again');
  telemetry.setBreakerState('bigquery', 'closed', 'write succeeded');
  t.deepEqual(lines.map((l) => [l.severity, l[LOG_LABELS].event, l.reason]), [
    ['ERROR', 'breaker_open', 'quota'],
    ['INFO', 'breaker_closed', 'write succeeded'],
  ]);
  t.like(telemetry.snapshot().sinks.bigquery!.breaker, { state: 'closed', reason: 'write succeeded', since: '2026-12-01T00:00:00.000Z' });
  t.throws(() => telemetry.setBreakerState('bigquery', 'broken' as never, 'x'), { instanceOf: RangeError, message: /closed, half-open or open/ });
});

test('breakerChanged: the breaker is reported under the durable sink whose write failed last, never a telemetry sink', (t) => {
  const { telemetry, lines } = capture();
  const states = () => Object.fromEntries(Object.entries(telemetry.snapshot().sinks).map(([n, s]) => [n, s.breaker.state]));
  telemetry.sinkWrite('cloud_storage', 3, true);
  telemetry.breakerChanged('open', 'no failure seen yet', 'gcp');
  t.like(states(), { gcp: 'open', cloud_storage: 'closed' }, 'before any failure, the fallback');

  telemetry.sinkWrite('bigquery', 5, false);
  telemetry.sinkWrite('cloud_monitoring', 5, false, false);
  telemetry.breakerChanged('open', '503 from BigQuery', 'gcp');
  t.deepEqual(states(), { cloud_storage: 'closed', gcp: 'closed', bigquery: 'open', cloud_monitoring: 'closed' });

  telemetry.sinkWrite('cloud_storage', 5, false);
  telemetry.breakerChanged('half-open', 'probe failed at Cloud Storage', 'gcp');
  t.like(states(), { bigquery: 'closed', cloud_storage: 'half-open' }, 'the breaker follows the store that fails now');

  telemetry.breakerChanged('closed', 'write succeeded', 'gcp');
  t.true(Object.values(states()).every((s) => s === 'closed'));
  t.deepEqual(
    lines.filter((l) => l[LOG_LABELS]?.event?.startsWith('breaker_')).map((l) => `${l[LOG_LABELS].event} ${l.sink}`),
    ['breaker_open gcp', 'breaker_closed gcp', 'breaker_open bigquery', 'breaker_closed bigquery', 'breaker_half_open cloud_storage', 'breaker_closed cloud_storage'],
  );
});

test('a composite sink is timed per part under each part\'s label, and only durable parts are blamed', async (t) => {
  const { telemetry } = capture();
  const listeners: ((part: string, ms: number, ok: boolean, role: 'records' | 'freshness' | 'telemetry') => void)[] = [];
  const inner = {
    name: 'gcp',
    observeWrites: (l: (typeof listeners)[number]) => listeners.push(l),
    async writeBatch() {
      for (const l of listeners) l('bigquery', 12, true, 'records');
      for (const l of listeners) l('cloud-storage', 30, true, 'freshness');
      for (const l of listeners) l('cloud-monitoring', 4, false, 'telemetry');
      return { fresh: new Set<string>() };
    },
  } as unknown as ResultSink;
  await instrumentSink(inner, telemetry).writeBatch({ results: [], failures: [], anomalies: [] });
  const sinks = telemetry.snapshot().sinks;
  t.deepEqual(Object.keys(sinks).sort(), ['bigquery', 'cloud_monitoring', 'cloud_storage']);
  t.is(sinks.cloud_storage!.latencyMs.mean, 30);
  t.is(sinks.cloud_monitoring!.failures, 1);
  telemetry.breakerChanged('open', 'x', 'gcp');
  t.is(telemetry.snapshot().sinks.gcp?.breaker.state, 'open', 'a Monitoring failure is never the breaker\'s cause');
});

test('samplers: a failing async gauge is unknown and left out of Monitoring, not written as 0', async (t) => {
  const { telemetry } = capture();
  telemetry.useSamplers({ backlog: async () => Promise.reject(new Error('queue closed')), oldestTaskAgeMs: async () => 4_500, ready: async () => true, inFlight: () => 2 });
  await telemetry.sample();
  const s = telemetry.snapshot();
  t.deepEqual(s.queue, { backlog: null, oldestTaskAgeSeconds: 4.5 });
  t.is(s.deliveries.inFlight, 2);
  const resource = { type: 'generic_task' as const, labels: { project_id: 'p', location: 'global', namespace: 'buildtrace', job: 'buildtrace', task_id: 'r' } };
  const types = encodeTelemetrySeries(s, { resource, start: new Date(0), end: new Date(60_000) }).map((x) => x.metric!.type!);
  t.false(types.includes('custom.googleapis.com/buildtrace/queue_backlog'));
  t.true(types.includes('custom.googleapis.com/buildtrace/queue_oldest_task_age'));
});

test('the metric table: one descriptor per metric, low-cardinality labels only, Prometheus names as Prometheus names them', (t) => {
  const descriptors = telemetryDescriptors();
  t.is(descriptors.length, Object.keys(TELEMETRY_METRICS).length);
  const labels = new Set(descriptors.flatMap((d) => (d.labels ?? []).map((l) => l.key)));
  t.deepEqual([...labels].sort(), ['error_code', 'sink']);
  t.is(prometheusName(TELEMETRY_METRICS.deliveriesReceived), 'buildtrace_deliveries_received_total');
  t.is(prometheusName(TELEMETRY_METRICS.held), 'buildtrace_deliveries_held');
  t.is(prometheusName(TELEMETRY_METRICS.sinkWriteLatency), 'buildtrace_sink_write_latency_milliseconds');
});
