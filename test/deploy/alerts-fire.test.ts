/**
 * Each alert can fire, shown on the whole service: the built process (`dist/src/main.js`) runs with
 * SINKS=gcp on the local BigQuery, Cloud Storage and Monitoring servers and SOURCE=local, real
 * inputs drive it into each alerting condition, and each policy's own condition (filter,
 * alignment, reduction, comparison and threshold, from deploy/monitoring/alerts) is evaluated over
 * the series the service wrote to the Monitoring server (its createTimeSeries requests): below the
 * threshold on a healthy run, across it in the condition.
 *
 * One service run is shared, in phases: healthy; then heavy pairs, a malformed task and a change
 * spike; then a BigQuery outage (the fault proxy answers 503) that opens the breaker and stalls the
 * stream with tasks waiting; then recovery. A test cannot wait for a policy's `duration` (5 to 10
 * minutes); where a window is longer than the run (the stall's, 5 minutes at least) it is scaled to
 * the minute the stream was held, and the comment there says so.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { loadConfig } from '../../src/config.js';
import { loadMonitoringFiles, monitoringVariables } from '../../src/setup/monitoring-files.js';
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import type { TelemetrySnapshot } from '../../streams/telemetry/telemetry.js';
import { startGcpFakes, type GcpFakes } from '../support/fault-gcp.js';
import { crosses, evaluate } from '../support/monitoring-filter.js';
import { getJson, postJson, startService, tempDir, waitFor, type ServiceProcess } from '../support/service-process.js';

const METRIC = 'custom.googleapis.com/buildtrace/';
const INTERVAL_SECONDS = 10;
/** Thresholds the run can reach in minutes: the smallest each ALERT_* variable accepts. */
const ALERTS_ENV = { ALERT_BACKLOG_AGE_SECONDS: '60', ALERT_BREAKER_OPEN_MINUTES: '1' };

type Json = Record<string, any>;
const loadPolicies = (env: Record<string, string>) =>
  new Map([...loadMonitoringFiles(monitoringVariables(loadConfig(env))).policies].map(([n, m]) => [n, m.toJSON() as Json]));
let policies = loadPolicies(ALERTS_ENV);

let gcp: GcpFakes;
let service: ServiceProcess;
let dataDir: string;
/** When the outage began and the breaker opened (ms since epoch). */
const outage = { began: 0, opened: 0 };

const door = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });
/** A pair of one drawing with `moved` of its objects moved east by 2. */
const pair = (drawingId: string, objects: number, moved: number) => ({
  drawing_id: drawingId,
  version_a: Array.from({ length: objects }, (_, i) => door(`D${i}`, i * 10)),
  version_b: Array.from({ length: objects }, (_, i) => door(`D${i}`, i * 10 + (i < moved ? 2 : 0))),
});

test.before(async () => {
  gcp = await startGcpFakes();
  dataDir = tempDir('buildtrace-alerts-');
  service = await startService(
    {
      ...gcp.env,
      SOURCE: 'local',
      DATA_DIR: dataDir,
      MONITORING_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
      CONCURRENCY: '1',
      MAX_BODY_BYTES: String(64 * 2 ** 20),
      SINK_PROBE_INITIAL_MS: '200',
      SINK_PROBE_MAX_MS: '1000',
      REPLICA_ID: 'alerts-1',
    },
    { timeoutMs: 60_000 },
  );
});

