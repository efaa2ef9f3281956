/**
 * Pure mapping from the telemetry's snapshot to Cloud Monitoring descriptors and points, written
 * by the Cloud Monitoring sink beside the product metrics: same monitored resource (one series per
 * replica), same cumulative interval start, same latency bucket layout.
 */
import type { protos } from '@google-cloud/monitoring';
import { distribution } from '../../src/infra/monitoring/encode.js';
import { toTimestamp } from '../../src/infra/monitoring/encode.js';
import type { MonitoredResource } from '../../src/infra/monitoring/resource.js';
import type { SeriesSource } from '../../src/infra/monitoring/encode.js';
import { BREAKER_STATES, TELEMETRY_METRICS as M, monitoringType, type TelemetryMetric } from './metrics.js';
import type { Telemetry, TelemetrySnapshot } from './telemetry.js';

type MetricDescriptor = protos.google.api.IMetricDescriptor;
type TimeSeries = protos.google.monitoring.v3.ITimeSeries;


export function telemetryDescriptors(): MetricDescriptor[] {
  return Object.values(M).map((m: TelemetryMetric) => ({
    type: monitoringType(m),
    metricKind: m.kind,
    valueType: m.valueType,
    unit: m.unit,
    description: m.description,
    displayName: m.name,
    labels: m.labels.map((l) => ({ key: l.key, valueType: 'STRING', description: l.description })),
  }));
}

/**
 * One point per series. Counters carry the interval from process start; gauges only the end time.
 * A gauge whose value is unknown (no sampler, or it failed) is left out rather than written as 0.
 */
export function encodeTelemetrySeries(
  s: TelemetrySnapshot,
  at: { readonly resource: MonitoredResource; readonly start: Date; readonly end: Date },
): TimeSeries[] {
  const resource = { type: at.resource.type, labels: { ...at.resource.labels } };
  const cumulative = { startTime: toTimestamp(at.start), endTime: toTimestamp(at.end) };
  const gaugeInterval = { endTime: toTimestamp(at.end) };
  const point = (m: TelemetryMetric, value: protos.google.monitoring.v3.ITypedValue, labels: Record<string, string> = {}): TimeSeries => ({
    metric: { type: monitoringType(m), labels },
    resource,
    metricKind: m.kind,
    valueType: m.valueType,
    ...(m.valueType === 'DISTRIBUTION' ? { unit: m.unit } : {}),
    points: [{ interval: m.kind === 'CUMULATIVE' ? cumulative : gaugeInterval, value }],
  });
  const int = (m: TelemetryMetric, v: number, labels?: Record<string, string>) => point(m, { int64Value: v }, labels);
  const double = (m: TelemetryMetric, v: number) => point(m, { doubleValue: v });
  const out: TimeSeries[] = [
    int(M.deliveriesReceived, s.deliveries.received),
    int(M.deliveriesAcked, s.deliveries.acked),
    int(M.deliveriesNacked, s.deliveries.nacked),
    int(M.retries, s.deliveries.retries),
    int(M.inFlight, s.deliveries.inFlight),
    int(M.held, s.deliveries.held),
  ];
  for (const [error_code, n] of Object.entries(s.deliveries.deadLettered)) out.push(int(M.deliveriesDeadLettered, n, { error_code }));
  for (const [sink, v] of Object.entries(s.sinks)) {
    out.push(int(M.sinkWriteFailures, v.failures, { sink }));
    out.push(int(M.breakerState, BREAKER_STATES[v.breaker.state], { sink }));
    out.push(point(M.sinkWriteLatency, { distributionValue: distribution(v.latencyMs) }, { sink }));
  }
  if (s.windowRestoreMs !== null) out.push(double(M.windowRestore, s.windowRestoreMs));
  if (s.queue.backlog !== null) out.push(int(M.queueBacklog, s.queue.backlog));
  if (s.queue.oldestTaskAgeSeconds !== null) out.push(double(M.queueOldestTaskAge, s.queue.oldestTaskAgeSeconds));
  if (s.ready !== null) out.push(int(M.ready, s.ready ? 1 : 0));
  return out;
}

/** The telemetry as a series source for the Cloud Monitoring sink. */
export function telemetrySeriesSource(telemetry: Telemetry): SeriesSource {
  return {
    descriptors: telemetryDescriptors,
    async series(at) {
      await telemetry.sample();
      return encodeTelemetrySeries(telemetry.snapshot(), at);
    },
  };
}
