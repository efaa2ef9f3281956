/**
 * The subset of the Cloud Monitoring filter grammar the dashboard and alert files use
 * (`metric.type`, `resource.type`, `metric.label.K`, `resource.label.K` compared with `=` or `!=`
 * to a quoted string, joined by AND), parsed strictly, and a small evaluator of alert conditions
 * over the series the local Monitoring server stored: the same alignment and reduction Monitoring
 * applies, so a test can show a watched series crossing its threshold.
 */
import type { StoredSeries } from './fake-monitoring.js';

export interface FilterClause {
  readonly subject: 'metric' | 'resource';
  /** `type`, or a label key. */
  readonly key: string;
  readonly isLabel: boolean;
  readonly op: '=' | '!=';
  readonly value: string;
}

const CLAUSE = /^\s*(metric|resource)\.(type|label\.([a-z][a-z0-9_]*))\s*(!=|=)\s*"((?:[^"\\]|\\.)*)"\s*/;

/**
 * Parses a filter of the subset; anything else (OR, functions, a bare word) is an error naming where.
 *
 * @example
 * parseFilter('metric.type = "custom.googleapis.com/buildtrace/pairs_processed"')
 */
export function parseFilter(filter: string): FilterClause[] {
  const clauses: FilterClause[] = [];
  let rest = filter;
  for (;;) {
    const m = CLAUSE.exec(rest);
    if (!m) throw new Error(`filter ${JSON.stringify(filter)}: cannot parse at ${JSON.stringify(rest.slice(0, 30))}`);
    clauses.push({ subject: m[1] as 'metric' | 'resource', key: m[3] ?? 'type', isLabel: m[3] !== undefined, op: m[4] as '=' | '!=', value: m[5]!.replace(/\\(.)/g, '$1') });
    rest = rest.slice(m[0].length);
    if (rest === '') break;
    const and = /^AND\s+/.exec(rest);
    if (!and) throw new Error(`filter ${JSON.stringify(filter)}: expected AND at ${JSON.stringify(rest.slice(0, 30))}`);
    rest = rest.slice(and[0].length);
  }
  if (clauses.filter((c) => c.subject === 'metric' && !c.isLabel).length !== 1) throw new Error(`filter ${JSON.stringify(filter)}: needs exactly one metric.type`);
  return clauses;
}

export function matches(clauses: readonly FilterClause[], s: StoredSeries): boolean {
  return clauses.every((c) => {
    const side = c.subject === 'metric' ? s.metric : s.resource;
    const actual = c.isLabel ? side.labels[c.key] : side.type;
    return c.op === '=' ? actual === c.value : actual !== c.value;
  });
}

export interface Aggregation {
  readonly alignmentPeriod: string;
  readonly perSeriesAligner: string;
  readonly crossSeriesReducer?: string;
  readonly groupByFields?: readonly string[];
}

const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1] ?? Number.NaN);

/** A series' aligned value for the period ending at `now` (ms), as Monitoring would compute it. */
function align(s: StoredSeries, aligner: string, periodMs: number, now: number): number | number[] | null {
  const upTo = (t: number) => [...s.points].reverse().find((p) => p.endMs <= t);
  if (s.metricKind === 'CUMULATIVE') {
    const end = upTo(now);
    if (!end) return null;
    const begin = upTo(now - periodMs);
    if (s.valueType === 'DISTRIBUTION') {
      const counts = (p: typeof end | undefined) => ((p?.value.distributionValue?.bucketCounts ?? []) as string[]).map(Number);
      const a = counts(begin);
      return counts(end).map((c, i) => c - (a[i] ?? 0));
    }
    const v = (p: typeof end | undefined) => Number(p?.value.int64Value ?? p?.value.doubleValue ?? 0);
    const delta = v(end) - v(begin);
    if (aligner === 'ALIGN_DELTA') return delta;
    if (aligner === 'ALIGN_RATE') return delta / (periodMs / 1000);
    throw new Error(`aligner ${aligner} on a cumulative series is not evaluated here`);
  }
  const values = s.points.filter((p) => p.endMs > now - periodMs && p.endMs <= now).map((p) => Number(p.value.int64Value ?? p.value.doubleValue));
  if (values.length === 0) return null;
  if (aligner === 'ALIGN_MAX') return Math.max(...values);
  if (aligner === 'ALIGN_MIN') return Math.min(...values);
  if (aligner === 'ALIGN_MEAN') return values.reduce((a, b) => a + b, 0) / values.length;
  throw new Error(`aligner ${aligner} on a gauge is not evaluated here`);
}

/** The p-th percentile of exponential bucket counts, interpolated inside the bucket as Monitoring does. */
function percentile(counts: readonly number[], p: number, b: { scale: number; growthFactor: number }): number {
  const total = counts.reduce((a, c) => a + c, 0);
  if (total === 0) return 0;
  let rank = (p / 100) * total;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (rank <= c && c > 0) {
      const lower = i === 0 ? 0 : b.scale * b.growthFactor ** (i - 1);
      const upper = b.scale * b.growthFactor ** i;
      return lower + (upper - lower) * (rank / c);
    }
    rank -= c;
  }
  return b.scale * b.growthFactor ** (counts.length - 2);
}

/**
 * The condition's value per group at `now`: filter, align each series over one alignment period,
 * reduce across series by the group-by fields.
 */
export function evaluate(filter: string, aggregation: Aggregation, series: Iterable<StoredSeries>, now: number, buckets = { scale: 1, growthFactor: 1.4 }): Map<string, number> {
  const clauses = parseFilter(filter);
  const periodMs = seconds(aggregation.alignmentPeriod) * 1000;
  const groups = new Map<string, (number | number[])[]>();
  for (const s of series) {
    if (!matches(clauses, s)) continue;
    const v = align(s, aggregation.perSeriesAligner, periodMs, now);
    if (v === null) continue;
    const key = (aggregation.groupByFields ?? []).map((f) => s.metric.labels[f.replace(/^metric\.label\./, '')] ?? '').join(',');
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  const out = new Map<string, number>();
  for (const [key, values] of groups) {
    const reducer = aggregation.crossSeriesReducer ?? 'REDUCE_NONE';
    const pct = /^REDUCE_PERCENTILE_(\d+)$/.exec(reducer);
    if (pct) {
      const merged: number[] = [];
      for (const v of values as number[][]) v.forEach((c, i) => (merged[i] = (merged[i] ?? 0) + c));
      out.set(key, percentile(merged, Number(pct[1]), buckets));
      continue;
    }
    const nums = values as number[];
    if (reducer === 'REDUCE_SUM') out.set(key, nums.reduce((a, b) => a + b, 0));
    else if (reducer === 'REDUCE_MAX') out.set(key, Math.max(...nums));
    else if (reducer === 'REDUCE_MIN') out.set(key, Math.min(...nums));
    else if (reducer === 'REDUCE_COUNT') out.set(key, nums.length);
    else throw new Error(`reducer ${reducer} is not evaluated here`);
  }
  return out;
}

/** Whether `value` crosses `threshold` in the comparison's direction. */
export function crosses(comparison: string, value: number, threshold: number): boolean {
  switch (comparison) {
    case 'COMPARISON_GT':
      return value > threshold;
    case 'COMPARISON_LT':
      return value < threshold;
    case 'COMPARISON_GE':
      return value >= threshold;
    case 'COMPARISON_LE':
      return value <= threshold;
    default:
      throw new Error(`comparison ${comparison} is not evaluated here`);
  }
}
