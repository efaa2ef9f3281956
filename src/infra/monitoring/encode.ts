/**
 * Pure mapping from running totals to Cloud Monitoring protos: the metric descriptors, and one
 * CUMULATIVE point per time series whose interval starts at the fixed process start time.
 */
import type { protos } from '@google-cloud/monitoring';
import { ANOMALY_TYPES } from '../../domain/types.js';
import { CHANGE_KINDS, DEAD_LETTER_REASONS, type DistributionSnapshot, type TotalsSnapshot } from './accumulate.js';
import { LATENCY_BUCKETS, METRICS } from './metrics.js';
import type { MonitoredResource } from './resource.js';

type MetricDescriptor = protos.google.api.IMetricDescriptor;
type TimeSeries = protos.google.monitoring.v3.ITimeSeries;
type Timestamp = protos.google.protobuf.ITimestamp;

const counter = (type: string, description: string, label?: { key: string; description: string }): MetricDescriptor => ({
  type,
  metricKind: 'CUMULATIVE',
  valueType: 'INT64',
  unit: '1',
  description,
  displayName: type.slice(type.lastIndexOf('/') + 1),
  labels: label ? [{ key: label.key, valueType: 'STRING', description: label.description }] : [],
});

const latency = (type: string, description: string): MetricDescriptor => ({
  type,
  metricKind: 'CUMULATIVE',
  valueType: 'DISTRIBUTION',
  unit: 'ms',
  description,
  displayName: type.slice(type.lastIndexOf('/') + 1),
  labels: [],
});

/** The descriptors `ensureDescriptors()` creates. */
export function metricDescriptors(): MetricDescriptor[] {
  return [
    counter(METRICS.pairsProcessed, 'Drawing pairs whose result was stored for the first time.'),
    counter(METRICS.changes, 'Changes found in stored results, by kind.', { key: 'kind', description: 'added, removed, moved or modified' }),
    counter(METRICS.anomalies, 'Anomalies raised, by type.', { key: 'type', description: 'anomaly type' }),
    counter(METRICS.deadLettered, 'Tasks that ended without a result (dead-lettered), by reason.', {
      key: 'reason',
      description: 'malformed (bad input) or failed (retries exhausted)',
    }),
    latency(METRICS.processingLatency, 'Processing time per pair, received to durable.'),
    latency(METRICS.endToEndLatency, 'Time per pair from upload or publish to durable.'),
  ];
}

/** A protobuf Timestamp with millisecond precision. */
export function toTimestamp(d: Date): Timestamp {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** A latency distribution in the one bucket layout every replica and metric shares. */
export function distribution(d: DistributionSnapshot): protos.google.api.IDistribution {
  return {
    count: d.count,
    mean: d.count > 0 ? d.mean : 0,
    sumOfSquaredDeviation: d.count > 1 ? d.sumOfSquaredDeviation : 0,
    bucketOptions: { exponentialBuckets: { ...LATENCY_BUCKETS } },
    bucketCounts: [...d.bucketCounts],
  };
}

/**
 * One CUMULATIVE point per time series, all with the same interval.
 *
 * @example
 * encodeTimeSeries(totals.snapshot(), { resource, start: processStart, end: new Date() })
 */
export function encodeTimeSeries(
  totals: TotalsSnapshot,
  at: { readonly resource: MonitoredResource; readonly start: Date; readonly end: Date },
): TimeSeries[] {
  const interval = { startTime: toTimestamp(at.start), endTime: toTimestamp(at.end) };
  const resource = { type: at.resource.type, labels: { ...at.resource.labels } };
  const int = (type: string, value: number, labels: Record<string, string> = {}): TimeSeries => ({
    metric: { type, labels },
    resource,
    metricKind: 'CUMULATIVE',
    valueType: 'INT64',
    points: [{ interval, value: { int64Value: value } }],
  });
  const dist = (type: string, value: DistributionSnapshot): TimeSeries => ({
    metric: { type, labels: {} },
    resource,
    metricKind: 'CUMULATIVE',
    valueType: 'DISTRIBUTION',
    unit: 'ms',
    points: [{ interval, value: { distributionValue: distribution(value) } }],
  });
  return [
    int(METRICS.pairsProcessed, totals.pairsProcessed),
    ...CHANGE_KINDS.map((kind) => int(METRICS.changes, totals.changes[kind], { kind })),
    ...ANOMALY_TYPES.map((type) => int(METRICS.anomalies, totals.anomalies[type], { type })),
    ...DEAD_LETTER_REASONS.map((reason) => int(METRICS.deadLettered, totals.deadLettered[reason], { reason })),
    dist(METRICS.processingLatency, totals.processingLatency),
    dist(METRICS.endToEndLatency, totals.endToEndLatency),
  ];
}

/**
 * Metrics written beside the product metrics, on the same timer and monitored resource (the
 * service's self-telemetry): their descriptors, and the series of one point.
 */
export interface SeriesSource {
  descriptors(): protos.google.api.IMetricDescriptor[];
  series(at: { readonly resource: MonitoredResource; readonly start: Date; readonly end: Date }): Promise<protos.google.monitoring.v3.ITimeSeries[]>;
}
