/**
 * A replica's stored outcomes aggregated per hour inside the store's own query, so restoring the
 * windows after a restart reads a bounded answer however many rows the last 25 hours hold: per
 * hour, the counts, and each latency histogram as (bucket, count) pairs. The bucket is computed in
 * SQL exactly as the shared HDR histogram shape (streams/aggregate/histogram.ts: lowest 1 µs, 3
 * significant digits) buckets a value, so recording each bucket's lowest value `count` times
 * gives the same histogram as recording every row (test/sinks/hourly-outcomes.test.ts).
 * The SQL is common to SQLite and GoogleSQL: CASE, ROUND, CAST, and integer shifts.
 */
import type { HourlyCounts, HourlyOutcome } from '../src/domain/sink.js';


/** The histograms' highest trackable value in µs (histogram.ts HIGHEST_TRACKABLE_US). */
const HIGHEST_US = 24 * 60 * 60 * 1_000_000;
/** HDR with 3 significant digits: 2^11 sub-buckets, values below 2048 µs are exact. */
const SUB_BUCKET_BITS = 11;
/** Bit length of the highest value: the last bucket's shift is this minus SUB_BUCKET_BITS. */
const HIGHEST_BITS = Math.ceil(Math.log2(HIGHEST_US + 1));

/**
 * SQL for `clampMicros(ms * 1000)` of a latency column in ms: NULL and values ≤ 0 are 0, values
 * at or past 24 h the maximum, the rest rounded to the µs.
 */
export function microsSql(msColumn: string): string {
  return `CASE WHEN ${msColumn} IS NULL OR ${msColumn} * 1000 <= 0 THEN 0 WHEN ${msColumn} * 1000 >= ${HIGHEST_US} THEN ${HIGHEST_US} ELSE CAST(ROUND(${msColumn} * 1000) AS INT64) END`;
}

/**
 * SQL for the lowest value of the HDR bucket holding the integer µs expression `micros`: exact
 * below 2^11, then `(v >> k) << k` where 2^(k+10) ≤ v < 2^(k+11).
 */
export function bucketSql(micros: string): string {
  const branches: string[] = [`WHEN ${micros} < ${2 ** SUB_BUCKET_BITS} THEN ${micros}`];
  for (let k = 1; k + SUB_BUCKET_BITS - 1 < HIGHEST_BITS; k++) {
    branches.push(`WHEN ${micros} < ${2 ** (k + SUB_BUCKET_BITS)} THEN (${micros} >> ${k}) << ${k}`);
  }
  return `CASE ${branches.join(' ')} END`;
}

/** Builds outcomes from the two kinds of rows the stores' queries answer. */
export class HourlyOutcomeBuilder {
  private readonly hours = new Map<number, { counts: { -readonly [K in keyof HourlyCounts]: number }; processing: [number, number][]; endToEnd: [number, number][] }>();

  private hour(hourStart: number) {
    let h = this.hours.get(hourStart);
    if (!h) {
      h = { counts: { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 }, processing: [], endToEnd: [] };
      this.hours.set(hourStart, h);
    }
    return h;
  }

  counts(hourStart: number, counts: HourlyCounts): void {
    Object.assign(this.hour(hourStart).counts, counts);
  }

  bucket(hourStart: number, which: 'processing' | 'end_to_end', value: number, count: number): void {
    const h = this.hour(hourStart);
    (which === 'processing' ? h.processing : h.endToEnd).push([value, count]);
  }

  /** Oldest hour first. */
  build(): HourlyOutcome[] {
    return [...this.hours.entries()]
      .sort(([a], [b]) => a - b)
      .map(([hourStart, h]) => ({ hourStart: new Date(hourStart), counts: { ...h.counts }, processing: h.processing, endToEnd: h.endToEnd }));
  }
}
