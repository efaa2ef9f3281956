/**
 * What `GET /metrics` reads from the shared store (other replicas' rollups, the data-quality
 * count), kept between requests: a store query on every request would tie the route's latency,
 * and on BigQuery its cost, to how often dashboards poll. The readings only change when another
 * replica flushes (every ROLLUP_FLUSH_SECONDS) or when this process writes anomalies, so:
 * - a write by this process is seen by the next answer (`changed()` makes the readings stale);
 * - otherwise readings younger than `freshMs` are served as they are, older ones up to `staleMs`
 *   are served while one refresh runs in the background, and older still are waited for;
 * - at most one read runs at a time, however many requests arrive.
 */
import type { Rollup } from '../../src/domain/sink.js';

export interface StoreReadings {
  readonly rollups: readonly Rollup[];
  readonly dataQualityIssues: number;
}

export interface StoreSnapshotOptions {
  /** Reads the store; its rejection reaches the request that waits for it. */
  readonly read: () => Promise<StoreReadings>;
  readonly clock: () => number;
  /** Readings younger than this are served without a refresh. */
  readonly freshMs: number;
  /** Readings older than this are not served: the request waits for a refresh. */
  readonly staleMs: number;
  /** Told when a background refresh fails (the stale readings stay and are retried later). */
  readonly onBackgroundError?: (err: unknown) => void;
}

interface Taken {
  readonly readings: StoreReadings;
  readonly at: number;
  /** The write generation the read started after: it includes every write counted up to it. */
  readonly generation: number;
}

interface Reading {
  readonly promise: Promise<Taken>;
  readonly generation: number;
}

export class StoreSnapshot {
  private generation = 0;
  private taken: Taken | null = null;
  private reading: Reading | null = null;

  constructor(private readonly options: StoreSnapshotOptions) {
    if (!(options.freshMs >= 0 && options.staleMs >= options.freshMs)) {
      throw new RangeError(`need 0 <= freshMs <= staleMs, got ${options.freshMs} and ${options.staleMs}`);
    }
  }

  /** Notes a completed write by this process that the next answer must include. */
  changed(): void {
    this.generation += 1;
  }

  /**
   * The readings for one request.
   *
   * @example
   * const { rollups, dataQualityIssues } = await snapshot.get();
   */
  async get(): Promise<StoreReadings> {
    const wanted = this.generation;
    const taken = this.taken;
    if (taken && taken.generation >= wanted) {
      const age = this.options.clock() - taken.at;
      if (age < this.options.freshMs) return taken.readings;
      if (age < this.options.staleMs) {
        const running = this.reading;
        const reading = this.refresh(wanted);
        // Reported once per read, not once per request that found it running.
        if (reading !== running) reading.promise.catch((err: unknown) => this.options.onBackgroundError?.(err));
        return taken.readings;
      }
    }
    return (await this.refresh(wanted).promise).readings;
  }

  /**
   * The read that will include generation `wanted`: the one running if it started after that
   * write, else a new one queued behind it, so reads never overlap.
   */
  private refresh(wanted: number): Reading {
    const running = this.reading;
    if (running && running.generation >= wanted) return running;
    const generation = this.generation;
    const start = async (): Promise<Taken> => {
      const at = this.options.clock();
      const readings = await this.options.read();
      // Reads never overlap, so the one finishing last is the newest.
      this.taken = { readings, at, generation };
      return this.taken;
    };
    const promise = (running ? running.promise.then(start, start) : start()).finally(() => {
      if (this.reading === reading) this.reading = null;
    });
    const reading: Reading = { promise, generation };
    this.reading = reading;
    return reading;
  }
}
