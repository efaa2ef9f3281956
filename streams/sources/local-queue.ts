/**
 * The embedded task source: a durable queue table in the same SQLite file as the store, with
 * Pub/Sub's delivery semantics (leases that are extended while work is in flight, nack with
 * backoff, dead-lettering after max attempts, redelivery after a crash), so `npm start` needs no
 * broker and several processes on one machine can share one backlog. This module is the queue
 * itself (publishing, the pump, settlement); `local-queue/` holds its SQL statements, leases and
 * crash reclaim, dead letters and options.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Observable, type Subscriber } from 'rxjs';
import { silentLogger } from '../../src/log.js';
import { openDatabase, type Db } from '../../src/infra/sqlite/database.js';
import {
  DEFAULT_MAX_DELIVERY_ATTEMPTS,
  type DeadLetterReason,
  type Delivery,
  type OutgoingTask,
  type TaskPublisher,
  type TaskSource,
} from '../../src/domain/source.js';
import { deadLetterRecord, deadLetterRow, MAX_ATTEMPTS_REASON, type DeadLetterRecord } from './local-queue/dead-letters.js';
import { guarded, isBusy } from './local-queue/guard.js';
import { extendLeases, handBack, leaseTransaction, liveOwners, reclaimDeadOwners, type InFlight, type Lessee } from './local-queue/leases.js';
import {
  LOCAL_QUEUE_ERROR_CODES,
  LocalQueueError,
  nonNegative,
  positiveInt,
  positiveNumber,
  type BackoffOptions,
  type LocalQueueOptions,
} from './local-queue/options.js';
import { parseAttributes, prepareStatements, type Statements } from './local-queue/statements.js';

export { MAX_ATTEMPTS_REASON, type DeadLetterRecord } from './local-queue/dead-letters.js';
export {
  LOCAL_QUEUE_ERROR_CODES,
  LocalQueueError,
  type BackoffOptions,
  type LocalQueueErrorCode,
  type LocalQueueOptions,
} from './local-queue/options.js';

/** How long `publish` keeps retrying, asynchronously, while another process holds the write lock. */
const PUBLISH_LOCK_WAIT_MS = 10_000;
/** Wait before recording settles again when the write lock was held by another process. */
const SETTLE_RETRY_MS = 50;

/** Rows leased per transaction, so one pull never holds the write lock for long. */
const PULL_BATCH = 256;

/**
 * A durable queue in `<dataDir>/buildtrace.db`: `TaskPublisher` for `POST /process`, `TaskSource`
 * for the pipeline. Several processes may consume the same file; each row is leased by one.
 */
export class LocalQueue implements TaskSource, TaskPublisher {
  readonly name = 'local' as const;
  readonly maxDeliveryAttempts: number;
  /** This instance's lease owner id (random per open). */
  readonly owner = randomUUID();

  private readonly s: Statements;
  private readonly maxOutstanding: number;
  private readonly backoff: BackoffOptions;
  private readonly pollIntervalMs: number;
  private readonly lessee: Lessee;
  private readonly stream: Observable<Delivery>;
  private readonly inFlight = new Map<string, InFlight>();
  private pendingSettles: Array<{ readonly state: InFlight; readonly how: 'ack' | 'nack' }> = [];
  private subscriber: Subscriber<Delivery> | null = null;
  private stopped = false;
  private closed = false;
  private lastPullOk = true;
  private pumpHandle: NodeJS.Immediate | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly leaseTimer: NodeJS.Timeout;
  private readonly leaseRows: (limit: number, now: number) => { delivered: InFlight[]; scanned: number };

  constructor(
    private readonly db: Db,
    options: Omit<LocalQueueOptions, 'dataDir' | 'busyTimeoutMs'>,
  ) {
    this.maxOutstanding = positiveInt('maxOutstanding', options.maxOutstanding);
    this.maxDeliveryAttempts = positiveInt('maxDeliveryAttempts', options.maxDeliveryAttempts ?? DEFAULT_MAX_DELIVERY_ATTEMPTS);
    const leaseMs = positiveNumber('leaseSeconds', options.leaseSeconds) * 1000;
    this.backoff = {
      initialMs: nonNegative('backoff.initialMs', options.backoff?.initialMs ?? 1000),
      maxMs: nonNegative('backoff.maxMs', options.backoff?.maxMs ?? 60_000),
    };
    this.pollIntervalMs = positiveNumber('pollIntervalMs', options.pollIntervalMs ?? 100);
    const logger = options.logger ?? silentLogger;
    this.lessee = { owner: this.owner, host: hostname(), leaseMs, maxDeliveryAttempts: this.maxDeliveryAttempts, logger };
    this.s = prepareStatements(db);
    this.leaseRows = leaseTransaction(db, this.s, this.lessee);

    this.stream = new Observable<Delivery>((subscriber) => {
      if (this.stopped) {
        subscriber.complete();
        return undefined;
      }
      if (this.subscriber) {
        subscriber.error(
          new LocalQueueError(LOCAL_QUEUE_ERROR_CODES.alreadyConsuming, 'the local queue already has a consumer; share its deliveries() stream'),
        );
        return undefined;
      }
      this.subscriber = subscriber;
      this.wake();
      return () => {
        if (this.subscriber === subscriber) this.subscriber = null;
        this.cancelPull();
      };
    });

    reclaimDeadOwners(this.s, this.lessee);
    liveOwners.add(this.owner);
    // Extend well before expiry, like Pub/Sub's lease manager, so slow pairs keep their lease.
    this.leaseTimer = setInterval(() => this.extendLeases(), Math.max(10, leaseMs / 3));
    this.leaseTimer.unref();
  }

