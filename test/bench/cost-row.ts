/**
 * The cost row: what one million 10-object pairs cost on Google Cloud at list prices, from the
 * requests the GCP sinks' local servers counted while the built service (SOURCE=local,
 * SINKS=gcp) processed a run: Cloud Storage operations, BigQuery streaming-insert bytes (each row
 * billed at least 1 KB), Cloud Monitoring points (by bytes ingested), and Pub/Sub throughput for
 * the same task messages (publish + delivery; the local queue stands in for the subscription, so
 * it is computed from the message bytes the run enqueued). Storage at rest is left out.
 *
 * Beside this build's write path (one create-if-absent result object per result: the marker that
 * decides freshness), the same run prices the two cheaper layouts considered, from the same
 * counts: one NDJSON object per flushed batch (one per `change_results` insert request), and
 * objects only for results too large for a row. Neither can decide per task which write came
 * first, so neither keeps "counted once"; they are printed so the price of that guarantee shows.
 */
import { rmSync } from 'node:fs';
import { enqueueScenario } from '../support/fault-enqueue.js';
import { watchQueue } from '../support/fault-queue.js';
import { startGcpFakes } from '../support/fault-gcp.js';
import { sleep, startService, tempDir } from '../support/service-process.js';
import type { BenchLine } from './table.js';

/** US list prices (USD), as published on each product's pricing page in 2025. */
export const LIST_PRICES = {
  /** Cloud Storage Standard, Class A operations (object inserts): $0.005 per 1,000. */
  storageClassA: 0.005 / 1000,
  /** Class B operations (object reads and metadata): $0.0004 per 1,000. */
  storageClassB: 0.0004 / 1000,
  /** BigQuery legacy streaming inserts: $0.01 per 200 MB, each row counted as at least 1 KB. */
  bigqueryStreamingPerByte: 0.01 / (200 * 1024 * 1024),
  bigqueryMinRowBytes: 1024,
  /** Cloud Monitoring, metrics billed by bytes ingested: $0.2580 per MiB (first tier); a scalar point is 8 bytes, a distribution point 80. */
  monitoringPerByte: 0.258 / (1024 * 1024),
  monitoringScalarBytes: 8,
  monitoringDistributionBytes: 80,
  /** Pub/Sub message throughput: $40 per TiB, for publish and again for delivery. */
  pubsubPerByte: 40 / 1024 ** 4,
} as const;

export interface CostRowOptions {
  readonly pairs: number;
  readonly log?: (text: string) => void;
}

/** Cost (USD) of one million pairs, by part. */
interface Parts {
  readonly storage: number;
  readonly bigquery: number;
  readonly monitoring: number;
  readonly pubsub: number;
  readonly total: number;
  /** Cloud Storage Class A operations per pair. */
  readonly classAPerPair: number;
}

/** This build's write path and the two layouts priced beside it, from one run's counts. */
interface CostBreakdown {
  readonly today: Parts;
  readonly perBatchObject: Parts;
  readonly oversizedOnly: Parts;
  readonly counted: Record<string, number>;
}

