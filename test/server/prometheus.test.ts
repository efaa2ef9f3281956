/**
 * `GET /metrics` carries the pipeline's telemetry under `pipeline`, and `GET /metrics/prometheus`
 * the same figures in the Prometheus text format, read back with a Prometheus text parser.
 */
import test from 'ava';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { call, postJson, startApi, waitForJob } from '../support/api-fixture.js';
import type { TelemetrySnapshot } from '../../streams/telemetry/telemetry.js';

const A = [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1, height: 2 }];
const B = [{ id: 'D1', type: 'door', x: 3, y: 0, width: 1, height: 2 }];

test('the Prometheus exposition parses and carries the same counts as GET /metrics', async (t) => {
  // given a service that processed two good pairs and dead-lettered one malformed pair
  const api = await startApi(t);
  const accepted = await postJson(`${api.url}/process`, {
    version_pairs: [
      { drawing_id: 'P-1', version_a: A, version_b: B },
      { drawing_id: 'P-2', version_a: A, version_b: B },
      { drawing_id: 'P-BAD', version_a: [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1 }], version_b: B },
    ],
  });
  t.is(accepted.status, 202);
  const job = await waitForJob(api.url, String(accepted.body.job_id));
  t.is(job.failed, 1);
  api.service.telemetry.setBreakerState('local', 'open', 'test');

  // when both views are read
  const json = await call(`${api.url}/metrics`);
  const prom = await fetch(`${api.url}/metrics/prometheus`);
  const text = await prom.text();

  // then both say the same
  const pipeline = json.body.pipeline as TelemetrySnapshot;
  t.is(pipeline.deliveries.received, 3);
  t.is(pipeline.deliveries.acked, 3);
  t.deepEqual(pipeline.deliveries.deadLettered, { malformed_version: 1 });
  t.is(pipeline.deliveries.held, 0);
  t.is(pipeline.queue.backlog, 0);
  t.is(pipeline.ready, true);
  t.true(pipeline.windowRestoreMs! >= 0);
  t.is(json.body.latency_count, 2, 'the seed keys are still there');

  t.is(prom.status, 200);
  t.regex(prom.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const families = new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f]));
  const value = (name: string, labels: Record<string, string> = {}) =>
    Number(families.get(name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value);
  t.is(families.get('buildtrace_deliveries_received_total')?.type, 'COUNTER');
  t.is(value('buildtrace_deliveries_received_total'), pipeline.deliveries.received);
  t.is(value('buildtrace_deliveries_acked_total'), pipeline.deliveries.acked);
  t.is(value('buildtrace_deliveries_nacked_total'), pipeline.deliveries.nacked);
  t.is(value('buildtrace_delivery_retries_total'), pipeline.deliveries.retries);
  t.is(value('buildtrace_deliveries_dead_lettered_total', { error_code: 'malformed_version' }), 1);
  t.is(value('buildtrace_deliveries_held'), 0);
  t.is(value('buildtrace_queue_backlog'), 0);
  t.is(value('buildtrace_replica_ready'), 1);
  t.is(value('buildtrace_breaker_state', { sink: 'local' }), 2);
  t.is(pipeline.results.pairs, 2);
  t.is(value('buildtrace_pairs_processed_total'), json.body.pairs_total);
  t.is(value('buildtrace_changes_total', { kind: 'moved' }), pipeline.results.changes.moved);
  t.is(pipeline.results.changes.moved, 2);
  t.is(Number(families.get('buildtrace_processing_latency_milliseconds')!.metrics[0]!.buckets?.['+Inf']), json.body.latency_count);
  t.is(value('buildtrace_sink_write_failures_total', { sink: 'local' }), pipeline.sinks.local!.failures);
  const latency = families.get('buildtrace_sink_write_latency_milliseconds')!;
  t.is(latency.type, 'HISTOGRAM');
  // This parser keeps a histogram's buckets but not its labels: one sink, one histogram.
  t.is(latency.metrics.length, Object.keys(pipeline.sinks).length);
  const count = Number(latency.metrics[0]!.buckets?.['+Inf']);
  t.is(count, pipeline.sinks.local!.writes);
  t.is(count, pipeline.sinks.local!.latencyMs.count);
  t.true(count >= 1);
});

test('GET /metrics/prometheus refuses other methods with the error shape', async (t) => {
  const api = await startApi(t);
  const res = await postJson(`${api.url}/metrics/prometheus`, {});
  t.is(res.status, 405);
  t.is((res.body.error as { code: string }).code, 'method_not_allowed');
});