  deliveries(): Observable<Delivery> {
    return this.stream;
  }

  /**
   * Enqueues every task in one transaction; resolves after the commit, so the caller may report
   * the tasks as accepted.
   */
  async publish(tasks: readonly OutgoingTask[]): Promise<void> {
    if (tasks.length === 0) return;
    // The write lock is waited for asynchronously (the connection's own busy wait is short, as
    // it blocks the event loop), so a sibling process's long transaction delays the caller only.
    for (let waited = 0; ; ) {
      try {
        this.guard('publish', () => {
          const now = Date.now();
          this.db.transaction(() => {
            for (const task of tasks) {
              this.s.insert.run({ id: randomUUID(), data: task.data, attributes: JSON.stringify(task.attributes), now });
            }
          }).immediate();
        });
        break;
      } catch (err) {
        if (!isBusy(err) || waited >= PUBLISH_LOCK_WAIT_MS) throw err;
        const pause = Math.min(200, 10 + waited);
        await new Promise((resolve) => setTimeout(resolve, pause));
        waited += pause;
      }
    }
    this.wake();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelPull();
    const subscriber = this.subscriber;
    this.subscriber = null;
    subscriber?.complete();
  }

  async close(): Promise<void> {
    await this.stop();
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.leaseTimer);
    liveOwners.delete(this.owner);
    this.flushSettles();
    for (const state of this.inFlight.values()) state.settled = true;
    const unsettled = this.inFlight.size;
    this.inFlight.clear();
    if (!this.db.open) return;
    try {
      if (unsettled > 0) this.s.releaseOwn.run(Date.now(), this.owner);
    } catch (err) {
      // The leases then expire on their own and the rows are redelivered.
      this.lessee.logger.warn({ err }, 'local queue could not release its leases at close');
    }
    this.db.close();
  }

  isReady(): boolean {
    return !this.stopped && this.db.open && this.lastPullOk;
  }

  /** Rows not yet acked or dead-lettered: visible, leased, or waiting out a nack's backoff. */
  async depth(): Promise<number> {
    this.flushSettles();
    return this.guard('depth', () => this.s.depth.get() ?? 0);
  }

  /** Age in ms of the oldest task not yet acked or dead-lettered; 0 when the queue is empty. */
  async oldestTaskAgeMs(now: number = Date.now()): Promise<number> {
    this.flushSettles();
    const oldest = this.guard('oldest task', () => this.s.oldestPublishedAt.get() ?? null);
    return oldest === null ? 0 : Math.max(0, now - oldest);
  }

  /** Newest first. */
  async deadLetters(limit: number): Promise<DeadLetterRecord[]> {
    if (limit <= 0) return [];
    this.flushSettles();
    return this.guard('dead-letter read', () => this.s.deadLetters.all(limit).map(deadLetterRecord));
  }

  /** Pull soon: at the next turn of the event loop, instead of at the next poll. */
  private wake(): void {
    if (this.pumpHandle || this.stopped || this.closed || !this.subscriber) return;
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = null;
    }
    this.pumpHandle = setImmediate(() => {
      this.pumpHandle = null;
      this.pump();
    });
  }

  private schedulePoll(): void {
    if (this.pumpHandle || this.pollTimer || this.stopped || this.closed || !this.subscriber) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.pump();
    }, this.pollIntervalMs);
    this.pollTimer.unref();
  }

  private cancelPull(): void {
    if (this.pumpHandle) clearImmediate(this.pumpHandle);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pumpHandle = null;
    this.pollTimer = null;
  }

  /** One pull: lease what flow control allows, emit it, then decide when to pull again. */
  private pump(): void {
    if (!this.subscriber || this.stopped || this.closed) return;
    const room = this.maxOutstanding - this.inFlight.size;
    if (room <= 0) return; // the next settle wakes us
    const limit = Math.min(room, PULL_BATCH);
    let pulled: { delivered: InFlight[]; scanned: number };
    try {
      const now = Date.now();
      // A plain read first, so idle polling never takes the write lock.
      pulled = this.s.anyVisible.get(now) === undefined ? { delivered: [], scanned: 0 } : this.leaseRows(limit, now);
      this.lastPullOk = true;
    } catch (err) {
      this.lastPullOk = false;
      this.lessee.logger.warn({ err }, 'local queue pull failed; retrying');
      this.schedulePoll();
      return;
    }
    const { delivered } = pulled;
    for (let i = 0; i < delivered.length; i += 1) {
      const state = delivered[i]!;
      const subscriber = this.subscriber;
      if (!subscriber || this.stopped) {
        // The consumer left while we were emitting: hand the rest back untouched.
        handBack(this.db, this.s, this.lessee, delivered.slice(i));
        return;
      }
      this.inFlight.set(state.row.message_id, state);
      subscriber.next(this.toDelivery(state));
    }
    if (pulled.scanned === limit) this.wake();
    else this.schedulePoll();
  }

  private toDelivery(state: InFlight): Delivery {
    const { row } = state;
    const id = row.message_id;
    return Object.freeze({
      id,
      data: row.data,
      attributes: parseAttributes(row.attributes),
      publishedAt: new Date(row.published_at),
      receivedAt: Date.now(),
      deliveryAttempt: state.attempts,
      ack: () => this.settle(state, 'ack'),
      nack: () => this.settle(state, 'nack'),
      deadLetter: (reason: DeadLetterReason) => this.deadLetter(state, reason),
    });
  }

  /**
   * Acks or nacks once. Settles made in one synchronous run (a sink batch acking its deliveries)
   * are recorded together in one transaction at the end of it, as Pub/Sub batches acks; a crash
   * before that commit only means a redelivery, which the idempotent sink absorbs.
   */
  private settle(state: InFlight, how: 'ack' | 'nack'): void {
    if (state.settled) return;
    state.settled = true;
    this.inFlight.delete(state.row.message_id);
    if (this.closed) return;
    this.pendingSettles.push({ state, how });
    if (this.pendingSettles.length === 1) queueMicrotask(() => this.flushSettles());
  }

  /**
   * Records pending settles. A failure is logged, not thrown: those leases are no longer
   * extended, so the rows are redelivered after expiry.
   */
  private flushSettles(): void {
    if (this.pendingSettles.length === 0) return;
    const settles = this.pendingSettles;
    this.pendingSettles = [];
    if (!this.db.open) return;
    const now = Date.now();
    try {
      this.db.transaction(() => {
        for (const { state, how } of settles) {
          const id = state.row.message_id;
          if (how === 'ack') {
            if (this.s.ack.run(id, this.owner).changes === 0) {
              this.lessee.logger.info({ messageId: id }, 'local queue ack after the lease was lost; another delivery owns it');
            }
          } else if (state.attempts >= this.maxDeliveryAttempts) {
            const message = `nacked on each of ${state.attempts} delivery attempts`;
            this.s.deadLetterLeased.run({ id, owner: this.owner, code: MAX_ATTEMPTS_REASON, message, now });
            this.s.ack.run(id, this.owner);
          } else {
            this.s.nack.run({ id, owner: this.owner, visibleAt: now + this.backoffMs(state.attempts) });
          }
        }
      }).immediate();
    } catch (err) {
      if (isBusy(err) && !this.closed) {
        // Another process holds the write lock: keep the settles (and their leases, extended
        // while they wait) and record them shortly, rather than let the rows be redelivered.
        for (const entry of settles) this.inFlight.set(entry.state.row.message_id, entry.state);
        this.pendingSettles.unshift(...settles);
        setTimeout(() => this.flushSettles(), SETTLE_RETRY_MS).unref();
        return;
      }
      this.lessee.logger.warn({ err, settles: settles.length }, 'local queue could not record settles; the messages will be redelivered');
    }
    for (const { state } of settles) this.inFlight.delete(state.row.message_id);
    this.wake();
  }

  private async deadLetter(state: InFlight, reason: DeadLetterReason): Promise<void> {
    this.guard('dead-letter', () => this.s.deadLetter.run(deadLetterRow(state.row, state.attempts, reason, Date.now())));
  }

  /** Exponential backoff with jitter: between half and all of min(max, initial·2^(n−1)). */
  private backoffMs(attempts: number): number {
    const full = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }

  private extendLeases(): void {
    if (this.inFlight.size === 0 || this.closed || !this.db.open) return;
    extendLeases(this.db, this.s, this.lessee, this.inFlight.values());
  }

  private guard<T>(what: string, step: () => T): T {
    return guarded(what, this.closed, this.db, step);
  }
}

/**
 * Opens the local queue on `<dataDir>/buildtrace.db` (shared with the local store).
 *
 * @example
 * const queue = openLocalQueue({ dataDir, maxOutstanding: 1000, leaseSeconds: 60 });
 * await queue.publish([{ data: Buffer.from(JSON.stringify(task)), attributes: { drawing_id: 'D1' } }]);
 * queue.deliveries().subscribe((d) => { ...; d.ack(); });
 */
export function openLocalQueue(options: LocalQueueOptions): LocalQueue {
  const db = openDatabase(options.dataDir, { busyTimeoutMs: options.busyTimeoutMs });
  try {
    return new LocalQueue(db, options);
  } catch (err) {
    db.close();
    throw err;
  }
}
