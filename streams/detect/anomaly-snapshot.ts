/**
 * What `GET /health` reads from the shared store (the last day's anomalies), kept between
 * requests and refreshed in the background, as `/metrics` keeps its readings
 * (streams/aggregate/store-snapshot.ts), so that a slow or hung store never makes `/health` slow.
 * Unlike `/metrics` it never waits for a refresh after this process wrote something: the
 * anomalies this process wrote are held here until a read that began after them has come back,
 * and are shown beside the stored ones at once. Only the very first answer waits for the store,
 * and only up to `firstWaitMs`.
 */
import type { Anomaly } from '../../src/domain/types.js';
import { TIMED_OUT, within } from '../../src/timeout.js';

export interface AnomalySnapshotOptions {
  /** Reads the store: anomalies since, newest first, at most `limit`. */
  readonly read: (since: Date, limit: number) => Promise<Anomaly[]>;
  readonly clock: () => number;
  /** How far back the answer reaches. */
  readonly lookbackMs: number;
  /** Anomalies read (and own ones kept) at most. */
  readonly limit: number;
  /** Readings younger than this are served without starting a refresh. */
  readonly freshMs: number;
  /** How long the first answer waits for the first read before it is given without it. */
  readonly firstWaitMs: number;
}

export interface AnomalyReading {
  /** Stored and own anomalies since the lookback, one per id, newest first, at most `limit`. */
  readonly anomalies: Anomaly[];
  /** Why the stored anomalies are missing or old, when they are. */
  readonly warning: string | null;
}

interface Taken {
  readonly anomalies: readonly Anomaly[];
  readonly at: number;
}

export class AnomalySnapshot {
  private taken: Taken | null = null;
  private reading: Promise<void> | null = null;
  private readingSince = 0;
  private waitedOnce = false;
  private lastError: string | null = null;
  /** Anomalies this process wrote, with the write's sequence number, oldest first. */
  private own: { readonly anomaly: Anomaly; readonly seq: number }[] = [];
  private seq = 0;

  constructor(private readonly options: AnomalySnapshotOptions) {}

  /** Notes anomalies this process has just written durably: the next answer shows them. */
  written(anomalies: readonly Anomaly[]): void {
    this.seq += 1;
    for (const anomaly of anomalies) this.own.push({ anomaly, seq: this.seq });
    if (this.own.length > this.options.limit) this.own.splice(0, this.own.length - this.options.limit);
  }

  /**
   * The anomalies for one `/health` answer.
   *
   * @example
   * const { anomalies, warning } = await snapshot.get();
   */
  async get(): Promise<AnomalyReading> {
    const now = this.options.clock();
    if (!this.taken || now - this.taken.at >= this.options.freshMs) this.refresh();
    if (!this.taken && this.reading && !this.waitedOnce) {
      this.waitedOnce = true;
      await within(this.reading, this.options.firstWaitMs);
    }
    return { anomalies: this.merged(now), warning: this.warning(now) };
  }

  /** Starts a read unless one is running; its failure is kept for the warning. */
  private refresh(): void {
    if (this.reading) return;
    const startedAt = this.options.clock();
    const includesUpTo = this.seq;
    const reading = (async () => {
      try {
        const anomalies = await this.options.read(new Date(startedAt - this.options.lookbackMs), this.options.limit);
        this.taken = { anomalies, at: startedAt };
        this.lastError = null;
        // Written before this read began: the store has them now.
        this.own = this.own.filter((o) => o.seq > includesUpTo);
      } catch (err) {
        this.lastError = (err as Error).message;
      } finally {
        this.reading = null;
      }
    })();
    this.reading = reading;
    this.readingSince = startedAt;
  }

  private merged(now: number): Anomaly[] {
    const since = now - this.options.lookbackMs;
    const byId = new Map<string, Anomaly>();
    for (const anomaly of [...(this.taken?.anomalies ?? []), ...this.own.map((o) => o.anomaly)]) {
      const at = anomaly.timestamp instanceof Date ? anomaly.timestamp.getTime() : Number.NaN;
      if (!(at >= since)) continue;
      byId.set(anomaly.id, anomaly);
    }
    return [...byId.values()].sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime()).slice(0, this.options.limit);
  }

  private warning(now: number): string | null {
    if (!this.taken) {
      return `stored anomalies could not be read yet: ${this.lastError ?? `no answer within ${this.options.firstWaitMs / 1000} s`}; showing this replica's own`;
    }
    const age = Math.round((now - this.taken.at) / 1000);
    if (this.lastError !== null) return `stored anomalies are ${age} s old: the last read failed: ${this.lastError}`;
    const waiting = this.reading ? now - this.readingSince : 0;
    if (waiting >= this.options.firstWaitMs) return `stored anomalies are ${age} s old: the store has not answered for ${Math.round(waiting / 1000)} s`;
    return null;
  }
}
