/**
 * The BigQuery sink's knobs in one commented place: API limits for streaming inserts, the retry
 * policy for rows that fail, and how a client is built from the validated configuration.
 */
import { BigQuery } from '@google-cloud/bigquery';
import type { Config } from '../../src/config.js';

export const INSERT_LIMITS = {
  /** Google recommends ≤ 500 rows per insertAll request (hard limit 50,000). */
  maxRows: 500,
  /** The HTTP request limit is 10 MB; stay well under it so JSON overhead never tips a request over. */
  maxBytes: 5 * 1024 * 1024,
} as const;

export interface RetryPolicy {
  /** Attempts per row including the first; rows still failing after these are kept and reported. */
  readonly attempts: number;
  /** Backoff before retry n (1-based) is `baseDelayMs · 2^(n−1)`, capped, with full jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4_000 };

/**
 * Rows kept in memory after their retries ran out, by count and by bytes (oldest dropped beyond
 * either; their tasks were nacked, so a redelivery rebuilds them).
 */
export const DEFAULT_MAX_RETAINED_ROWS = 10_000;
export const DEFAULT_MAX_RETAINED_BYTES = 64 * 1024 * 1024;

/** Insert requests in flight at once for one batch. */
export const INSERT_CONCURRENCY = 4;

/**
 * A BigQuery client from the configuration: Application Default Credentials, and
 * `BIGQUERY_API_ENDPOINT` when set (private endpoints, local fakes).
 */
export function createBigQueryClient(config: Config): BigQuery {
  return new BigQuery({
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(config.gcp.bigqueryEndpoint ? { apiEndpoint: config.gcp.bigqueryEndpoint } : {}),
  });
}
