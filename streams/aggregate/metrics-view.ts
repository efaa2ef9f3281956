/**
 * The `GET /metrics` answer: this replica's live windows plus every other replica's stored
 * rollups, with percentiles from histograms added together (never averaged), so any replica
 * answers for the whole service.
 */
import type { HourlyCounts, Rollup } from '../../src/domain/sink.js';
import { newHistogram, summarize, type Histogram, type LatencySummary } from './histogram.js';
import { hourStartOf, oldestRetainedHour, type HourlyWindows, type WindowView } from './hourly-windows.js';
import { addRollupHistograms, RollupHourCache, type InvalidRollup, type MergedHour } from './rollup-cache.js';

export { RollupHourCache, type InvalidRollup };

/** One hour of `hourly_stats`. */
export interface HourlyStats {
  pairs: number;
  added: number;
  removed: number;
  moved: number;
  modified: number;
  /** Objects that only changed id (geometry matching): not changes. */
  renamed: number;
  failed: number;
  malformed: number;
}

/** One hour of `hourly_latency`: percentiles in ms of that hour's merged histograms. */
export interface HourlyLatency {
  readonly processing: { readonly p50: number; readonly p95: number; readonly p99: number };
  readonly end_to_end: { readonly p50: number; readonly p95: number; readonly p99: number };
}

/** The JSON body of `GET /metrics` (design.md, HTTP API); latencies in ms with µs precision. */
export interface MetricsView {
  readonly hourly_stats: Record<string, HourlyStats>;
  /** Per hour, the same percentiles as the totals (the dashboard's latency chart). */
  readonly hourly_latency: Record<string, HourlyLatency>;
  readonly latency_p50: number;
  readonly latency_p95: number;
  readonly latency_p99: number;
  readonly latency_max: number;
  readonly latency_count: number;
  readonly end_to_end_p50: number;
  readonly end_to_end_p95: number;
  readonly end_to_end_p99: number;
  readonly end_to_end_max: number;
  readonly pairs_total: number;
  readonly changes_total: number;
  readonly failed_total: number;
  readonly malformed_total: number;
  readonly data_quality_issues: number;
  readonly window_hours: number;
  readonly replicas: number;
  readonly generated_at: string;
}

/** Rollups of several replicas and hours merged into plain numbers. */
export interface MergedRollups {
  /** Hour start → counts summed over replicas, ascending by hour. */
  readonly hourly: Map<number, HourlyStats>;
  readonly processing: LatencySummary;
  readonly endToEnd: LatencySummary;
  /** Hour start → percentiles of that hour, ascending by hour. */
  readonly hourlyLatency: Map<number, { readonly processing: LatencySummary; readonly endToEnd: LatencySummary }>;
  /** Distinct replica ids that contributed, sorted. */
  readonly replicaIds: string[];
  readonly invalid: InvalidRollup[];
}

const COUNT_KEYS = ['pairs', 'added', 'removed', 'moved', 'modified', 'renamed', 'failed', 'malformed'] as const;

function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/**
 * Adds counts and histograms of windows and rollups; owns two histograms per hour (the totals are
 * their sum), so `dispose()` it. Rollup histograms are decoded one at a time and freed at once:
 * without a cache, peak memory is two histograms per retained hour plus one, however many rollups
 * are merged.
 */
class Merger {
  private readonly hours = new Map<number, { processing: Histogram; endToEnd: Histogram }>();
  private readonly hourly = new Map<number, HourlyStats>();
  private readonly replicaIds = new Set<string>();
  private readonly invalid: InvalidRollup[] = [];

  addWindow(replicaId: string, view: WindowView): void {
    this.replicaIds.add(replicaId);
    this.addCounts(view.hourStart, view.counts);
    const h = this.hour(view.hourStart);
    h.processing.add(view.processing);
    h.endToEnd.add(view.endToEnd);
  }

  addRollup(rollup: Rollup): void {
    this.addRollupCounts(rollup);
    const h = this.hour(hourStartOf(rollup.hourStart.getTime()));
    this.invalid.push(...addRollupHistograms(rollup, h.processing, h.endToEnd));
  }

