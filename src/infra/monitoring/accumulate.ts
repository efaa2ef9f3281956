/**
 * Running totals since process start, fed from written batches: the cumulative values each
 * Monitoring point reports. Pure and clock-free, so what a point will say is easy to test.
 */
import { ANOMALY_TYPES, type AnomalyType, type ChangeCounts } from '../../domain/types.js';
import { LATENCY_BUCKETS } from './metrics.js';

export interface ExponentialBuckets {
  readonly numFiniteBuckets: number;
  readonly growthFactor: number;
  readonly scale: number;
}

/**
 * Index of the bucket holding `value`: 0 underflow (< scale), 1..N finite, N+1 overflow.
 *
 * @example
 * bucketIndex(1, LATENCY_BUCKETS) // 1: [1, 1.4)
 */
export function bucketIndex(value: number, b: ExponentialBuckets): number {
  if (!(value >= b.scale)) return 0;
  let i = Math.floor(Math.log(value / b.scale) / Math.log(b.growthFactor)) + 1;
  // Floating-point logs can land one off at a bound: settle against the bounds themselves.
  while (i > 1 && value < b.scale * b.growthFactor ** (i - 1)) i--;
  while (i <= b.numFiniteBuckets && value >= b.scale * b.growthFactor ** i) i++;
  return Math.min(i, b.numFiniteBuckets + 1);
}

export interface DistributionSnapshot {
  readonly count: number;
  readonly mean: number;
  readonly sumOfSquaredDeviation: number;
  /** numFiniteBuckets + 2 counts. */
  readonly bucketCounts: readonly number[];
}

/** Count, mean and squared deviation (Welford) plus bucket counts, over fixed buckets. */
export class Distribution {
  private count = 0;
  private mean = 0;
  private m2 = 0;
  private readonly buckets: number[];

  constructor(readonly options: ExponentialBuckets = LATENCY_BUCKETS) {
    this.buckets = new Array<number>(options.numFiniteBuckets + 2).fill(0);
  }

  record(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    this.count++;
    const delta = value - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (value - this.mean);
    this.buckets[bucketIndex(value, this.options)]!++;
  }

  snapshot(): DistributionSnapshot {
    return { count: this.count, mean: this.mean, sumOfSquaredDeviation: this.m2, bucketCounts: [...this.buckets] };
  }
}

export const CHANGE_KINDS = ['added', 'removed', 'moved', 'modified'] as const;
export const DEAD_LETTER_REASONS = ['malformed', 'failed'] as const;

export interface TotalsSnapshot {
  readonly pairsProcessed: number;
  readonly changes: Readonly<Record<(typeof CHANGE_KINDS)[number], number>>;
  readonly anomalies: Readonly<Record<AnomalyType, number>>;
  readonly deadLettered: Readonly<Record<(typeof DEAD_LETTER_REASONS)[number], number>>;
  readonly processingLatency: DistributionSnapshot;
  readonly endToEndLatency: DistributionSnapshot;
}

export class MetricTotals {
  private pairs = 0;
  private readonly changes = { added: 0, removed: 0, moved: 0, modified: 0 };
  private readonly anomalies = Object.fromEntries(ANOMALY_TYPES.map((t) => [t, 0])) as Record<AnomalyType, number>;
  private readonly deadLettered = { malformed: 0, failed: 0 };
  private readonly processing = new Distribution();
  private readonly endToEnd = new Distribution();

  /** A fresh result (replays are not recorded: the sink decides freshness first). */
  recordResult(counts: ChangeCounts, processingMs: number, endToEndMs: number): void {
    this.pairs++;
    for (const kind of CHANGE_KINDS) this.changes[kind] += counts[kind];
    this.processing.record(processingMs);
    this.endToEnd.record(endToEndMs);
  }

  recordAnomaly(type: AnomalyType): void {
    this.anomalies[type]++;
  }

  recordDeadLetter(reason: 'malformed' | 'failed'): void {
    this.deadLettered[reason]++;
  }

  snapshot(): TotalsSnapshot {
    return {
      pairsProcessed: this.pairs,
      changes: { ...this.changes },
      anomalies: { ...this.anomalies },
      deadLettered: { ...this.deadLettered },
      processingLatency: this.processing.snapshot(),
      endToEndLatency: this.endToEnd.snapshot(),
    };
  }
}
