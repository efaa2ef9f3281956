/**
 * BuildTrace's measurements of itself: counters and gauges from the metric table (metrics.ts),
 * fed by the instrumented source and sink (instrument.ts), the breaker and the composition root.
 * One object holds the figures; `GET /metrics` (`pipeline`), `GET /metrics/prometheus` and the
 * Cloud Monitoring points are views of it, so the three always agree. Events that matter one by
 * one (a dead letter, a breaker opening or closing, an anomaly) are also logged as structured
 * lines with labels a log-based metric can key on.
 */
import type { Logger } from '../../src/log.js';
import type { Anomaly, ChangeCounts } from '../../src/domain/types.js';
import { CHANGE_KINDS } from '../../src/infra/monitoring/accumulate.js';

type ChangeKind = (typeof CHANGE_KINDS)[number];
import { Distribution, type DistributionSnapshot } from '../../src/infra/monitoring/accumulate.js';
import { BREAKER_STATES, type BreakerState } from './metrics.js';

/** The `logging.googleapis.com/labels` key Cloud Logging lifts into the entry's labels. */
export const LOG_LABELS = 'logging.googleapis.com/labels';

export interface SinkTelemetry {
  readonly writes: number;
  readonly failures: number;
  readonly latencyMs: DistributionSnapshot;
  readonly breaker: { readonly state: BreakerState; readonly reason: string | null; readonly since: string | null };
}

/** The `pipeline` key of `GET /metrics`. */
export interface TelemetrySnapshot {
  readonly deliveries: {
    readonly received: number;
    readonly acked: number;
    readonly nacked: number;
    readonly retries: number;
    readonly inFlight: number;
    readonly held: number;
    readonly deadLettered: Readonly<Record<string, number>>;
  };
  readonly sinks: Readonly<Record<string, SinkTelemetry>>;
  /**
   * Fresh results this replica wrote (the product metrics' own figures, for Prometheus; Cloud
   * Monitoring already has them as pairs_processed and changes).
   */
  readonly results: { readonly pairs: number; readonly changes: Readonly<Record<ChangeKind, number>> };
  readonly windowRestoreMs: number | null;
  readonly queue: { readonly backlog: number | null; readonly oldestTaskAgeSeconds: number | null };
  readonly ready: boolean | null;
}

/** Async gauges (the queue, readiness) are read on `sample()`, before each view is taken. */
export interface TelemetrySamplers {
  readonly inFlight?: () => number;
  readonly backlog?: () => Promise<number>;
  readonly oldestTaskAgeMs?: () => Promise<number>;
  readonly ready?: () => Promise<boolean>;
}

interface SinkState {
  writes: number;
  failures: number;
  readonly latency: Distribution;
  breaker: { state: BreakerState; reason: string | null; since: string | null };
}

import type { Severity } from '../../src/domain/types.js';

/** Cloud Logging severity of an anomaly's line: INFO, WARNING, ERROR. */
const ANOMALY_LEVEL: Record<Severity, 'info' | 'warn' | 'error'> = { low: 'info', medium: 'warn', high: 'error' };

export class Telemetry {
  private received = 0;
  private acked = 0;
  private nacked = 0;
  private retries = 0;
  private held = 0;
  private readonly deadLettered = new Map<string, number>();
  private readonly sinks = new Map<string, SinkState>();
  private pairs = 0;
  private readonly changes: Record<ChangeKind, number> = { added: 0, removed: 0, moved: 0, modified: 0 };
  private windowRestoreMs: number | null = null;
  private backlog: number | null = null;
  private oldestAgeSeconds: number | null = null;
  private ready: boolean | null = null;
  private samplers: TelemetrySamplers = {};
  /** The sink whose write failed last, of those whose failures fail a batch (the breaker's cause). */
  private lastDurableFailure: string | null = null;
  private readonly listeners: ((event: TelemetryEvent) => void)[] = [];

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Where gauges the telemetry cannot see itself come from (set by the composition root). */
  useSamplers(samplers: TelemetrySamplers): void {
    this.samplers = { ...this.samplers, ...samplers };
  }

  /** Refreshes the async gauges; a sampler that fails leaves its gauge unknown (null). */
  async sample(): Promise<void> {
    const read = async <T>(f: (() => Promise<T>) | undefined): Promise<T | null> => (f ? f().catch(() => null) : null);
    const [backlog, oldest, ready] = await Promise.all([read(this.samplers.backlog), read(this.samplers.oldestTaskAgeMs), read(this.samplers.ready)]);
    if (this.samplers.backlog) this.backlog = backlog;
    if (this.samplers.oldestTaskAgeMs) this.oldestAgeSeconds = oldest === null ? null : oldest / 1000;
    if (this.samplers.ready) this.ready = ready;
  }

  /** Called for every event below, after it is counted (Prometheus registry, tests). */
  onEvent(listener: (event: TelemetryEvent) => void): void {
    this.listeners.push(listener);
  }

  deliveryReceived(deliveryAttempt: number): void {
    this.received++;
    this.held++;
    if (deliveryAttempt > 1) this.retries++;
    this.emit({ kind: 'received', retry: deliveryAttempt > 1 });
  }

  /** The first ack or nack of a delivery settles it; `settled` says whether this one did. */
  deliveryAcked(settled: boolean): void {
    this.acked++;
    if (settled) this.held--;
    this.emit({ kind: 'acked' });
  }

  deliveryNacked(settled: boolean): void {
    this.nacked++;
    if (settled) this.held--;
    this.emit({ kind: 'nacked' });
  }

