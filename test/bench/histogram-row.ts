/**
 * The latency-histogram row: the cost of recording one value and of a p95 + p99 query on a
 * histogram of the service's shared shape (HDR, WebAssembly where it loads) holding 1e6 values.
 */
import { HISTOGRAM_ENGINE, newHistogram, percentileMs, recordMs } from '../../streams/aggregate/histogram.js';
import { createRandom } from '../../src/simulate/generator.js';
import { formatMs, keep, median, nowMs, warm } from './measure.js';
import type { BenchLine } from './table.js';

export interface HistogramRowOptions {
  /** Values recorded per run (the query runs on a histogram holding this many). */
  readonly values: number;
  readonly runs: number;
  /** p95 + p99 queries timed per run. */
  readonly queries: number;
  readonly log?: (text: string) => void;
}

export const RECORD_TARGET_NS = 60;
export const QUERY_TARGET_US = 100;

/**
 * @example
 * histogramRows({ values: 1_000_000, runs: 7, queries: 2000 });
 */
export function histogramRows(options: HistogramRowOptions): BenchLine[] {
  options.log?.(`histogram: ${options.values} values × ${options.runs} runs`);
  // Latencies from 1 ms to a few seconds, skewed low like real ones; drawn before timing.
  const rand = createRandom(60);
  const latencies = new Float64Array(options.values);
  for (let i = 0; i < latencies.length; i++) latencies[i] = 1 + 3000 * rand() ** 4;

  const recordNs: number[] = [];
  const queryUs: number[] = [];
  const warmup = newHistogram();
  warm(() => {
    for (let i = 0; i < 10_000; i++) recordMs(warmup, latencies[i % latencies.length]!);
    return percentileMs(warmup, 95) + percentileMs(warmup, 99);
  }, 200);
  warmup.destroy();

  for (let run = 0; run < options.runs; run++) {
    const h = newHistogram();
    try {
      const start = nowMs();
      for (let i = 0; i < latencies.length; i++) recordMs(h, latencies[i]!);
      recordNs.push(((nowMs() - start) * 1e6) / latencies.length);
      let sink = 0;
      const q = nowMs();
      for (let i = 0; i < options.queries; i++) sink += percentileMs(h, 95) + percentileMs(h, 99);
      queryUs.push(((nowMs() - q) * 1000) / options.queries);
      keep(sink);
    } finally {
      h.destroy();
    }
  }
  const record = median(recordNs);
  const query = median(queryUs);
  const count = options.values.toLocaleString('en-US');
  return [
    {
      group: 'histogram',
      what: 'latency histogram: record one value',
      measured: `recordMs into the shared HDR shape (${HISTOGRAM_ENGINE} engine), ${count} values per run, median of ${options.runs} runs`,
      value: record,
      shown: `${record.toFixed(1)} ns`,
      target: `≤ ${RECORD_TARGET_NS} ns`,
      met: record <= RECORD_TARGET_NS,
      details: { engine: HISTOGRAM_ENGINE, recordNs },
    },
    {
      group: 'histogram',
      what: 'latency histogram: p95 + p99 query',
      measured: `two getValueAtPercentile calls on ${count} values, ${options.queries} queries per run, median of ${options.runs} runs`,
      value: query,
      shown: formatMs(query / 1000),
      target: `≤ ${QUERY_TARGET_US} µs`,
      met: query <= QUERY_TARGET_US,
      details: { engine: HISTOGRAM_ENGINE, queryUs },
    },
  ];
}
