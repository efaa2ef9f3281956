/**
 * The one retry policy for sink writes, so an outage pauses the stream instead of spending
 * delivery attempts. A write that finds the durable sink unavailable is retried in process, with
 * exponential backoff and jitter, for as long as the outage lasts; after `failuresToOpen`
 * consecutive failures the breaker opens, the pipeline stops taking new deliveries (the ones it
 * holds keep their leases), and each retry is a probe. The first write that succeeds closes the
 * breaker and the stream resumes. Only shutdown (the abort signal) ends the retries: the batch is
 * then nacked. cockatiel composes the retry and the breaker; this module only names the settings
 * and makes the state observable for probes, /health and telemetry.
 */
import {
  CircuitState,
  ConsecutiveBreaker,
  ExponentialBackoff,
  circuitBreaker,
  handleWhen,
  retry,
  wrap,
  type CircuitBreakerPolicy,
  type IPolicy,
} from 'cockatiel';
import { errorMessage } from '../../src/domain/errors.js';

export interface BreakerSettings {
  /** Consecutive failed writes that open the breaker. */
  readonly failuresToOpen: number;
  /** First wait before a retry (a probe once the breaker is open), in ms; later waits double. */
  readonly probeInitialMs: number;
  /** Longest wait between probes, in ms. Waits are jittered below it so replicas do not probe together. */
  readonly probeMaxMs: number;
}

/** What the breaker says about the durable sink: `reason` is the last failure's message. */
export type BreakerStatus =
  | { readonly state: 'closed' }
  | { readonly state: 'open' | 'half-open'; readonly reason: string; readonly since: Date };

export type BreakerListener = (status: BreakerStatus) => void;

/** A write abandoned because shutdown began; the caller nacks what it held. */
export class WriteAbandonedError extends Error {
  override readonly name = 'WriteAbandonedError';
}

export class SinkBreaker {
  #status: BreakerStatus = { state: 'closed' };
  #lastError = '';
  #openedAt: Date | null = null;
  readonly #listeners = new Set<BreakerListener>();
  readonly #waiters = new Set<() => void>();
  readonly #breaker: CircuitBreakerPolicy;
  readonly #policy: IPolicy;

  constructor(
    readonly settings: BreakerSettings,
    private readonly clock: () => number = Date.now,
  ) {
    // Every error a sink write throws is an outage as far as the stream is concerned: a permanent
    // problem with one item comes back in the receipt (`rejected`), never as a throw.
    const failed = handleWhen((err) => !(err instanceof WriteAbandonedError));
    this.#breaker = circuitBreaker(failed, {
      // Half-open as soon as the next retry comes: the retry's backoff is the probe schedule, so
      // there is one timing to configure, not two.
      halfOpenAfter: Math.max(1, Math.floor(settings.probeInitialMs / 2)),
      breaker: new ConsecutiveBreaker(settings.failuresToOpen),
    });
    // BrokenCircuitError (the breaker is open) is retried too: that wait is what pauses the batch.
    const retrying = retry(failed, {
      maxAttempts: Number.POSITIVE_INFINITY,
      // The default generator is decorrelated jitter: delays spread between attempts and replicas.
      backoff: new ExponentialBackoff({ initialDelay: settings.probeInitialMs, maxDelay: settings.probeMaxMs }),
    });
    this.#breaker.onStateChange((state) => this.#changed(state));
    this.#policy = wrap(retrying, this.#breaker);
  }

  /** The current state; `reason` says why it is not closed. */
  get status(): BreakerStatus {
    return this.#status;
  }

  /**
   * Calls `listener` on every change of state (not on subscription). Returns the unsubscribe.
   *
   * @example
   * const off = breaker.onChange((s) => gauge.set(s.state === 'closed' ? 0 : 1));
   */
  onChange(listener: BreakerListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs a sink write until it succeeds, retrying through outages. Rejects only with
   * WriteAbandonedError, once `signal` aborts (shutdown), carrying the last failure as cause.
   */
  async write<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
    let last: unknown = null;
    try {
      return await this.#policy.execute(async () => {
        if (signal.aborted) throw new WriteAbandonedError('shutdown began before the write', { cause: last });
        try {
          return await call();
        } catch (err) {
          last = err;
          this.#lastError = errorMessage(err);
          throw err;
        }
      }, signal);
    } catch (err) {
      if (err instanceof WriteAbandonedError) throw err;
      throw new WriteAbandonedError(`sink write abandoned at shutdown: ${this.#lastError || String(err)}`, { cause: last ?? err });
    }
  }

  /** Resolves when the breaker is closed, or at once when `signal` has aborted (shutdown). */
  whenClosed(signal: AbortSignal): Promise<void> {
    if (this.#status.state === 'closed' || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  #changed(state: CircuitState): void {
    if (state === CircuitState.Closed) {
      this.#openedAt = null;
      this.#status = { state: 'closed' };
      for (const wake of [...this.#waiters]) wake();
    } else {
      this.#openedAt ??= new Date(this.clock());
      const reason = this.#lastError || 'sink unavailable';
      this.#status = { state: state === CircuitState.HalfOpen ? 'half-open' : 'open', reason, since: this.#openedAt };
    }
    for (const listener of this.#listeners) {
      try {
        listener(this.#status);
      } catch {
        // A listener's bug must not stop the breaker from reporting to the others.
      }
    }
  }
}