async function measure(options: CostRowOptions): Promise<CostBreakdown> {
  const gcp = await startGcpFakes();
  const dataDir = tempDir('buildtrace-bench-cost-');
  try {
    const service = await startService(
      { ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, CONCURRENCY: '2', REPLICA_ID: 'bench-cost', MONITORING_INTERVAL_SECONDS: '10', LOG_LEVEL: 'error' },
      { timeoutMs: 60_000 },
    );
    const storageBefore = gcp.gcs.requests.length;
    const bigqueryBefore = gcp.bigquery.requests.length;
    const started = Date.now();
    const enqueued = await enqueueScenario(dataDir, { seed: 4_242, pairs: options.pairs, objects: 10, modifiedRate: 0.1 }, 'cost');
    const queue = watchQueue(dataDir);
    while (queue.read().depth > 0) await sleep(50);
    const seconds = (Date.now() - started) / 1000;
    queue.close();
    await service.kill('SIGTERM'); // writes the final metrics point

    const storageRequests = gcp.gcs.requests.slice(storageBefore);
    const classA = storageRequests.filter((r) => r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH').length;
    const classB = storageRequests.filter((r) => r.method === 'GET').length;
    let rows = 0;
    let billedRowBytes = 0;
    let resultInserts = 0;
    let oversized = 0;
    for (const r of gcp.bigquery.requests.slice(bigqueryBefore)) {
      if (r.method !== 'POST' || !r.path.endsWith('/insertAll')) continue;
      const body = r.body as { rows: { json: Record<string, unknown> }[] };
      if (r.path.endsWith('/tables/change_results/insertAll')) {
        resultInserts += 1;
        oversized += body.rows.filter((row) => typeof row.json.result_object === 'string').length;
      }
      for (const row of body.rows) {
        rows += 1;
        billedRowBytes += Math.max(LIST_PRICES.bigqueryMinRowBytes, Buffer.byteLength(JSON.stringify(row.json)));
      }
    }
    let scalarPoints = 0;
    let distributionPoints = 0;
    for (const s of gcp.monitoring.series.values()) {
      if (s.valueType === 'DISTRIBUTION') distributionPoints += s.points.length;
      else scalarPoints += s.points.length;
    }
    // Monitoring writes per interval, not per pair: scale its bytes by the time a million pairs
    // take at this run's rate (a faster deployment pays less per pair).
    const monitoringBytesPerSecond =
      (scalarPoints * LIST_PRICES.monitoringScalarBytes + distributionPoints * LIST_PRICES.monitoringDistributionBytes) / seconds;
    const perPair = (n: number) => (n / enqueued.tasks) * 1_000_000;
    const bigquery = perPair(billedRowBytes) * LIST_PRICES.bigqueryStreamingPerByte;
    const millionSeconds = (1_000_000 / enqueued.tasks) * seconds;
    const monitoring = monitoringBytesPerSecond * millionSeconds * LIST_PRICES.monitoringPerByte;
    const pubsub = perPair(enqueued.bytes) * 2 * LIST_PRICES.pubsubPerByte;
    // The candidates differ from this build only in their Class A creates: the rows, reads,
    // points and messages are the same.
    const parts = (creates: number): Parts => {
      const storage = perPair(creates) * LIST_PRICES.storageClassA + perPair(classB) * LIST_PRICES.storageClassB;
      return { storage, bigquery, monitoring, pubsub, total: storage + bigquery + monitoring + pubsub, classAPerPair: creates / enqueued.tasks };
    };
    return {
      today: parts(classA),
      perBatchObject: parts(resultInserts),
      oversizedOnly: parts(oversized),
      counted: {
        pairs: enqueued.tasks,
        seconds,
        storageClassA: classA,
        storageClassB: classB,
        changeResultInserts: resultInserts,
        oversizedResults: oversized,
        bigqueryRows: rows,
        bigqueryBilledBytes: billedRowBytes,
        scalarPoints,
        distributionPoints,
        taskBytes: enqueued.bytes,
      },
    };
  } finally {
    await gcp.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const usd = (v: number) => `$${v.toFixed(2)}`;

/**
 * @example
 * await costRows({ pairs: 2000 });
 */
export async function costRows(options: CostRowOptions): Promise<BenchLine[]> {
  options.log?.(`cost: ${options.pairs} 10-object pairs through the GCP sinks' local servers`);
  const c = await measure(options);
  options.log?.(`cost: counted ${JSON.stringify(c.counted)}`);
  const pairs = c.counted.pairs!;
  const line = (what: string, p: Parts, storageNote: string, extra: string): BenchLine => ({
    group: 'cost',
    what,
    measured:
      `from ${pairs} pairs counted by the local servers: Cloud Storage ${usd(p.storage)} ` +
      `(${p.classAPerPair.toFixed(p.classAPerPair < 0.1 ? 3 : 2)} Class A ops per pair: ${storageNote}), ` +
      `BigQuery streaming ${usd(p.bigquery)} (${(c.counted.bigqueryRows! / pairs).toFixed(2)} rows per pair, ≥ 1 KB each), ` +
      `Monitoring ${usd(p.monitoring)} (per interval, at this run's rate), Pub/Sub ${usd(p.pubsub)} (task bytes, published and delivered)${extra}`,
    value: p.total,
    shown: usd(p.total),
    target: '—',
    met: null,
    details: { ...p, counted: c.counted, prices: LIST_PRICES },
  });
  return [
    line(
      'one million 10-object pairs on Google Cloud, list prices (write path of this build: one result object per result)',
      c.today,
      'the create-if-absent result object that decides freshness',
      '',
    ),
    line(
      'the same, one NDJSON object per flushed batch (priced from the same run; not taken)',
      c.perBatchObject,
      `one per change_results insert, ${c.counted.changeResultInserts} in the run`,
      `; ${ratio(c.perBatchObject.total, c.today.total)} of this build, but no per-task first-writer-wins, so a redelivered task would be counted twice`,
    ),
    line(
      'the same, result objects only for results too large for a row (priced from the same run; not taken)',
      c.oversizedOnly,
      `${c.counted.oversizedResults} oversized in the run`,
      `; ${ratio(c.oversizedOnly.total, c.today.total)} of this build, and the same loss of counted-once`,
    ),
  ];
}

const ratio = (x: number, y: number) => `${((x / y) * 100).toFixed(0)}%`;