  /** A task given up on: stored as a dead letter, or left to the broker after its last attempt. */
  deadLetter(errorCode: string, fields: { readonly taskKey?: string | null; readonly drawingId?: string | null; readonly message?: string }): void {
    this.deadLettered.set(errorCode, (this.deadLettered.get(errorCode) ?? 0) + 1);
    this.logger.warn({ [LOG_LABELS]: { event: 'dead_letter', error_code: errorCode }, ...fields }, `dead letter: ${errorCode}`);
    this.emit({ kind: 'deadLetter', errorCode });
  }

  /**
   * One sink write attempt and how long it took. `durable` is false for a sink whose failure never
   * fails a batch (Cloud Monitoring), so it is never blamed for the breaker.
   */
  sinkWrite(sink: string, latencyMs: number, ok: boolean, durable = true): void {
    const s = this.sink(sink);
    s.writes++;
    if (!ok) s.failures++;
    if (!ok && durable) this.lastDurableFailure = sink;
    s.latency.record(latencyMs);
    this.emit({ kind: 'sinkWrite', sink, latencyMs, ok });
  }

  /**
   * The circuit breaker on a sink's writes changed state. Opening logs an ERROR, closing an INFO;
   * repeating the current state changes nothing.
   *
   * @example
   * breaker.onStateChange((s) => telemetry.setBreakerState('bigquery', s, 'five failures in a row'));
   */
  setBreakerState(sink: string, state: BreakerState, reason: string): void {
    if (!(state in BREAKER_STATES)) throw new RangeError(`breaker state must be closed, half-open or open, got ${JSON.stringify(state)}`);
    const s = this.sink(sink);
    if (s.breaker.state === state) return;
    const previous = s.breaker.state;
    s.breaker = { state, reason, since: new Date(this.clock()).toISOString() };
    const labels = { [LOG_LABELS]: { event: `breaker_${state.replace('-', '_')}`, sink }, sink, previous, state, reason };
    if (state === 'open') this.logger.error(labels, `circuit breaker for sink ${sink} opened: ${reason}`);
    else this.logger.info(labels, `circuit breaker for sink ${sink} is ${state}: ${reason}`);
    this.emit({ kind: 'breaker', sink, state });
  }

  /**
   * The one breaker on durable writes changed state: reported under the sink whose failure it
   * follows (`fallbackSink` before any failed), so an operator sees which store is down; a sink it
   * no longer follows is closed.
   *
   * @example
   * breaker.onChange((s) => telemetry.breakerChanged(s.state, s.state === 'closed' ? 'write succeeded' : s.reason, 'local'));
   */
  breakerChanged(state: BreakerState, reason: string, fallbackSink: string): void {
    const blamed = state === 'closed' ? null : (this.lastDurableFailure ?? fallbackSink);
    for (const [name, s] of this.sinks) {
      if (name !== blamed && s.breaker.state !== 'closed') this.setBreakerState(name, 'closed', blamed ? `writes now fail at sink ${blamed}` : reason);
    }
    if (blamed) this.setBreakerState(blamed, state, reason);
  }

  /** An anomaly durably written: one log line a log-based metric can count by type. */
  anomaly(a: Anomaly): void {
    const level = ANOMALY_LEVEL[a.severity];
    this.logger[level](
      { [LOG_LABELS]: { event: 'anomaly', anomaly_type: a.type, severity: a.severity }, anomalyId: a.id, drawingId: a.drawingId, details: a.details },
      `anomaly ${a.type}${a.drawingId ? ` on ${a.drawingId}` : ''}`,
    );
  }

  /** A result written for the first time (replays are not counted). */
  resultWritten(counts: ChangeCounts, processingMs: number): void {
    this.pairs++;
    for (const kind of CHANGE_KINDS) this.changes[kind] += counts[kind];
    this.emit({ kind: 'result', processingMs });
  }

  windowsRestored(ms: number): void {
    this.windowRestoreMs = ms;
  }

  snapshot(): TelemetrySnapshot {
    const sinks: Record<string, SinkTelemetry> = {};
    for (const [name, s] of this.sinks) {
      sinks[name] = { writes: s.writes, failures: s.failures, latencyMs: s.latency.snapshot(), breaker: { ...s.breaker } };
    }
    return {
      deliveries: {
        received: this.received,
        acked: this.acked,
        nacked: this.nacked,
        retries: this.retries,
        inFlight: this.samplers.inFlight?.() ?? 0,
        held: this.held,
        deadLettered: Object.fromEntries([...this.deadLettered].sort(([a], [b]) => (a < b ? -1 : 1))),
      },
      sinks,
      results: { pairs: this.pairs, changes: { ...this.changes } },
      windowRestoreMs: this.windowRestoreMs,
      queue: { backlog: this.backlog, oldestTaskAgeSeconds: this.oldestAgeSeconds },
      ready: this.ready,
    };
  }

  private sink(name: string): SinkState {
    let s = this.sinks.get(name);
    if (!s) {
      s = { writes: 0, failures: 0, latency: new Distribution(), breaker: { state: 'closed', reason: null, since: null } };
      this.sinks.set(name, s);
    }
    return s;
  }

  private emit(event: TelemetryEvent): void {
    for (const l of this.listeners) l(event);
  }
}

export type TelemetryEvent =
  | { readonly kind: 'received'; readonly retry: boolean }
  | { readonly kind: 'acked' }
  | { readonly kind: 'nacked' }
  | { readonly kind: 'deadLetter'; readonly errorCode: string }
  | { readonly kind: 'sinkWrite'; readonly sink: string; readonly latencyMs: number; readonly ok: boolean }
  | { readonly kind: 'breaker'; readonly sink: string; readonly state: BreakerState }
  | { readonly kind: 'result'; readonly processingMs: number };
