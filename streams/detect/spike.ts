/**
 * Change spikes: a drawing whose result changes far more than its recent results did, and an
 * hour with far more changes than the hour before, flagged as they happen rather than by a
 * query over the day as the seed did.
 */
import type { Anomaly, ChangeCounts, Severity } from '../../src/domain/types.js';
import { HOUR_MS, hourStartOf } from '../aggregate/hourly-windows.js';
import { LruMap } from './lru.js';

export interface SpikeDetectorOptions {
  /** ms since epoch: anomaly timestamps and the current hour. */
  readonly clock: () => number;
  /** A result is a spike at `changes ≥ factor × baseline`. @default 10 */
  readonly factor?: number;
  /** Results per drawing the baseline averages. @default 10 */
  readonly historySize?: number;
  /** Prior results a drawing needs before it can spike. @default 3 */
  readonly minHistory?: number;
  /**
   * Lowest baseline used: with the default 1 and factor 10, a drawing whose recent results had
   * no changes spikes at 10 changes, not at its first single change. Must be above 0.
   * @default 1
   */
  readonly baselineFloor?: number;
  /** Drawings remembered; the least recently seen are forgotten. @default 100_000 */
  readonly maxDrawings?: number;
  /** The previous hour needs this many changes before the next can be a system-wide spike. @default 50 */
  readonly systemMinPreviousChanges?: number;
}

export interface SpikeObservation {
  readonly drawingId: string;
  /** The task's idempotency key: the anomaly id, and a replayed result is not counted twice. */
  readonly taskKey: string;
  readonly counts: ChangeCounts;
  /** When the result became durable: decides its hour for the system-wide check. */
  readonly at: Date;
}

interface DrawingHistory {
  /** Total changes of the last results, oldest first, at most historySize. */
  readonly totals: number[];
  readonly taskKeys: string[];
}

/** Hours of system-wide totals kept: the current one, the previous, and one more for late results. */
const SYSTEM_HOURS_KEPT = 3;

/**
 * Sum of added, removed, moved and modified, ignoring non-numbers. Renamed objects (geometry
 * matching, issue 13) are left out on purpose: a re-exported drawing whose ids were regenerated
 * has not changed, and must not look like a spike.
 */
export function totalChanges(counts: ChangeCounts): number {
  let total = 0;
  for (const n of [counts.added, counts.removed, counts.moved, counts.modified]) {
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) total += n;
  }
  return total;
}