  /** Counts of a rollup whose histograms arrive merged through `addMergedHour`. */
  addRollupCounts(rollup: Rollup): void {
    this.replicaIds.add(rollup.replicaId);
    this.addCounts(hourStartOf(rollup.hourStart.getTime()), rollup.counts);
  }

  addMergedHour(hourStart: number, hour: MergedHour): void {
    const h = this.hour(hourStart);
    h.processing.add(hour.processing);
    h.endToEnd.add(hour.endToEnd);
    this.invalid.push(...hour.invalid);
  }

  result(): MergedRollups {
    const processing = newHistogram();
    const endToEnd = newHistogram();
    try {
      const hourlyLatency: MergedRollups['hourlyLatency'] = new Map();
      for (const [hour, h] of [...this.hours.entries()].sort(([a], [b]) => a - b)) {
        processing.add(h.processing);
        endToEnd.add(h.endToEnd);
        if (h.processing.totalCount + h.endToEnd.totalCount > 0) {
          hourlyLatency.set(hour, { processing: summarize(h.processing), endToEnd: summarize(h.endToEnd) });
        }
      }
      return {
        hourly: new Map([...this.hourly.entries()].sort(([a], [b]) => a - b)),
        hourlyLatency,
        processing: summarize(processing),
        endToEnd: summarize(endToEnd),
        replicaIds: [...this.replicaIds].sort(),
        invalid: [...this.invalid],
      };
    } finally {
      processing.destroy();
      endToEnd.destroy();
    }
  }

  dispose(): void {
    for (const h of this.hours.values()) {
      h.processing.destroy();
      h.endToEnd.destroy();
    }
    this.hours.clear();
  }

  private hour(hourStart: number): { processing: Histogram; endToEnd: Histogram } {
    let h = this.hours.get(hourStart);
    if (!h) {
      h = { processing: newHistogram(), endToEnd: newHistogram() };
      this.hours.set(hourStart, h);
    }
    return h;
  }

  private addCounts(hour: number, counts: Partial<HourlyCounts> | undefined): void {
    let stats = this.hourly.get(hour);
    if (!stats) {
      stats = { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 };
      this.hourly.set(hour, stats);
    }
    for (const key of COUNT_KEYS) stats[key] += countOf(counts?.[key]);
  }
}

const timeOf = (date: unknown): number => (date instanceof Date ? date.getTime() : Number.NEGATIVE_INFINITY);

/**
 * Keeps one rollup per (replica, hour), the most recently updated: a store may hold a stale
 * copy beside a fresh one, and adding both would count that hour twice.
 */
function latestPerReplicaHour(rollups: readonly Rollup[], keep: (r: Rollup) => boolean): Rollup[] {
  const latest = new Map<string, Rollup>();
  for (const rollup of rollups) {
    if (!(rollup.hourStart instanceof Date) || !Number.isFinite(rollup.hourStart.getTime()) || !keep(rollup)) continue;
    const key = `${rollup.replicaId}\u0000${hourStartOf(rollup.hourStart.getTime())}`;
    const seen = latest.get(key);
    if (!seen || timeOf(rollup.updatedAt) > timeOf(seen.updatedAt)) latest.set(key, rollup);
  }
  return [...latest.values()];
}

/**
 * Merges rollups of any replicas and hours: counts summed per hour, histograms added. For a
 * store that answers from rollups alone (e.g. BigQuery); duplicates of one (replica, hour) count
 * once (the latest `updatedAt`).
 *
 * @example
 * const merged = mergeRollups(await store.rollups(since));
 * merged.processing.p99; // ms, over every replica and hour
 */
export function mergeRollups(
  rollups: readonly Rollup[],
  options: { readonly since?: Date; readonly until?: Date } = {},
): MergedRollups {
  const since = options.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const until = options.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const merger = new Merger();
  try {
    for (const rollup of latestPerReplicaHour(rollups, (r) => r.hourStart.getTime() >= since && r.hourStart.getTime() <= until)) {
      merger.addRollup(rollup);
    }
    return merger.result();
  } finally {
    merger.dispose();
  }
}

