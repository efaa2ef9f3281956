/**
 * Keeps other replicas' rollups merged per hour between `/metrics` calls: decoding and adding
 * every stored histogram on each call blocks the event loop for ~100 ms at 3 replicas × 24 h,
 * while only the current hour's rollups usually change between two calls.
 */
import type { Rollup } from '../../src/domain/sink.js';
import { addEncoded, EMPTY_HISTOGRAM, newHistogram, type Histogram } from './histogram.js';

/** A rollup whose histograms were left out of a merge (its counts still count). */
export interface InvalidRollup {
  readonly replicaId: string;
  readonly hourStart: Date;
  readonly error: unknown;
}

/**
 * Decodes a rollup's two histograms into the targets, one at a time, freeing each decoded copy at
 * once; a histogram that cannot be decoded is skipped and reported.
 */
export function addRollupHistograms(rollup: Rollup, processing: Histogram, endToEnd: Histogram): InvalidRollup[] {
  const invalid: InvalidRollup[] = [];
  for (const [target, encoded] of [
    [processing, rollup.processingHistogram],
    [endToEnd, rollup.endToEndHistogram],
  ] as const) {
    // Hours with failures only carry empty histograms: skip the decode.
    if (encoded === EMPTY_HISTOGRAM) continue;
    try {
      addEncoded(target, encoded);
    } catch (error) {
      invalid.push({ replicaId: rollup.replicaId, hourStart: rollup.hourStart, error });
    }
  }
  return invalid;
}

/** One hour of rollups merged; owned by the cache. */
export interface MergedHour {
  readonly processing: Histogram;
  readonly endToEnd: Histogram;
  readonly invalid: readonly InvalidRollup[];
}

interface Entry extends MergedHour {
  readonly key: string;
}

/**
 * Merged histograms per hour, reused while that hour's rollups are byte for byte the same.
 * Holds at most two histograms per hour passed to the last `retainOnly`; call `close()` when done.
 *
 * @example
 * const cache = new RollupHourCache();
 * buildMetricsView({ ...input, cache }); // repeated calls reuse unchanged hours
 * cache.close();
 */
export class RollupHourCache {
  private readonly entries = new Map<number, Entry>();

  /** The merge of `rollups` (all of hour `hour`), rebuilt only when they changed. */
  merged(hour: number, rollups: readonly Rollup[]): MergedHour {
    // Content, not `updatedAt`, decides: a store may rewrite a rollup with the same timestamp.
    const key = rollups
      .map((r) => `${r.replicaId}\u0000${r.processingHistogram}\u0000${r.endToEndHistogram}`)
      .sort()
      .join('\u0001');
    const cached = this.entries.get(hour);
    if (cached?.key === key) return cached;

    const processing = newHistogram();
    const endToEnd = newHistogram();
    const invalid = rollups.flatMap((r) => addRollupHistograms(r, processing, endToEnd));
    if (cached) this.free(cached);
    const entry: Entry = { key, processing, endToEnd, invalid };
    this.entries.set(hour, entry);
    return entry;
  }

  /** Frees the hours not listed (they left the window or have no rollups any more). */
  retainOnly(hours: ReadonlySet<number>): void {
    for (const [hour, entry] of this.entries) {
      if (hours.has(hour)) continue;
      this.entries.delete(hour);
      this.free(entry);
    }
  }

  /** Number of hours held. */
  get size(): number {
    return this.entries.size;
  }

  close(): void {
    this.retainOnly(new Set());
  }

  private free(entry: Entry): void {
    entry.processing.destroy();
    entry.endToEnd.destroy();
  }
}
