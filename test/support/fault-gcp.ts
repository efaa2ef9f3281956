/**
 * The GCP side of a fault run on one machine: the BigQuery, Cloud Storage and Cloud Monitoring
 * fakes on loopback, BigQuery behind the fault proxy, and the environment that points a real
 * service process (SINKS=gcp) at them. No credentials exist in that environment, so a client
 * that tried Application Default Credentials would fail instead of reaching Google.
 */
import { startFakeBigQuery, type FakeBigQuery } from './fake-bigquery.js';
import { startFakeGcs, type FakeGcs } from './fake-gcs.js';
import { startFakeMonitoring, type FakeMonitoring } from './fake-monitoring.js';
import { FAKE_TOKEN } from './fake-google-auth.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { LOOPBACK_ACCESS_TOKEN } from '../../sinks/bigquery/config.js';
import type { StoredResult } from './fault-truth.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { createGcpSink } from '../../sinks/gcp.js';

export interface GcpFakes {
  readonly bigquery: FakeBigQuery;
  /** In front of `bigquery`: the service's BIGQUERY_API_ENDPOINT. */
  readonly proxy: FaultProxy;
  readonly gcs: FakeGcs;
  readonly monitoring: FakeMonitoring;
  readonly outputBucket: string;
  readonly inputBucket: string;
  /** Environment for a service process using these fakes (add SOURCE, DATA_DIR, …). */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the fakes. BigQuery's own insertId dedupe is off by default here, as the real one is
 * only best effort: replays then reach the table and the queries must dedupe them. The dataset
 * and tables are created first, as infrastructure would before a deployment, so every test starts
 * from the same ready state; `provision: false` leaves a fresh project (test/faults/gcp-startup).
 *
 * @example
 * const gcp = await startGcpFakes();
 * t.teardown(() => gcp.close());
 * const service = await startService({ ...gcp.env, SOURCE: 'local', DATA_DIR: dir });
 */
export async function startGcpFakes(options: { dedupeInsertIds?: boolean; provision?: boolean } = {}): Promise<GcpFakes> {
  const [bigquery, gcs, monitoring] = await Promise.all([
    startFakeBigQuery({ dedupeInsertIds: options.dedupeInsertIds ?? false }),
    startFakeGcs(),
    startFakeMonitoring(),
  ]);
  const proxy = await startFaultProxy({ target: bigquery.url, expectToken: LOOPBACK_ACCESS_TOKEN, forwardToken: FAKE_TOKEN });
  const projectId = bigquery.projectId;
  const outputBucket = `buildtrace-output-${projectId}`;
  const inputBucket = `buildtrace-input-${projectId}`;
  gcs.createBucket(outputBucket);
  gcs.createBucket(inputBucket);
  const env = {
    SINKS: 'gcp',
    GOOGLE_CLOUD_PROJECT: projectId,
    BIGQUERY_API_ENDPOINT: proxy.url,
    STORAGE_API_ENDPOINT: gcs.url,
    MONITORING_API_ENDPOINT: monitoring.address,
    OUTPUT_BUCKET: outputBucket,
    INPUT_BUCKET: inputBucket,
    // nothing to find: any lookup of real credentials fails at once instead of leaving the machine
    GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/buildtrace-fault-suite-credentials.json',
    METADATA_SERVER_DETECTION: 'none',
  };
  if (options.provision ?? true) await provision(env);
  return {
    bigquery,
    proxy,
    gcs,
    monitoring,
    outputBucket,
    inputBucket,
    env,
    close: async () => {
      await proxy.close();
      await Promise.all([bigquery.close(), gcs.close(), monitoring.close()]);
    },
  };
}

/** Every `change_results` row the fake BigQuery holds, replays included. */
export function bigQueryResults(fake: FakeBigQuery, dataset = 'buildtrace'): StoredResult[] {
  const table = fake.table(dataset, 'change_results');
  if (!table) return [];
  const length = (v: unknown): number => (JSON.parse(String(v)) as unknown[]).length;
  return table.rows.map(({ json }) => ({
    taskKey: String(json.task_key),
    drawingId: String(json.drawing_id),
    counts: { added: length(json.added), removed: length(json.removed), moved: length(json.moved), modified: length(json.modified) },
  }));
}

/** One row per task key, as every BigQuery read does (QUALIFY ROW_NUMBER() … = 1). */
export function dedupeByTaskKey(results: readonly StoredResult[]): StoredResult[] {
  const seen = new Map<string, StoredResult>();
  for (const r of results) if (!seen.has(r.taskKey)) seen.set(r.taskKey, r);
  return [...seen.values()];
}

/**
 * Creates the dataset and tables the way the service does (the GCP sink's own schema setup,
 * through the proxy with the loopback token), then closes that sink.
 */
async function provision(env: Record<string, string>): Promise<void> {
  const sink = createGcpSink(loadConfig({ ...env, REPLICA_ID: 'provisioner' }), silentLogger);
  try {
    await sink.healthcheck();
  } finally {
    await sink.close();
  }
}

/** Distinct task keys in `change_results`: results durably written, cheap enough to poll. */
export function storedTaskKeys(fake: FakeBigQuery, dataset = 'buildtrace'): number {
  const table = fake.table(dataset, 'change_results');
  return table ? new Set(table.rows.map((r) => r.json.task_key)).size : 0;
}
