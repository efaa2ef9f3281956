/**
 * Each alert can fire: the telemetry and product metrics are driven into the alerting condition,
 * written by the Cloud Monitoring sink to the local Monitoring server, and the policy's own
 * condition (filter, alignment, reduction, comparison, from deploy/monitoring/alerts) is evaluated
 * over the stored series before and after: below its threshold first, across it after.
 */
import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { firstValueFrom, take } from 'rxjs';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import { loadConfig } from '../../src/config.js';
import { detectResource } from '../../src/infra/monitoring/resource.js';
import { CloudMonitoringSink } from '../../sinks/cloud-monitoring/sink.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { Telemetry, LOG_LABELS } from '../../streams/telemetry/telemetry.js';
import { telemetrySeriesSource } from '../../streams/telemetry/monitoring.js';
import { instrumentSource } from '../../streams/telemetry/instrument.js';
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import { loadMonitoringFiles, monitoringVariables } from '../../src/setup/monitoring-files.js';
import { startFakeMonitoring, type FakeMonitoring } from '../support/fake-monitoring.js';
import { crosses, evaluate } from '../support/monitoring-filter.js';
import { anomaly, result } from '../support/gcp-fixtures.js';

const START = Date.parse('2026-12-01T10:00:00.000Z');
const MINUTE = 60_000;
const variables = monitoringVariables(loadConfig({}));
const policies = new Map([...loadMonitoringFiles(variables).policies].map(([n, m]) => [n, m.toJSON() as Record<string, any>]));

interface Rig {
  readonly fake: FakeMonitoring;
  readonly telemetry: Telemetry;
  readonly monitoring: CloudMonitoringSink;
  readonly clock: { now: number };
  readonly lines: Record<string, any>[];
  /** Advances the clock and writes one point. */
  point(afterMs?: number): Promise<void>;
  /** The policy's condition i at the current time: its value per group and whether it crosses. */
  condition(policy: string, i?: number): { values: number[]; crossed: boolean };
}

