/**
 * The restore row: what a restarted replica reads to rebuild 24 hours of windows from BigQuery
 * (the local fake, real client), row by row as before against per hour in the query as now,
 * measured side by side on the same stored rows: rows received, and time, at two sizes. Per hour
 * the answer is bounded by the histograms' buckets (1,024 per doubling of latency), so it stops
 * growing once the hours' latencies fill them, while row by row grows with every task.
 */
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { resultMetricRow } from '../../sinks/bigquery/encode.js';
import { silentLogger } from '../../src/log.js';
import { createRandom } from '../../src/simulate/generator.js';
import { HOUR_MS, HourlyWindows } from '../../streams/aggregate/hourly-windows.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { result } from '../support/sink-compliance.js';
import { formatMs, median, nowMs } from './measure.js';
import type { BenchLine } from './table.js';

export interface RestoreRowOptions {
  /** Rows stored over the 24 hours before the restart, one measurement per size. */
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly log?: (text: string) => void;
}

/**
 * @example
 * await restoreRows({ sizes: [25_000, 100_000], runs: 3 });
 */
export async function restoreRows(options: RestoreRowOptions): Promise<BenchLine[]> {
  const lines: BenchLine[] = [];
  for (const rows of options.sizes) lines.push(...(await restoreRowsAt(rows, options)));
  return lines;
}

async function restoreRowsAt(size: number, options: RestoreRowOptions): Promise<BenchLine[]> {
  options.log?.(`restore: ${size} rows over 24 hours, ${options.runs} runs`);
  const fake = await startFakeBigQuery();
  try {
    const client = fake.client();
    const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
    const store = new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: 'buildtrace', restoreDeadlineMs: 600_000 });
    await writer.ensureSchema();
    const now = Date.now();
    const since = new Date(now - 25 * HOUR_MS);
    const rand = createRandom(9);
    const rows = Array.from({ length: size }, (_, i) =>
      resultMetricRow(
        result({
          taskKey: `k${i}`,
          drawingId: `D${i % 500}`,
          createdAt: new Date(now - 24 * HOUR_MS * rand()),
          replicaId: 'r1',
          processingTimeMs: 1 + 3000 * rand() ** 4,
          endToEndMs: 50 + 60_000 * rand() ** 3,
        }),
      ),
    );
    for (let i = 0; i < rows.length; i += 500) await writer.insert({ processing_metrics: rows.slice(i, i + 500) });

    const rowByRow = async () => {
      const windows = new HourlyWindows({ clock: () => now });
      let read = 0;
      for await (const sample of store.samples(since, 'r1')) {
        read += 1;
        windows.restore([sample], now);
      }
      windows.close();
      return read;
    };
    const perHour = async () => {
      const windows = new HourlyWindows({ clock: () => now });
      const hours = await store.hourlyOutcomes(since, new Date(now + 1), 'r1');
      for (const hour of hours) windows.restoreHour(hour);
      windows.close();
      return hours.reduce((sum, h) => sum + 1 + h.processing.length + h.endToEnd.length, 0);
    };

    const times = { rowByRow: [] as number[], perHour: [] as number[] };
    let readRowByRow = 0;
    let readPerHour = 0;
    for (let run = 0; run < options.runs; run++) {
      let started = nowMs();
      readRowByRow = await rowByRow();
      times.rowByRow.push(nowMs() - started);
      started = nowMs();
      readPerHour = await perHour();
      times.perHour.push(nowMs() - started);
    }
    const [a, b] = [median(times.rowByRow), median(times.perHour)];
    const measured = `${size} completed tasks over 24 hours in the fake BigQuery (SQLite behind the real client), ${options.runs} runs alternating`;
    return [
      {
        group: 'restore',
        what: `restore of 24 h (${size} rows) from BigQuery: rows received per hour in the query ÷ row by row`,
        measured: `${measured}: ${readPerHour} rows (counts and HDR buckets) against ${readRowByRow}`,
        value: readPerHour / readRowByRow,
        shown: (readPerHour / readRowByRow).toFixed(3),
        target: '—',
        met: null,
      },
      {
        group: 'restore',
        what: `restore of 24 h (${size} rows) from BigQuery: time per hour in the query ÷ row by row`,
        measured: `${measured}: median ${formatMs(b)} against ${formatMs(a)}`,
        value: b / a,
        shown: (b / a).toFixed(2),
        target: '—',
        met: null,
      },
    ];
  } finally {
    await fake.close();
  }
}