test.after.always(async () => {
  gcp?.proxy.recover();
  await service?.kill('SIGKILL');
  await gcp?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** The newest point's end time the service wrote for `name`, or 0. */
const lastPointEnd = (name: string) => Math.max(0, ...gcp.monitoring.find(`${METRIC}${name}`).flatMap((s) => s.points.map((p) => p.endMs)));

/** Waits for the service's next Monitoring point ending after `at` (product and telemetry series alike). */
async function pointAfter(at: number, what: string): Promise<number> {
  return waitFor(async () => (lastPointEnd('pairs_processed') > at && lastPointEnd('replica_ready') > at ? lastPointEnd('replica_ready') : undefined), 5 * INTERVAL_SECONDS * 1000, what);
}

/**
 * Condition `i` of `policy` evaluated at the service's newest point: its value per group and
 * whether any crosses the threshold. `override` swaps the window (a run shorter than the policy's)
 * or the filter (a local series in place of one only Pub/Sub writes), never the rest.
 */
function condition(policy: string, i = 0, override: { alignmentPeriod?: string; filter?: string } = {}): { values: Record<string, number>; crossed: boolean } {
  const c = policies.get(policy)!.conditions[i].conditionThreshold;
  const aggregation = { ...c.aggregations[0], alignmentPeriod: override.alignmentPeriod ?? `${c.aggregations[0].alignmentPeriod.seconds}s` };
  const values = Object.fromEntries(evaluate(override.filter ?? c.filter, aggregation, gcp.monitoring.series.values(), lastPointEnd('replica_ready')));
  return { values, crossed: Object.values(values).some((v) => crosses(c.comparison, v, c.thresholdValue ?? 0)) };
}

const pipeline = async (): Promise<TelemetrySnapshot> => (await getJson(`${service.url}/metrics`)).body.pipeline;

async function processed(pairs: unknown[], what: string): Promise<void> {
  const job = await postJson(`${service.url}/process`, { version_pairs: pairs });
  if (job.status !== 202) throw new Error(`POST /process answered ${job.status}: ${JSON.stringify(job.body)}`);
  await waitFor(async () => {
    const status = (await getJson(`${service.url}/jobs/${job.body.job_id}`)).body;
    return status.pending === 0 ? status : undefined;
  }, 120_000, what);
}

/** Publishes task bodies into the service's local queue, as another producer on the machine would. */
async function enqueue(bodies: { data: string; taskId: string }[]): Promise<void> {
  const queue = openLocalQueue({ dataDir, maxOutstanding: 1, leaseSeconds: 60 });
  try {
    await queue.publish(bodies.map((b) => ({ data: Buffer.from(b.data), attributes: { task_id: b.taskId } })));
  } finally {
    await queue.close();
  }
}

/** The stall's window here: the policy's is ALERT_STALL_MINUTES (5 at least), longer than this run. */
const STALL_WINDOW = '50s';

test.serial('a healthy run crosses no threshold', async (t) => {
  // given small pairs flowing, three of them the history of drawing SPIKE-1 (one change each)
  await processed([...Array.from({ length: 3 }, () => pair('SPIKE-1', 5, 1)), ...Array.from({ length: 20 }, (_, i) => pair(`T-${i}`, 10, 1))], 'the healthy job');
  await pointAfter(Date.now(), 'a point after the healthy job');

  const latency = condition('latency-p99');
  t.log(`healthy p99 processing latency ${Object.values(latency.values)[0]?.toFixed(0)} ms`);
  t.false(latency.crossed, `p99 under the default ${policies.get('latency-p99')!.conditions[0].conditionThreshold.thresholdValue} ms`);
  t.false(condition('dead-letters').crossed);
  t.false(condition('change-spike').crossed);
  t.false(condition('breaker-open').crossed);
  t.deepEqual(condition('readiness').values, { '': 1 });
  t.false(condition('readiness').crossed);
  t.false(condition('backlog-age', 1).crossed);
  t.false(condition('stalled', 0, { alignmentPeriod: STALL_WINDOW }).crossed, 'pairs are flowing');

  // the threshold the next phase must cross: four times what this healthy run showed (at least 200 ms)
  const threshold = Math.max(200, Math.ceil(4 * (Object.values(latency.values)[0] ?? 0)));
  policies = loadPolicies({ ...ALERTS_ENV, ALERT_LATENCY_P99_MS: String(threshold) });
  t.false(condition('latency-p99').crossed, `the healthy run stays under ALERT_LATENCY_P99_MS=${threshold}`);
});

test.serial('heavy pairs, a malformed task and a change spike cross the latency, dead-letter and spike policies', async (t) => {
  // when: pairs of 20,000 objects queue behind each other, a task that is not JSON arrives, and
  // SPIKE-1 changes 30 objects after three results of one change
  await enqueue([{ data: '{"drawing_id": "broken", "version_a": [', taskId: 'malformed-1' }]);
  await processed([pair('SPIKE-1', 40, 30), ...Array.from({ length: 5 }, (_, i) => pair(`HEAVY-${i}`, 20_000, 0))], 'the heavy job');
  await waitFor(async () => ((await pipeline()).deliveries.deadLettered.malformed_task ? true : undefined), 30_000, 'the dead letter');
  await pointAfter(Date.now(), 'a point after the heavy job');

  const latency = condition('latency-p99');
  const threshold = policies.get('latency-p99')!.conditions[0].conditionThreshold.thresholdValue;
  t.log(`p99 processing latency with heavy pairs ${Object.values(latency.values)[0]?.toFixed(0)} ms, threshold ${threshold} ms`);
  t.true(latency.crossed, 'p99 across ALERT_LATENCY_P99_MS');

  const dead = condition('dead-letters');
  t.true(dead.crossed);
  t.deepEqual(dead.values, { malformed_task: 1 });
  t.true(service.output().split('\n').some((l) => l.includes('"event":"dead_letter"') && l.includes('"severity":"WARNING"')), 'a labelled WARNING line');

  const spike = condition('change-spike');
  t.true(spike.crossed);
  t.deepEqual(spike.values, { '': 1 });
  t.false(condition('breaker-open').crossed, 'nothing else fires');
});

test.serial('sink write latency and failures are split per sink in /metrics, /metrics/prometheus and Cloud Monitoring', async (t) => {
  const snap = await pipeline();
  t.deepEqual(Object.keys(snap.sinks).sort(), ['bigquery', 'cloud_monitoring', 'cloud_storage']);
  for (const s of ['bigquery', 'cloud_storage']) {
    t.true(snap.sinks[s]!.writes > 0 && snap.sinks[s]!.latencyMs.count === snap.sinks[s]!.writes, s);
    t.is(snap.sinks[s]!.failures, 0);
  }
  t.true(snap.sinks.cloud_monitoring!.writes >= 1, 'each point written is one Monitoring write');

  const text = await (await fetch(`${service.url}/metrics/prometheus`)).text();
  const failures = parsePrometheusTextFormat(text).find((f) => f.name === 'buildtrace_sink_write_failures_total')!;
  t.deepEqual(failures.metrics.map((m) => m.labels?.sink).sort(), ['bigquery', 'cloud_monitoring', 'cloud_storage']);
  // (the text parser drops a histogram's labels, so its per-sink counts are read off their lines)
  const counts = Object.fromEntries([...text.matchAll(/^buildtrace_sink_write_latency_milliseconds_count\{sink="([a-z_]+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
  t.deepEqual(Object.keys(counts).sort(), ['bigquery', 'cloud_monitoring', 'cloud_storage']);
  t.is(counts.bigquery, snap.sinks.bigquery!.writes);
  t.is(counts.cloud_storage, snap.sinks.cloud_storage!.writes);

  await pointAfter(Date.now(), 'a point after the reads');
  const written = gcp.monitoring.find(`${METRIC}sink_write_latency`);
  t.deepEqual(written.map((s) => s.metric.labels.sink).sort(), ['bigquery', 'cloud_monitoring', 'cloud_storage']);
  for (const s of written) t.true(Number(s.points.at(-1)!.value.distributionValue.count) > 0, s.metric.labels.sink);
});

test.serial('a BigQuery outage opens the breaker on bigquery and stalls the stream: breaker, stall, readiness and backlog-age cross', async (t) => {
  // when BigQuery answers 503 to everything while tasks wait in the queue
  gcp.proxy.outage(503);
  outage.began = Date.now();
  await enqueue(Array.from({ length: 5 }, (_, i) => ({ data: JSON.stringify(pair(`OUT-${i}`, 5, 1)), taskId: `outage-${i}` })));
  await waitFor(async () => ((await pipeline()).sinks.bigquery?.breaker.state === 'open' ? true : undefined), 30_000, 'the breaker to open');
  outage.opened = Date.now();
  // a point whose last minute the breaker was open throughout, and whose oldest task is over a minute old
  await waitFor(
    async () => {
      const age = gcp.monitoring.find(`${METRIC}queue_oldest_task_age`)[0]?.points.at(-1);
      return lastPointEnd('replica_ready') >= outage.opened + 60_000 && Number(age?.value.doubleValue) > 60 ? true : undefined;
    },
    100_000,
    'a minute of open breaker in Monitoring',
  );
  t.true(gcp.proxy.stats.refused > 0);

  const breaker = condition('breaker-open');
  t.log(`breaker by sink ${JSON.stringify(breaker.values)}`);
  t.true(breaker.crossed);
  // open (2) for the whole window, or half-open (1) at a sample taken while a probe write was tried
  t.true(breaker.values.bigquery! >= 1, 'not closed on bigquery for the whole window');
  t.is(breaker.values.cloud_storage, 0, 'Cloud Storage is not blamed');
  t.true(service.output().split('\n').some((l) => l.includes('"event":"breaker_open","sink":"bigquery"')), 'an ERROR line names the sink');

  // the stall: the policy's rate of pairs_processed, over the held minute (not ALERT_STALL_MINUTES)
  const stalled = condition('stalled', 0, { alignmentPeriod: STALL_WINDOW });
  t.true(stalled.crossed);
  t.deepEqual(stalled.values, { '': 0 });
  // and its other half, "the backlog is not empty": Pub/Sub writes that series itself; with the
  // local queue the same aligner, reducer and threshold read the service's queue_backlog
  const backlog = condition('stalled', 1, { filter: `metric.type = "${METRIC}queue_backlog"`, alignmentPeriod: STALL_WINDOW });
  t.true(backlog.crossed);
  t.deepEqual(backlog.values, { '': 5 });

  t.true(condition('readiness').crossed, 'no replica ready for the whole window');
  t.true(condition('backlog-age', 1).crossed, 'the oldest task is older than ALERT_BACKLOG_AGE_SECONDS');
});

test.serial('after recovery the backlog drains and the breaker, stall and readiness conditions clear', async (t) => {
  gcp.proxy.recover();
  await waitFor(async () => {
    const snap = await pipeline();
    return snap.queue.backlog === 0 && snap.sinks.bigquery?.breaker.state === 'closed' ? true : undefined;
  }, 60_000, 'the backlog to drain');
  await pointAfter(Date.now(), 'a point after recovery');
  t.false(condition('breaker-open').crossed);
  t.false(condition('stalled', 0, { alignmentPeriod: STALL_WINDOW }).crossed);
  t.false(condition('readiness').crossed);
  t.false(condition('dead-letters').crossed, 'the dead letter was more than a minute ago');
  t.log(`outage ${((Date.now() - outage.began) / 1000).toFixed(0)} s to recovery point; BigQuery refused ${gcp.proxy.stats.refused} requests`);
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null });
});
