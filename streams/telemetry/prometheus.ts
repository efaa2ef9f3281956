/**
 * The telemetry in the Prometheus text format (`GET /metrics/prometheus`), for GKE's managed
 * Prometheus and for anyone running BuildTrace outside Google Cloud. Counters and gauges are read
 * from the telemetry's snapshot at scrape time, so they say exactly what `GET /metrics` says;
 * sink latency is a histogram observed as writes happen.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { LATENCY_BUCKETS } from '../../src/infra/monitoring/metrics.js';
import { BREAKER_STATES } from './metrics.js';
import { TELEMETRY_METRICS as M, prometheusName, type TelemetryMetric } from './metrics.js';
import type { Telemetry, TelemetrySnapshot } from './telemetry.js';

/** Every other bound of the Monitoring layout (1.4² ≈ 2× apart): enough resolution for a scrape. */
const PROMETHEUS_BUCKETS_MS = Array.from({ length: LATENCY_BUCKETS.numFiniteBuckets / 2 }, (_, i) =>
  Number((LATENCY_BUCKETS.scale * LATENCY_BUCKETS.growthFactor ** (2 * i)).toPrecision(6)),
);

/**
 * A registry holding only BuildTrace's telemetry (no process defaults, so two services in one
 * process, as in tests, never collide).
 *
 * @example
 * const registry = prometheusRegistry(telemetry);
 * ctx.body = await registry.metrics();
 */
export function prometheusRegistry(telemetry: Telemetry): Registry {
  const registry = new Registry();
  let snap: TelemetrySnapshot = telemetry.snapshot();
  const help = (m: TelemetryMetric) => m.description;

  // The first collector takes one snapshot that every other collector of the scrape reads.
  const counter = (m: TelemetryMetric, read: (s: TelemetrySnapshot) => [Record<string, string>, number][], first = false) =>
    new Counter({
      name: prometheusName(m),
      help: help(m),
      labelNames: m.labels.map((l) => l.key),
      registers: [registry],
      collect() {
        if (first) snap = telemetry.snapshot();
        this.reset();
        for (const [labels, value] of read(snap)) this.inc(labels, value);
      },
    });
  const gauge = (m: TelemetryMetric, read: (s: TelemetrySnapshot) => [Record<string, string>, number | null][]) =>
    new Gauge({
      name: prometheusName(m),
      help: help(m),
      labelNames: m.labels.map((l) => l.key),
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read(snap)) if (value !== null) this.set(labels, value);
      },
    });

  counter(M.deliveriesReceived, (s) => [[{}, s.deliveries.received]], true);
  counter(M.deliveriesAcked, (s) => [[{}, s.deliveries.acked]]);
  counter(M.deliveriesNacked, (s) => [[{}, s.deliveries.nacked]]);
  counter(M.retries, (s) => [[{}, s.deliveries.retries]]);
  counter(M.deliveriesDeadLettered, (s) => Object.entries(s.deliveries.deadLettered).map(([error_code, n]) => [{ error_code }, n]));
  counter(M.sinkWriteFailures, (s) => Object.entries(s.sinks).map(([sink, v]) => [{ sink }, v.failures]));
  gauge(M.breakerState, (s) => Object.entries(s.sinks).map(([sink, v]) => [{ sink }, BREAKER_STATES[v.breaker.state]]));
  gauge(M.inFlight, (s) => [[{}, s.deliveries.inFlight]]);
  gauge(M.held, (s) => [[{}, s.deliveries.held]]);
  gauge(M.windowRestore, (s) => [[{}, s.windowRestoreMs]]);
  gauge(M.queueBacklog, (s) => [[{}, s.queue.backlog]]);
  gauge(M.queueOldestTaskAge, (s) => [[{}, s.queue.oldestTaskAgeSeconds]]);
  gauge(M.ready, (s) => [[{}, s.ready === null ? null : s.ready ? 1 : 0]]);

  // The product figures as this replica wrote them (Cloud Monitoring has them as product metrics).
  const product = (name: string, help: string, labelNames: string[], read: (s: TelemetrySnapshot) => [Record<string, string>, number][]) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read(snap)) this.inc(labels, value);
      },
    });
  product('buildtrace_pairs_processed_total', 'Drawing pairs whose result this replica stored for the first time.', [], (s) => [[{}, s.results.pairs]]);
  product('buildtrace_changes_total', 'Changes found in stored results, by kind.', ['kind'], (s) =>
    Object.entries(s.results.changes).map(([kind, n]) => [{ kind }, n]),
  );
  const processing = new Histogram({
    name: 'buildtrace_processing_latency_milliseconds',
    help: 'Processing time per pair, received to durable.',
    buckets: PROMETHEUS_BUCKETS_MS,
    registers: [registry],
  });

  const latency = new Histogram({
    name: prometheusName(M.sinkWriteLatency),
    help: help(M.sinkWriteLatency),
    labelNames: ['sink'],
    buckets: PROMETHEUS_BUCKETS_MS,
    registers: [registry],
  });
  telemetry.onEvent((e) => {
    if (e.kind === 'sinkWrite') latency.observe({ sink: e.sink }, e.latencyMs);
    else if (e.kind === 'result') processing.observe(e.processingMs);
  });
  return registry;
}
