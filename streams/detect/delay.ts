/**
 * Delayed uploads: a pair that took too long from upload to durable result, and a queue backlog
 * that keeps growing, both reported without flooding the anomaly table.
 */
import type { Anomaly, Severity } from '../../src/domain/types.js';
import { HOUR_MS, hourStartOf } from '../aggregate/hourly-windows.js';
import { LruMap } from './lru.js';

export interface BacklogOptions {
  /** Consecutive non-decreasing samples needed. @default 5 */
  readonly minSamples?: number;
  /** Time those samples must span, in ms. @default 5 minutes */
  readonly minSpanMs?: number;
  /** Depth the backlog must reach; a small queue that grows is normal traffic. @default 1000 */
  readonly floor?: number;
}

export interface DelayDetectorOptions {
  /** ms since epoch. */
  readonly clock: () => number;
  /** A result whose end-to-end age exceeds this is a delayed upload. @default 3600 */
  readonly thresholdSeconds?: number;
  /** At most one delayed_upload per drawing within this many ms. @default 1 hour */
  readonly perDrawingIntervalMs?: number;
  /** Drawings remembered for the rate limit. @default 100_000 */
  readonly maxDrawings?: number;
  readonly backlog?: BacklogOptions;
}

export interface DelayObservation {
  readonly drawingId: string;
  readonly taskKey: string;
  /** published or `uploaded_at` → durable, in ms. */
  readonly endToEndMs: number;
}

interface BacklogSample {
  readonly depth: number;
  readonly at: number;
}

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${integer ? 'a whole number' : 'a number'} above 0, got ${value}`);
  }
  return value;
}

/**
 * Delayed-upload and backlog-growth detection.
 *
 * @example
 * const delays = new DelayDetector({ clock: Date.now, thresholdSeconds: config.delayedUploadSeconds });
 * delays.observeResult({ drawingId, taskKey, endToEndMs });
 * delays.observeBacklog(undeliveredMessages, new Date());
 */
export class DelayDetector {
  private readonly clock: () => number;
  private readonly thresholdMs: number;
  private readonly intervalMs: number;
  private readonly lastFired: LruMap<string, number>;
  private readonly minSamples: number;
  private readonly minSpanMs: number;
  private readonly floor: number;
  /** First sample of the current run of non-decreasing depths, the last sample, and the run length. */
  private runStart: BacklogSample | null = null;
  private last: BacklogSample | null = null;
  private runLength = 0;
  /** One anomaly per growth episode: re-armed when the depth drops. */
  private armed = true;
  private backlogFiredAt = Number.NEGATIVE_INFINITY;

  constructor(options: DelayDetectorOptions) {
    this.clock = options.clock;
    this.thresholdMs = positive('thresholdSeconds', options.thresholdSeconds ?? 3600) * 1000;
    this.intervalMs = positive('perDrawingIntervalMs', options.perDrawingIntervalMs ?? HOUR_MS);
    this.lastFired = new LruMap(positive('maxDrawings', options.maxDrawings ?? 100_000, true));
    this.minSamples = positive('backlog.minSamples', options.backlog?.minSamples ?? 5, true);
    this.minSpanMs = options.backlog?.minSpanMs ?? 5 * 60_000;
    if (!(Number.isFinite(this.minSpanMs) && this.minSpanMs >= 0)) {
      throw new RangeError(`backlog.minSpanMs must be a number from 0 up, got ${this.minSpanMs}`);
    }
    this.floor = positive('backlog.floor', options.backlog?.floor ?? 1000);
  }

  /**
   * A `delayed_upload` when the result's end-to-end age exceeds the threshold, at most once per
   * drawing per interval. The id is the task's, so a replay stores it once.
   */
  observeResult({ drawingId, taskKey, endToEndMs }: DelayObservation): Anomaly[] {
    if (!(endToEndMs > this.thresholdMs)) return [];
    const now = this.clock();
    const last = this.lastFired.get(drawingId);
    if (last !== undefined && now - last < this.intervalMs && now >= last) return [];
    this.lastFired.set(drawingId, now);
    const severity: Severity = endToEndMs >= 2 * this.thresholdMs ? 'high' : 'medium';
    return [
      {
        id: `delayed_upload:${drawingId}:${taskKey}`,
        drawingId,
        type: 'delayed_upload',
        severity,
        details: {
          kind: 'end_to_end',
          task_key: taskKey,
          age_seconds: endToEndMs / 1000,
          threshold_seconds: this.thresholdMs / 1000,
        },
        timestamp: new Date(now),
      },
    ];
  }

  /**
   * Feeds one queue-depth sample (e.g. Pub/Sub undelivered messages, or the local queue's ready
   * count). Fires once per growth episode when the depth has not decreased over `minSamples`
   * samples spanning `minSpanMs`, grew overall, and reached `floor`; at most once an hour, with an
   * id fixed per hour so replicas watching one subscription store it once. Samples out of order,
   * negative or not finite are ignored.
   */
  observeBacklog(depth: number, at: Date | number): Anomaly[] {
    const atMs = typeof at === 'number' ? at : at instanceof Date ? at.getTime() : Number.NaN;
    if (!Number.isFinite(depth) || depth < 0 || !Number.isFinite(atMs)) return [];
    if (this.last && atMs <= this.last.at) return [];
    const sample = { depth, at: atMs };
    if (!this.last || !this.runStart || depth < this.last.depth) {
      this.runStart = sample;
      this.runLength = 1;
      this.armed = true;
    } else {
      this.runLength += 1;
    }
    this.last = sample;

    const start = this.runStart;
    const growing =
      this.armed &&
      this.runLength >= this.minSamples &&
      atMs - start.at >= this.minSpanMs &&
      depth > start.depth &&
      depth >= this.floor;
    if (!growing) return [];
    this.armed = false;
    const now = this.clock();
    if (now - this.backlogFiredAt < HOUR_MS && now >= this.backlogFiredAt) return [];
    this.backlogFiredAt = now;
    const spanSeconds = (atMs - start.at) / 1000;
    return [
      {
        id: `delayed_upload:backlog:${new Date(hourStartOf(now)).toISOString()}`,
        drawingId: null,
        type: 'delayed_upload',
        severity: depth >= 10 * this.floor ? 'high' : 'medium',
        details: {
          kind: 'backlog',
          depth,
          start_depth: start.depth,
          growth: depth - start.depth,
          samples: this.runLength,
          span_seconds: spanSeconds,
          growth_per_minute: spanSeconds > 0 ? ((depth - start.depth) / spanSeconds) * 60 : depth - start.depth,
          floor: this.floor,
        },
        timestamp: new Date(now),
      },
    ];
  }
}