function validate(name: string, value: number, min: number, integer: boolean): number {
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} up, got ${value}`);
  }
  return value;
}

/** Severity grows with how far past the threshold a spike is. */
function severityOf(ratio: number, factor: number): Severity {
  return ratio >= 5 * factor ? 'high' : 'medium';
}

/**
 * The system-wide check on its own, for callers that hold hourly totals merged across replicas
 * (e.g. the `/metrics` view): a spike when `changes ≥ factor × previousChanges` and the previous
 * hour reached `minPreviousChanges`. The id is fixed per hour, so every replica stores it once.
 *
 * @example
 * detectSystemSpike({ hourStart: 10 * HOUR_MS, changes: 900, previousChanges: 60, now: new Date() });
 */
export function detectSystemSpike(input: {
  readonly hourStart: number;
  readonly changes: number;
  readonly previousChanges: number;
  readonly now: Date;
  readonly factor?: number;
  readonly minPreviousChanges?: number;
}): Anomaly | null {
  const factor = input.factor ?? 10;
  const minPrevious = input.minPreviousChanges ?? 50;
  if (!(input.previousChanges >= minPrevious) || !(input.previousChanges > 0)) return null;
  if (!(input.changes >= factor * input.previousChanges)) return null;
  const hour = new Date(input.hourStart).toISOString();
  const ratio = input.changes / input.previousChanges;
  return {
    id: `spike_detected:system:${hour}`,
    drawingId: null,
    type: 'spike_detected',
    severity: severityOf(ratio, factor),
    details: {
      scope: 'system',
      hour_start: hour,
      hour_changes: input.changes,
      previous_hour_changes: input.previousChanges,
      ratio,
      factor,
      min_previous_changes: minPrevious,
    },
    timestamp: input.now,
  };
}

/**
 * Per-drawing and system-wide spike detection over this replica's results. Feed it each result
 * once it is durable and fresh (not a replay): a task key already in a drawing's history is
 * ignored, but only the last `historySize` keys are remembered.
 *
 * @example
 * const spikes = new SpikeDetector({ clock: Date.now, factor: config.spikeFactor });
 * const anomalies = spikes.observe({ drawingId, taskKey, counts, at: createdAt });
 */
export class SpikeDetector {
  private readonly clock: () => number;
  private readonly factor: number;
  /** Results per drawing the baseline averages (a restore reads this many per drawing). */
  readonly historySize: number;
  private readonly minHistory: number;
  private readonly baselineFloor: number;
  private readonly systemMinPrevious: number;
  private readonly drawings: LruMap<string, DrawingHistory>;
  /** Hour start → total changes seen in that hour. */
  private readonly hourTotals = new Map<number, number>();
  private readonly firedHours = new Set<number>();

  constructor(options: SpikeDetectorOptions) {
    this.clock = options.clock;
    this.factor = validate('factor', options.factor ?? 10, 1, false);
    this.historySize = validate('historySize', options.historySize ?? 10, 1, true);
    this.minHistory = validate('minHistory', options.minHistory ?? 3, 1, true);
    if (this.minHistory > this.historySize) {
      throw new RangeError(`minHistory (${this.minHistory}) must not exceed historySize (${this.historySize})`);
    }
    this.baselineFloor = options.baselineFloor ?? 1;
    // A zero floor would let an all-zero history call a result with 0 changes a spike.
    if (!(Number.isFinite(this.baselineFloor) && this.baselineFloor > 0)) {
      throw new RangeError(`baselineFloor must be a number above 0, got ${this.baselineFloor}`);
    }
    this.systemMinPrevious = validate('systemMinPreviousChanges', options.systemMinPreviousChanges ?? 50, 1, false);
    this.drawings = new LruMap(validate('maxDrawings', options.maxDrawings ?? 100_000, 1, true));
  }

  /** Checks one result against its drawing's baseline and its hour against the previous hour. */
  observe(result: SpikeObservation): Anomaly[] {
    const now = this.clock();
    const total = totalChanges(result.counts);
    const out: Anomaly[] = [];

    let history = this.drawings.get(result.drawingId);
    if (history?.taskKeys.includes(result.taskKey)) return out;
    if (!history) {
      history = { totals: [], taskKeys: [] };
      this.drawings.set(result.drawingId, history);
    }

    const drawingSpike = this.checkDrawing(result, total, history, now);
    if (drawingSpike) out.push(drawingSpike);
    this.append(history, result.taskKey, total);

    const systemSpike = this.addToHour(result.at, total, now);
    if (systemSpike) out.push(systemSpike);
    return out;
  }

  /**
   * Adds a result stored before a restart to its drawing's baseline, without checking it: history
   * is not news. Feed results oldest first; a key already in the history is ignored.
   */
  remember(result: SpikeObservation): void {
    let history = this.drawings.get(result.drawingId);
    if (history?.taskKeys.includes(result.taskKey)) return;
    if (!history) {
      history = { totals: [], taskKeys: [] };
      this.drawings.set(result.drawingId, history);
    }
    this.append(history, result.taskKey, totalChanges(result.counts));
  }

  /**
   * Primes the hourly totals after a restart (e.g. from `HourlyWindows.snapshot()`), so the first
   * hour is compared with the one before it. Replaces what the detector counted for those hours.
   */
  seedHourlyTotals(totals: Iterable<{ readonly hourStart: Date | number; readonly changes: number }>): void {
    for (const { hourStart, changes } of totals) {
      const hour = hourStartOf(typeof hourStart === 'number' ? hourStart : hourStart.getTime());
      if (Number.isFinite(hour) && Number.isFinite(changes) && changes >= 0) this.hourTotals.set(hour, changes);
    }
    this.trimHours(this.clock());
  }

  /** Drawings currently remembered (bounded by `maxDrawings`). */
  get trackedDrawings(): number {
    return this.drawings.size;
  }

  private append(history: DrawingHistory, taskKey: string, total: number): void {
    history.totals.push(total);
    history.taskKeys.push(taskKey);
    if (history.totals.length > this.historySize) {
      history.totals.shift();
      history.taskKeys.shift();
    }
  }

  private checkDrawing(result: SpikeObservation, total: number, history: DrawingHistory, now: number): Anomaly | null {
    const n = history.totals.length;
    if (n < this.minHistory) return null;
    const sum = history.totals.reduce((a, b) => a + b, 0);
    const mean = sum / n;
    // Compare `total × n ≥ factor × sum` rather than against the mean: no rounding at the threshold.
    const spike = mean >= this.baselineFloor ? total * n >= this.factor * sum : total >= this.factor * this.baselineFloor;
    if (!spike) return null;
    const baseline = Math.max(mean, this.baselineFloor);
    const ratio = total / baseline;
    return {
      id: `spike_detected:${result.drawingId}:${result.taskKey}`,
      drawingId: result.drawingId,
      type: 'spike_detected',
      severity: severityOf(ratio, this.factor),
      details: {
        scope: 'drawing',
        task_key: result.taskKey,
        changes: total,
        counts: { added: result.counts.added, removed: result.counts.removed, moved: result.counts.moved, modified: result.counts.modified },
        baseline: mean,
        baseline_floor: this.baselineFloor,
        baseline_results: n,
        ratio,
        factor: this.factor,
      },
      timestamp: new Date(now),
    };
  }

  private addToHour(at: Date, total: number, now: number): Anomaly | null {
    const atMs = at instanceof Date ? at.getTime() : Number.NaN;
    if (!Number.isFinite(atMs)) return null;
    const currentHour = hourStartOf(now);
    // A result stamped ahead of the clock (skew) counts in the current hour, as the windows do.
    const hour = Math.min(hourStartOf(atMs), currentHour);
    if (hour <= currentHour - SYSTEM_HOURS_KEPT * HOUR_MS) return null;
    this.trimHours(now);
    const changes = (this.hourTotals.get(hour) ?? 0) + total;
    this.hourTotals.set(hour, changes);
    if (this.firedHours.has(hour)) return null;
    const anomaly = detectSystemSpike({
      hourStart: hour,
      changes,
      previousChanges: this.hourTotals.get(hour - HOUR_MS) ?? 0,
      now: new Date(now),
      factor: this.factor,
      minPreviousChanges: this.systemMinPrevious,
    });
    if (anomaly) this.firedHours.add(hour);
    return anomaly;
  }

  private trimHours(now: number): void {
    const oldest = hourStartOf(now) - SYSTEM_HOURS_KEPT * HOUR_MS;
    for (const hour of this.hourTotals.keys()) if (hour <= oldest) this.hourTotals.delete(hour);
    for (const hour of this.firedHours) if (hour <= oldest) this.firedHours.delete(hour);
  }
}
