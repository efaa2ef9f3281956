/**
 * The table of what BuildTrace measures about itself: one entry per metric, with its kind, value
 * type and the only labels it may carry (all low-cardinality). Cloud Monitoring descriptors,
 * Prometheus names and the checks on the dashboard and alert files all read this table, so a
 * metric cannot be watched by a policy without being written.
 */
import { METRIC_PREFIX } from '../../src/infra/monitoring/metrics.js';

export type MetricKind = 'CUMULATIVE' | 'GAUGE';
export type MetricValueType = 'INT64' | 'DOUBLE' | 'DISTRIBUTION';

export interface TelemetryMetric {
  /** The name after `custom.googleapis.com/buildtrace/`; Prometheus: `buildtrace_<name>`. */
  readonly name: string;
  readonly kind: MetricKind;
  readonly valueType: MetricValueType;
  readonly unit: string;
  readonly labels: readonly { readonly key: string; readonly description: string; readonly values?: readonly string[] }[];
  readonly description: string;
}

/**
 * The `sink` label's values: one per registered sink, so a slow or failing store is told apart
 * from the others (SINKS=gcp writes to three). A sink's own name (`cloud-storage`) is turned into
 * its label by `sinkLabel`.
 */
export const SINK_LABELS = ['local', 'bigquery', 'cloud_storage', 'cloud_monitoring'] as const;
export type SinkLabel = (typeof SINK_LABELS)[number];

/**
 * The `sink` label of a sink by its name: `cloud-storage` → `cloud_storage`. A name the table does
 * not list (a test's sink) keeps its own, in the same form.
 */
export function sinkLabel(name: string): string {
  return name.replace(/-/g, '_');
}

const SINK_LABEL = { key: 'sink', description: `the sink written to: ${SINK_LABELS.join(', ')}`, values: SINK_LABELS };

/** Breaker state as a number, so a threshold can watch it: open is the highest. */
export const BREAKER_STATES = { closed: 0, 'half-open': 1, open: 2 } as const;
export type BreakerState = keyof typeof BREAKER_STATES;

export const TELEMETRY_METRICS = {
  deliveriesReceived: {
    name: 'deliveries_received',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Deliveries taken from the source, redeliveries included.',
  },
  deliveriesAcked: {
    name: 'deliveries_acked',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Deliveries acknowledged (result durable, or dead letter stored).',
  },
  deliveriesNacked: {
    name: 'deliveries_nacked',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Deliveries handed back for redelivery (transient failure, failed write, shutdown).',
  },
  deliveriesDeadLettered: {
    name: 'deliveries_dead_lettered',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [{ key: 'error_code', description: 'the low-cardinality error code (ERROR_CODES)' }],
    description: 'Tasks sent to the dead-letter topic or table, or given up after the last attempt, by error code.',
  },
  retries: {
    name: 'delivery_retries',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Redeliveries received (delivery attempt above 1).',
  },
  sinkWriteLatency: {
    name: 'sink_write_latency',
    kind: 'CUMULATIVE',
    valueType: 'DISTRIBUTION',
    unit: 'ms',
    labels: [SINK_LABEL],
    description: 'Time per sink batch write, successful or not.',
  },
  sinkWriteFailures: {
    name: 'sink_write_failures',
    kind: 'CUMULATIVE',
    valueType: 'INT64',
    unit: '1',
    labels: [SINK_LABEL],
    description: 'Sink batch writes that failed (each attempt).',
  },
  breakerState: {
    name: 'breaker_state',
    kind: 'GAUGE',
    valueType: 'INT64',
    unit: '1',
    labels: [SINK_LABEL],
    description: 'Circuit breaker on sink writes: 0 closed, 1 half-open, 2 open.',
  },
  inFlight: {
    name: 'deliveries_in_flight',
    kind: 'GAUGE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Deliveries being decoded, loaded or diffed now.',
  },
  held: {
    name: 'deliveries_held',
    kind: 'GAUGE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Deliveries received and not yet settled (in flight, or waiting for their batch write).',
  },
  windowRestore: {
    name: 'window_restore_duration',
    kind: 'GAUGE',
    valueType: 'DOUBLE',
    unit: 'ms',
    labels: [],
    description: 'How long restoring the hourly windows took at start-up.',
  },
  queueBacklog: {
    name: 'queue_backlog',
    kind: 'GAUGE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'Tasks waiting in the local queue (not acked or dead-lettered).',
  },
  queueOldestTaskAge: {
    name: 'queue_oldest_task_age',
    kind: 'GAUGE',
    valueType: 'DOUBLE',
    unit: 's',
    labels: [],
    description: 'Age of the oldest task in the local queue; 0 when empty.',
  },
  ready: {
    name: 'replica_ready',
    kind: 'GAUGE',
    valueType: 'INT64',
    unit: '1',
    labels: [],
    description: 'This replica answers its readiness probe: 1 ready, 0 not.',
  },
} as const satisfies Record<string, TelemetryMetric>;

export type TelemetryMetricId = keyof typeof TELEMETRY_METRICS;

/** `custom.googleapis.com/buildtrace/<name>` */
export function monitoringType(metric: TelemetryMetric): string {
  return `${METRIC_PREFIX}${metric.name}`;
}

/** `buildtrace_<name>`, with `_total` for counters as Prometheus names them. */
export function prometheusName(metric: TelemetryMetric): string {
  const base = `buildtrace_${metric.name}`;
  if (metric.valueType === 'DISTRIBUTION') return `${base}_${metric.unit === 'ms' ? 'milliseconds' : metric.unit}`;
  return metric.kind === 'CUMULATIVE' ? `${base}_total` : base;
}