export interface MetricsViewInput {
  readonly now: Date | number;
  readonly retentionHours: number;
  /** This replica's id: its stored rollups among `others` are stale copies of `own` and skipped. */
  readonly replicaId: string;
  readonly own: HourlyWindows;
  /** Every replica's stored rollups (`ResultStore.rollups(since)`); own and out-of-range ones are skipped. */
  readonly others: readonly Rollup[];
  readonly dataQualityIssues: number;
  /** Told about each rollup whose histograms could not be merged (for a log line). */
  readonly onInvalidRollup?: (invalid: InvalidRollup) => void;
  /**
   * Keeps the others' histograms merged per hour between calls (one cache per process, used by
   * one caller at a time); without it every call decodes every rollup.
   */
  readonly cache?: RollupHourCache;
}

/**
 * Builds the `GET /metrics` body over the current hour and the `retentionHours` before it.
 * Own live windows win over own stored rollups; empty input gives zeros, never NaN or null.
 *
 * @example
 * const body = buildMetricsView({
 *   now: Date.now(), retentionHours: config.retentionHours, replicaId: config.replicaId,
 *   own: windows, others: await store.rollups(since), dataQualityIssues: await store.dataQualityIssues(since),
 *   cache, // one RollupHourCache per process
 * });
 */
export function buildMetricsView(input: MetricsViewInput): MetricsView {
  const now = typeof input.now === 'number' ? input.now : input.now.getTime();
  const since = oldestRetainedHour(now, input.retentionHours);
  const currentHour = hourStartOf(now);
  const inRange = (hour: number) => hour >= since && hour <= currentHour;

  const merger = new Merger();
  let merged: MergedRollups;
  try {
    for (const view of input.own.views()) {
      if (inRange(view.hourStart)) merger.addWindow(input.replicaId, view);
    }
    const others = latestPerReplicaHour(
      input.others,
      (r) => r.replicaId !== input.replicaId && inRange(hourStartOf(r.hourStart.getTime())),
    );
    if (input.cache) {
      const byHour = new Map<number, Rollup[]>();
      for (const rollup of others) {
        const hour = hourStartOf(rollup.hourStart.getTime());
        byHour.set(hour, [...(byHour.get(hour) ?? []), rollup]);
      }
      for (const [hour, rollups] of byHour) {
        for (const rollup of rollups) merger.addRollupCounts(rollup);
        merger.addMergedHour(hour, input.cache.merged(hour, rollups));
      }
      input.cache.retainOnly(new Set(byHour.keys()));
    } else {
      for (const rollup of others) merger.addRollup(rollup);
    }
    merged = merger.result();
  } finally {
    merger.dispose();
  }
  for (const invalid of merged.invalid) input.onInvalidRollup?.(invalid);

  const hourlyStats: Record<string, HourlyStats> = {};
  const totals = { pairs: 0, changes: 0, failed: 0, malformed: 0 };
  for (const [hour, stats] of merged.hourly) {
    hourlyStats[new Date(hour).toISOString()] = stats;
    totals.pairs += stats.pairs;
    totals.changes += stats.added + stats.removed + stats.moved + stats.modified;
    totals.failed += stats.failed;
    totals.malformed += stats.malformed;
  }
  const replicas = new Set([input.replicaId, ...merged.replicaIds]).size;
  const hourlyLatency: Record<string, HourlyLatency> = {};
  for (const [hour, l] of merged.hourlyLatency) {
    hourlyLatency[new Date(hour).toISOString()] = {
      processing: { p50: l.processing.p50, p95: l.processing.p95, p99: l.processing.p99 },
      end_to_end: { p50: l.endToEnd.p50, p95: l.endToEnd.p95, p99: l.endToEnd.p99 },
    };
  }

  return {
    hourly_stats: hourlyStats,
    hourly_latency: hourlyLatency,
    latency_p50: merged.processing.p50,
    latency_p95: merged.processing.p95,
    latency_p99: merged.processing.p99,
    latency_max: merged.processing.max,
    latency_count: merged.processing.count,
    end_to_end_p50: merged.endToEnd.p50,
    end_to_end_p95: merged.endToEnd.p95,
    end_to_end_p99: merged.endToEnd.p99,
    end_to_end_max: merged.endToEnd.max,
    pairs_total: totals.pairs,
    changes_total: totals.changes,
    failed_total: totals.failed,
    malformed_total: totals.malformed,
    data_quality_issues: countOf(input.dataQualityIssues),
    window_hours: input.retentionHours,
    replicas,
    generated_at: new Date(now).toISOString(),
  };
}