async function rig(t: ExecutionContext): Promise<Rig> {
  const fake = await startFakeMonitoring();
  t.teardown(() => fake.close());
  const clock = { now: START };
  const lines: Record<string, any>[] = [];
  const logger: Logger = createLogger('info', new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
  const telemetry = new Telemetry(logger, () => clock.now);
  const monitoring = new CloudMonitoringSink({
    client: fake.client(),
    projectId: fake.projectId,
    resource: detectResource({ projectId: fake.projectId, replicaId: 'replica-1' }, {}),
    logger: silentLogger,
    intervalMs: MINUTE,
    minPointSpacingMs: 0,
    startTime: new Date(START - MINUTE),
    now: () => clock.now,
    sleep: async (ms) => void (clock.now += ms),
  });
  monitoring.attach(telemetrySeriesSource(telemetry));
  return {
    fake,
    telemetry,
    monitoring,
    clock,
    lines,
    async point(afterMs = MINUTE) {
      clock.now += afterMs;
      await monitoring.flush();
      t.is(monitoring.stats().writeFailures, 0, monitoring.stats().lastError ?? '');
    },
    condition(policy, i = 0) {
      const c = policies.get(policy)!.conditions[i].conditionThreshold;
      const aggregation = { ...c.aggregations[0], alignmentPeriod: `${c.aggregations[0].alignmentPeriod.seconds}s` };
      const values = [...evaluate(c.filter, aggregation, fake.series.values(), clock.now).values()];
      return { values, crossed: values.some((v) => crosses(c.comparison, v, c.thresholdValue ?? 0)) };
    },
  };
}

const batch = (b: Partial<SinkBatch>): SinkBatch => ({ results: [], failures: [], anomalies: [], ...b });
const fresh = (b: SinkBatch) => ({ tasks: new Set(b.results.map((r) => r.taskKey)), anomalies: new Set(b.anomalies.map((a) => a.id)) });

test('latency: p99 processing latency across replicas goes over ALERT_LATENCY_P99_MS', async (t) => {
  const r = await rig(t);
  const fast = batch({ results: Array.from({ length: 50 }, (_, i) => result(`fast-${i}`, { processingTimeMs: 40 })) });
  r.monitoring.record(fast, fresh(fast));
  await r.point();
  await r.point();
  const before = r.condition('latency-p99');
  t.false(before.crossed);

  // when: a minute of slow pairs (twice the default 10 s threshold)
  const slow = batch({ results: Array.from({ length: 50 }, (_, i) => result(`slow-${i}`, { processingTimeMs: 20_000 })) });
  r.monitoring.record(slow, fresh(slow));
  await r.point();
  const after = r.condition('latency-p99');
  t.true(after.crossed, `p99 ${after.values} ms over ${variables.ALERT_LATENCY_P99_MS}`);
  t.true(after.values[0]! > 10_000 && after.values[0]! < 30_000);
});

test('a dead letter: a malformed task dead-lettered by the local queue counts by error_code and logs a labelled line', async (t) => {
  const r = await rig(t);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'bt-alerts-'));
  const queue = openLocalQueue({ dataDir, maxOutstanding: 10, leaseSeconds: 60, pollIntervalMs: 20 });
  t.teardown(async () => {
    await queue.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await r.point();
  t.false(r.condition('dead-letters').crossed);

  await queue.publish([{ data: Buffer.from('not json'), attributes: {} }]);
  const delivery = await firstValueFrom(instrumentSource(queue, r.telemetry).deliveries().pipe(take(1)));
  await delivery.deadLetter({ code: 'malformed_task', message: 'not JSON', drawingId: null });
  delivery.ack();
  await r.point();

  const after = r.condition('dead-letters');
  t.true(after.crossed);
  t.deepEqual(after.values, [1]);
  t.deepEqual(r.fake.find('custom.googleapis.com/buildtrace/deliveries_dead_lettered').map((s) => s.metric.labels), [{ error_code: 'malformed_task' }]);
  const line = r.lines.find((l) => l[LOG_LABELS]?.event === 'dead_letter')!;
  t.is(line.severity, 'WARNING');
  t.deepEqual(line[LOG_LABELS], { event: 'dead_letter', error_code: 'malformed_task' });
  t.deepEqual(r.telemetry.snapshot().deliveries, { received: 1, acked: 1, nacked: 0, retries: 0, inFlight: 0, held: 0, deadLettered: { malformed_task: 1 } });
});

test('a stalled stream: no pair for ALERT_STALL_MINUTES while the subscription holds messages', async (t) => {
  const r = await rig(t);
  const stallMs = Number(variables.ALERT_STALL_SECONDS) * 1000;
  let n = 0;
  const some = () => batch({ results: [result(`pair-${n++}`)] });
  for (let m = 0; m < 5; m++) {
    const b = some();
    r.monitoring.record(b, fresh(b));
    await r.point();
  }
  // Pub/Sub writes the backlog itself: stored as the service would find it.
  r.fake.series.set('pubsub-backlog', {
    metric: { type: 'pubsub.googleapis.com/subscription/num_undelivered_messages', labels: {} },
    resource: { type: 'pubsub_subscription', labels: { project_id: r.fake.projectId, subscription_id: String(variables.PUBSUB_SUBSCRIPTION) } },
    metricKind: 'GAUGE',
    valueType: 'INT64',
    points: Array.from({ length: 40 }, (_, i) => ({ startMs: START + i * MINUTE, endMs: START + i * MINUTE, value: { int64Value: '25' } })),
  });
  t.false(r.condition('stalled', 0).crossed, 'pairs are flowing');

  // when: nothing is processed for the whole stall window, points still written every minute
  for (let m = 0; m < stallMs / MINUTE; m++) await r.point();
  const stalled = r.condition('stalled', 0);
  t.true(stalled.crossed, `rate ${stalled.values}`);
  t.deepEqual(stalled.values, [0]);
  t.true(r.condition('stalled', 1).crossed, 'the backlog is not empty');
  t.is(policies.get('stalled')!.combiner, 'AND');
});

test('a spike: a spike_detected anomaly crosses the spike policy', async (t) => {
  const r = await rig(t);
  const normal = batch({ anomalies: [anomaly('delay-1', { type: 'delayed_upload' })] });
  r.monitoring.record(normal, fresh(normal));
  await r.point();
  t.false(r.condition('change-spike').crossed, 'other anomaly types do not count');

  const spike = batch({ anomalies: [anomaly('spike-1', { type: 'spike_detected', drawingId: 'D-9' })] });
  r.monitoring.record(spike, fresh(spike));
  await r.point();
  t.true(r.condition('change-spike').crossed);
  t.deepEqual(r.condition('change-spike').values, [1]);
});

test('an open breaker: setBreakerState opens it, the series stays over the threshold for the whole duration, then closes', async (t) => {
  const r = await rig(t);
  r.telemetry.setBreakerState('bigquery', 'closed', 'start');
  await r.point();
  t.false(r.condition('breaker-open').crossed);

  r.telemetry.setBreakerState('bigquery', 'open', '5 failures in a row: quotaExceeded');
  const durationMin = Number(variables.ALERT_BREAKER_OPEN_SECONDS) / 60;
  const windows: boolean[] = [];
  for (let m = 0; m <= durationMin; m++) {
    await r.point();
    windows.push(r.condition('breaker-open').crossed);
  }
  t.true(windows.every(Boolean), 'every alignment window of the duration is over the threshold');
  t.deepEqual(r.condition('breaker-open').values, [2]);

  r.telemetry.setBreakerState('bigquery', 'half-open', 'probe');
  await r.point();
  t.false(r.condition('breaker-open').crossed, 'half-open is not open');

  const events = r.lines.filter((l) => l[LOG_LABELS]?.sink === 'bigquery').map((l) => [l.severity, l[LOG_LABELS].event]);
  t.deepEqual(events, [['ERROR', 'breaker_open'], ['INFO', 'breaker_half_open']]);
  t.throws(() => r.telemetry.setBreakerState('bigquery', 'ajar' as never, 'x'), { instanceOf: RangeError });
});

test('readiness: every replica failing its probe crosses the readiness policy; backlog age crosses its own', async (t) => {
  const r = await rig(t);
  let ready = true;
  let oldestMs = 1_000;
  r.telemetry.useSamplers({ ready: async () => ready, oldestTaskAgeMs: async () => oldestMs, backlog: async () => 3 });
  await r.point();
  t.false(r.condition('readiness').crossed);
  t.false(r.condition('backlog-age', 1).crossed);

  ready = false;
  oldestMs = (Number(variables.ALERT_BACKLOG_AGE_SECONDS) + 60) * 1000;
  await r.point();
  t.true(r.condition('readiness').crossed);
  t.deepEqual(r.condition('readiness').values, [0]);
  t.true(r.condition('backlog-age', 1).crossed);
});
