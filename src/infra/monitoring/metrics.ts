/**
 * The Cloud Monitoring sink's fixed choices: metric names, the latency bucket layout every
 * replica shares (so Monitoring can add distributions across replicas and compute percentiles),
 * and API limits. Kept apart from the client (config.ts), so what only names a metric does not
 * load Google's client libraries.
 */
export const METRIC_PREFIX = 'custom.googleapis.com/buildtrace/';

export const METRICS = {
  pairsProcessed: `${METRIC_PREFIX}pairs_processed`,
  changes: `${METRIC_PREFIX}changes`,
  anomalies: `${METRIC_PREFIX}anomalies`,
  deadLettered: `${METRIC_PREFIX}dead_lettered`,
  processingLatency: `${METRIC_PREFIX}processing_latency`,
  endToEndLatency: `${METRIC_PREFIX}end_to_end_latency`,
} as const;

/**
 * Latency buckets in ms, identical on every replica and never to be changed in place (a new
 * layout needs a new metric name): bucket 0 is < 1 ms, bucket i covers [1.4^(i−1), 1.4^i) ms,
 * the last finite one ends near 11.7 minutes, then the overflow bucket.
 */
export const LATENCY_BUCKETS = {
  numFiniteBuckets: 40,
  growthFactor: 1.4,
  scale: 1,
} as const;

/** CreateTimeSeries accepts at most 200 time series per request (API limit). */
export const MAX_SERIES_PER_REQUEST = 200;

/** Cloud Monitoring accepts at most one point per time series every 5 seconds (API limit). */
export const MIN_POINT_SPACING_MS = 5_000;
