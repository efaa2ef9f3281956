/**
 * One replica's hourly tumbling windows (counts and HDR latency histograms), driven by an
 * injected clock so that memory is bounded by retention, not traffic, and the timer around it
 * stays thin and the core testable.
 */
import type { ChangeCounts } from '../../src/domain/types.js';
import type { HourlyCounts, HourlyOutcome, MetricSample, Rollup } from '../../src/domain/sink.js';
import {
  addEncoded,
  clampMicros,
  encodeHistogram,
  newHistogram,
  recordMs,
  summarize,
  type Histogram,
  type LatencySummary,
} from './histogram.js';

export const HOUR_MS = 60 * 60 * 1000;

/** Start (ms since epoch) of the UTC hour holding `ms`. */
export function hourStartOf(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/** Oldest hour start still inside retention at `now`: the current hour and `retentionHours` before it. */
export function oldestRetainedHour(now: number, retentionHours: number): number {
  return hourStartOf(now) - retentionHours * HOUR_MS;
}

export interface HourlyWindowsOptions {
  /** Full hours kept before the current one. @default 24 */
  readonly retentionHours?: number;
  /** ms since epoch; every call reads it and evicts what fell out of retention. */
  readonly clock: () => number;
}

export interface ResultObservation {
  /** When the result became durable; decides its window (its UTC hour), not the clock. */
  readonly at: Date;
  readonly processingTimeMs: number;
  readonly endToEndMs: number;
  readonly counts: ChangeCounts;
}

export interface FailureObservation {
  readonly at: Date;
  readonly malformed: boolean;
}

/** A read-only look at one window, for views that add its histograms without copying them. */
export interface WindowView {
  readonly hourStart: number;
  readonly counts: HourlyCounts;
  /** Owned by the windows: add from them, never destroy or record into them. */
  readonly processing: Histogram;
  readonly endToEnd: Histogram;
}

export interface WindowSnapshot {
  readonly hourStart: Date;
  readonly counts: HourlyCounts;
  readonly processing: LatencySummary;
  readonly endToEnd: LatencySummary;
  readonly updatedAt: Date;
}

interface Window {
  readonly hourStart: number;
  counts: { pairs: number; added: number; removed: number; moved: number; modified: number; renamed: number; failed: number; malformed: number };
  readonly processing: Histogram;
  readonly endToEnd: Histogram;
  updatedAt: number;
  dirty: boolean;
}

const zeroCounts = (): Window['counts'] => ({ pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 });
const COUNT_KEYS = ['pairs', 'added', 'removed', 'moved', 'modified', 'renamed', 'failed', 'malformed'] as const;

/** A stored count as a safe non-negative integer: a bad rollup must not poison the totals with NaN. */
function countOf(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/**
 * Hourly tumbling windows of one replica.
 *
 * @example
 * const windows = new HourlyWindows({ clock: Date.now });
 * windows.recordResult({ at: new Date(), processingTimeMs: 12, endToEndMs: 340, counts });
 * await sink.writeRollups(windows.dirtyRollups(config.replicaId));
 */
export class HourlyWindows {
  readonly retentionHours: number;
  private readonly clock: () => number;
  private readonly windows = new Map<number, Window>();
  /** Current hour at the last eviction: eviction only walks the map when the hour changes. */
  private rotatedAtHour = Number.NEGATIVE_INFINITY;

  constructor({ retentionHours = 24, clock }: HourlyWindowsOptions) {
    if (!Number.isInteger(retentionHours) || retentionHours < 0) {
      throw new RangeError(`retentionHours must be a whole number from 0 up, got ${retentionHours}`);
    }
    this.retentionHours = retentionHours;
    this.clock = clock;
  }

  /**
   * Counts a durable result into the window of `at`'s UTC hour. A result older than retention is
   * ignored; one stamped after the clock's current hour (clock skew) counts in the current hour,
   * so no window beyond the current one is ever opened.
   *
   * @returns false when the result was ignored.
   */
  recordResult({ at, processingTimeMs, endToEndMs, counts }: ResultObservation): boolean {
    const window = this.windowFor(at, this.clock());
    if (!window) return false;
    window.counts.pairs += 1;
    window.counts.added += countOf(counts.added);
    window.counts.removed += countOf(counts.removed);
    window.counts.moved += countOf(counts.moved);
    window.counts.modified += countOf(counts.modified);
    window.counts.renamed += countOf(counts.renamed);
    recordMs(window.processing, processingTimeMs);
    recordMs(window.endToEnd, endToEndMs);
    return true;
  }

  /** Counts a task that ended without a result (malformed counts as failed too). */
  recordFailure({ at, malformed }: FailureObservation): boolean {
    const window = this.windowFor(at, this.clock());
    if (!window) return false;
    window.counts.failed += 1;
    if (malformed) window.counts.malformed += 1;
    return true;
  }

  /**
   * Rebuilds the windows from this replica's stored samples after a restart (call it before the
   * source starts). Samples stamped after the moment restore began are skipped: they were
   * recorded live already. Restored windows are marked dirty so the next flush repairs rollups a
   * crash left stale.
   *
   * @param until samples after this instant are skipped (default: now); a restore retried later
   *   passes the process's start so that nothing recorded live is counted twice.
   * @returns how many samples were counted.
   */
  async restore(samples: AsyncIterable<MetricSample> | Iterable<MetricSample>, until: number = this.clock()): Promise<number> {
    let counted = 0;
    for await (const sample of samples) {
      if (!(sample.at instanceof Date) || sample.at.getTime() > until) continue;
      const recorded =
        sample.kind === 'result'
          ? this.recordResult(sample)
          : sample.kind === 'failure'
            ? this.recordFailure(sample)
            : false;
      if (recorded) counted += 1;
    }
    return counted;
  }

  /**
   * Adds stored rollups into the windows, for stores that keep no samples. Pass this replica's
   * own rollups only (the caller knows its replica id); rollups outside retention are skipped. A
   * rollup whose histogram cannot be decoded still contributes its counts.
   *
   * @returns the rollups whose histograms could not be decoded (with the reason), for logging.
   */
  restoreRollups(rollups: readonly Rollup[]): { rollup: Rollup; error: unknown }[] {
    const now = this.clock();
    const errors: { rollup: Rollup; error: unknown }[] = [];
    for (const rollup of rollups) {
      const hour = rollup.hourStart instanceof Date ? rollup.hourStart.getTime() : Number.NaN;
      if (!Number.isFinite(hour) || hourStartOf(hour) > hourStartOf(now)) continue;
      // A window holding live data differs from the stored rollup once merged: it stays dirty.
      const wasDirty = this.windows.get(hourStartOf(hour))?.dirty ?? false;
      const window = this.windowFor(rollup.hourStart, now);
      if (!window) continue;
      for (const key of COUNT_KEYS) window.counts[key] += countOf(rollup.counts?.[key]);
      for (const [target, encoded] of [
        [window.processing, rollup.processingHistogram],
        [window.endToEnd, rollup.endToEndHistogram],
      ] as const) {
        try {
          addEncoded(target, encoded);
        } catch (error) {
          errors.push({ rollup, error });
        }
      }
      // A fresh window equals what is stored: only new data makes it worth writing again.
      window.dirty = wasDirty;
    }
    return errors;
  }

  /**
   * Adds one hour of stored outcomes, aggregated by the store (`ResultStore.hourlyOutcomes`):
   * counts, and each histogram bucket's lowest value recorded `count` times, which builds the same
   * histogram as recording every row. An hour outside retention is skipped.
   *
   * @returns false when the hour was skipped.
   */
  restoreHour(outcome: HourlyOutcome): boolean {
    const window = this.windowFor(outcome.hourStart, this.clock());
    if (!window) return false;
    for (const key of COUNT_KEYS) window.counts[key] += countOf(outcome.counts[key]);
    for (const [target, buckets] of [
      [window.processing, outcome.processing],
      [window.endToEnd, outcome.endToEnd],
    ] as const) {
      for (const [value, count] of buckets) {
        if (Number.isFinite(value) && count > 0) target.recordValueWithCount(clampMicros(value), Math.floor(count));
      }
    }
    return true;
  }

  /**
   * Adds every window of `other` (counts and histograms) into these, marking them dirty. A restore
   * builds its windows apart and adds them in one synchronous step when it has read everything,
   * so a restore that fails half-way leaves nothing behind and live counts are never touched.
   *
   * @returns how many windows were added (those outside retention are skipped).
   */
  addFrom(other: HourlyWindows): number {
    const now = this.clock();
    let added = 0;
    for (const view of other.views()) {
      const window = this.windowFor(new Date(view.hourStart), now);
      if (!window || window.hourStart !== view.hourStart) continue;
      for (const key of COUNT_KEYS) window.counts[key] += countOf(view.counts[key]);
      window.processing.add(view.processing);
      window.endToEnd.add(view.endToEnd);
      added += 1;
    }
    return added;
  }

  /**
   * Drops (and frees) the windows that fell out of retention at the clock's time. Every public
   * call does this too; a timer may call it to release memory while traffic is idle.
   *
   * @returns how many windows were dropped.
   */
  rotate(now: number = this.clock()): number {
    const currentHour = hourStartOf(now);
    if (currentHour === this.rotatedAtHour) return 0;
    this.rotatedAtHour = currentHour;
    const oldest = oldestRetainedHour(now, this.retentionHours);
    let dropped = 0;
    for (const [hour, window] of this.windows) {
      if (hour >= oldest) continue;
      this.windows.delete(hour);
      window.processing.destroy();
      window.endToEnd.destroy();
      dropped += 1;
    }
    return dropped;
  }

  /** Every retained window as a rollup of `replicaId`, oldest first. */
  rollups(replicaId: string, now: number = this.clock()): Rollup[] {
    this.rotate(now);
    const oldest = oldestRetainedHour(now, this.retentionHours);
    return this.sorted()
      .filter((w) => w.hourStart >= oldest)
      .map((w) => this.toRollup(w, replicaId));
  }

  /**
   * The windows changed since the previous call, as rollups, and clears their dirty flag. If
   * writing them fails, hand them back with `markDirty` so the next flush retries.
   */
  dirtyRollups(replicaId: string): Rollup[] {
    this.rotate();
    const out: Rollup[] = [];
    for (const window of this.sorted()) {
      if (!window.dirty) continue;
      window.dirty = false;
      out.push(this.toRollup(window, replicaId));
    }
    return out;
  }

  /** Marks the windows of these rollups dirty again (after a failed write); evicted hours are ignored. */
  markDirty(rollups: readonly Pick<Rollup, 'hourStart'>[]): void {
    for (const rollup of rollups) {
      const window = this.windows.get(rollup.hourStart.getTime());
      if (window) window.dirty = true;
    }
  }

  /** The live view: every retained window with counts and latency summaries in ms, oldest first. */
  snapshot(): WindowSnapshot[] {
    this.rotate();
    return this.sorted().map((w) => ({
      hourStart: new Date(w.hourStart),
      counts: { ...w.counts },
      processing: summarize(w.processing),
      endToEnd: summarize(w.endToEnd),
      updatedAt: new Date(w.updatedAt),
    }));
  }

  /** The retained windows, oldest first, for views that add their histograms (see WindowView). */
  views(): WindowView[] {
    this.rotate();
    return this.sorted().map((w) => ({ hourStart: w.hourStart, counts: { ...w.counts }, processing: w.processing, endToEnd: w.endToEnd }));
  }

  /** Number of windows held (the memory bound: at most retentionHours + 1). */
  get size(): number {
    this.rotate();
    return this.windows.size;
  }

  /** Frees every histogram; the instance must not be used afterwards. */
  close(): void {
    for (const window of this.windows.values()) {
      window.processing.destroy();
      window.endToEnd.destroy();
    }
    this.windows.clear();
  }

  private windowFor(at: Date, now: number): Window | null {
    this.rotate(now);
    const atMs = at instanceof Date ? at.getTime() : Number.NaN;
    if (!Number.isFinite(atMs)) return null;
    const hour = Math.min(hourStartOf(atMs), hourStartOf(now));
    if (hour < oldestRetainedHour(now, this.retentionHours)) return null;
    let window = this.windows.get(hour);
    if (!window) {
      window = { hourStart: hour, counts: zeroCounts(), processing: newHistogram(), endToEnd: newHistogram(), updatedAt: now, dirty: true };
      this.windows.set(hour, window);
    }
    window.updatedAt = now;
    window.dirty = true;
    return window;
  }

  private sorted(): Window[] {
    return [...this.windows.values()].sort((a, b) => a.hourStart - b.hourStart);
  }

  private toRollup(window: Window, replicaId: string): Rollup {
    return {
      replicaId,
      hourStart: new Date(window.hourStart),
      counts: { ...window.counts },
      processingHistogram: encodeHistogram(window.processing),
      endToEndHistogram: encodeHistogram(window.endToEnd),
      updatedAt: new Date(window.updatedAt),
    };
  }
}
