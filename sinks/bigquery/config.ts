/**
 * The BigQuery sink's knobs in one commented place: API limits for streaming inserts, the retry
 * policy for rows that fail, and how a client is built from the validated configuration.
 */
import { BigQuery, type BigQueryOptions } from '@google-cloud/bigquery';

export const INSERT_LIMITS = {
  /** Google recommends ≤ 500 rows per insertAll request (hard limit 50,000). */
  maxRows: 500,
  /** The HTTP request limit is 10 MB; stay well under it so JSON overhead never tips a request over. */
  maxBytes: 5 * 1024 * 1024,
} as const;

/**
 * Largest row the writer sends. BigQuery's streaming insert limit is 10 MB per row (and per
 * request); a 1 MB margin covers the JSON envelope and the request's other fields.
 */
export const MAX_ROW_BYTES = 9 * 1024 * 1024;

/**
 * A change_results row larger than this keeps only an excerpt and points at the whole result in
 * Cloud Storage (OUTPUT_BUCKET): a 1 MB margin under MAX_ROW_BYTES. A 100,000-object pair with
 * every object moved is about 31 MB.
 */
export const SPILL_ROW_BYTES = 8 * 1024 * 1024;

/** Items of each kind (added, removed, moved, modified) a spilled row keeps as its excerpt. */
export const EXCERPT_ITEMS = 100;

/** Insert requests in flight at once for one batch. */
export const INSERT_CONCURRENCY = 4;

/**
 * The bearer token sent to a plaintext loopback endpoint (a local fake or test proxy): such an
 * endpoint has no Google identity to check, and looking up real credentials for it would only
 * fail on a machine without them, or leak them to a local process.
 */
export const LOOPBACK_ACCESS_TOKEN = 'buildtrace-loopback';

/** `http://` to 127.0.0.0/8, ::1 or localhost: a local fake, never a Google endpoint. */
export function isPlaintextLoopback(endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return url.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));
}

/**
 * An auth client that signs every request with LOOPBACK_ACCESS_TOKEN. The client library asks an
 * `AuthClient` only for request headers, so this is all it needs; Application Default
 * Credentials are then never looked up.
 */
function loopbackAuthClient(): NonNullable<BigQueryOptions['authClient']> {
  const client = {
    getRequestHeaders: async () => new Headers({ authorization: `Bearer ${LOOPBACK_ACCESS_TOKEN}` }),
  };
  return client as unknown as NonNullable<BigQueryOptions['authClient']>;
}

/** What the BigQuery client is built from: the project and the endpoint override. */
export interface BigQueryClientSettings {
  readonly projectId: string | null;
  readonly gcp: { readonly bigqueryEndpoint: string | null };
}

/**
 * A BigQuery client from the configuration: Application Default Credentials, and
 * `BIGQUERY_API_ENDPOINT` when set (private endpoints, local fakes). A plaintext loopback endpoint
 * gets the fixed LOOPBACK_ACCESS_TOKEN instead of credentials; https keeps ADC.
 *
 * @example
 * const bigquery = createBigQueryClient(loadConfig({ GOOGLE_CLOUD_PROJECT: 'p', BIGQUERY_API_ENDPOINT: 'http://127.0.0.1:9050' }));
 */
export function createBigQueryClient(config: BigQueryClientSettings): BigQuery {
  const endpoint = config.gcp.bigqueryEndpoint;
  return new BigQuery({
    // The writer retries failed rows itself, with bounded backoff; the client's own retries inside
    // each attempt would stretch one failing write to a minute and outlast a shutdown's grace.
    autoRetry: false,
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(endpoint ? { apiEndpoint: endpoint } : {}),
    ...(endpoint && isPlaintextLoopback(endpoint) ? { authClient: loopbackAuthClient() } : {}),
  });
}
