/**
 * The embedded task source: a durable queue table in the same SQLite file as the store, with
 * Pub/Sub's delivery semantics (leases that are extended while work is in flight, nack with
 * backoff, dead-lettering after max attempts, redelivery after a crash), so `npm start` needs no
 * broker and several processes on one machine can share one backlog.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Observable, type Subscriber } from 'rxjs';
import Database from 'better-sqlite3';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { openDatabase, type Db } from '../../src/infra/sqlite/database.js';
import type { DeadLetterReason, Delivery, OutgoingTask, TaskPublisher, TaskSource } from '../../src/domain/source.js';

/** Reason code of a message the queue itself gave up on (Pub/Sub's max delivery attempts). */
export const MAX_ATTEMPTS_REASON = 'max_delivery_attempts';

/** How long `publish` keeps retrying, asynchronously, while another process holds the write lock. */
const PUBLISH_LOCK_WAIT_MS = 10_000;
/** Wait before recording settles again when the write lock was held by another process. */
const SETTLE_RETRY_MS = 50;

/** SQLITE_BUSY (or SQLITE_BUSY_*): another connection holds the lock this statement needed. */
function isBusy(err: unknown): boolean {
  const cause = err instanceof TransientError ? err.cause : err;
  return cause instanceof Database.SqliteError && cause.code.startsWith('SQLITE_BUSY');
}

/** Rows leased per transaction, so one pull never holds the write lock for long. */
const PULL_BATCH = 256;

export const LOCAL_QUEUE_ERROR_CODES = {
  invalidOption: 'invalid_option',
  alreadyConsuming: 'already_consuming',
} as const;
export type LocalQueueErrorCode = (typeof LOCAL_QUEUE_ERROR_CODES)[keyof typeof LOCAL_QUEUE_ERROR_CODES];

/** Misuse of the queue (a bad option, a second consumer), as opposed to a failing database. */
export class LocalQueueError extends Error {
  override readonly name = 'LocalQueueError';
  constructor(
    readonly code: LocalQueueErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface BackoffOptions {
  /** Delay before the second delivery. @default 1000 */
  readonly initialMs: number;
  /** Cap on the delay, however many attempts. @default 60000 */
  readonly maxMs: number;
}

export interface LocalQueueOptions {
  readonly dataDir: string;
  /** Flow control: deliveries emitted but not yet settled, at most (MAX_OUTSTANDING_MESSAGES). */
  readonly maxOutstanding: number;
  /** A leased row not settled or extended within this long is delivered again. Fractions allowed. */
  readonly leaseSeconds: number;
  /** @default 5 */
  readonly maxDeliveryAttempts?: number;
  readonly backoff?: Partial<BackoffOptions>;
  /** How often an idle consumer looks for rows published by other processes. @default 100 */
  readonly pollIntervalMs?: number;
  /** @default DEFAULT_BUSY_TIMEOUT_MS */
  readonly busyTimeoutMs?: number;
  readonly logger?: Logger;
}

/** A row of the `dead_letters` table, for operators and tests. */
export interface DeadLetterRecord {
  readonly messageId: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  readonly reasonCode: string;
  readonly reasonMessage: string;
  readonly drawingId: string | null;
  readonly attempts: number;
  readonly createdAt: Date;
}

interface QueueRow {
  readonly seq: number;
  readonly message_id: string;
  readonly data: Buffer;
  readonly attributes: string;
  readonly published_at: number;
  readonly attempts: number;
}

interface DeadLetterRow {
  readonly message_id: string;
  readonly data: Buffer;
  readonly attributes: string;
  readonly reason_code: string;
  readonly reason_message: string;
  readonly drawing_id: string | null;
  readonly attempts: number;
  readonly created_at: number;
}

/** What the queue remembers about one emitted, unsettled delivery. */
interface InFlight {
  readonly row: QueueRow;
  /** Attempts including this delivery. */
  readonly attempts: number;
  settled: boolean;
  leaseLost: boolean;
}

/** Owners of live queues in this process, so a second queue never reclaims a sibling's leases. */
const liveOwners = new Set<string>();

const RELEASE = `lease_owner = NULL, lease_pid = NULL, lease_host = NULL, lease_until = NULL`;

function prepareStatements(db: Db) {
  return {
    insert: db.prepare<[{ id: string; data: Buffer; attributes: string; now: number }]>(
      `INSERT INTO queue (message_id, data, attributes, published_at, attempts, visible_at)
       VALUES (@id, @data, @attributes, @now, 0, @now)`,
    ),
    anyVisible: db.prepare<[number], number>(`SELECT 1 FROM queue WHERE visible_at <= ? LIMIT 1`).pluck(),
    selectVisible: db.prepare<[number, number], QueueRow>(
      `SELECT seq, message_id, data, attributes, published_at, attempts FROM queue
       WHERE visible_at <= ? ORDER BY seq LIMIT ?`,
    ),
    lease: db.prepare<[{ seq: number; owner: string; pid: number; host: string; until: number }]>(
      `UPDATE queue SET attempts = attempts + 1, lease_owner = @owner, lease_pid = @pid, lease_host = @host,
         lease_until = @until, visible_at = @until
       WHERE seq = @seq`,
    ),
    extend: db.prepare<[{ id: string; owner: string; until: number }]>(
      `UPDATE queue SET lease_until = @until, visible_at = @until WHERE message_id = @id AND lease_owner = @owner`,
    ),
    ack: db.prepare<[string, string]>(`DELETE FROM queue WHERE message_id = ? AND lease_owner = ?`),
    nack: db.prepare<[{ id: string; owner: string; visibleAt: number }]>(
      `UPDATE queue SET visible_at = @visibleAt, ${RELEASE} WHERE message_id = @id AND lease_owner = @owner`,
    ),
    // Only a row this owner still holds moves: a lost lease means someone else is delivering it.
    deadLetterLeased: db.prepare<[{ id: string; owner: string; code: string; message: string; now: number }]>(
      `INSERT OR IGNORE INTO dead_letters (message_id, data, attributes, reason_code, reason_message, drawing_id,
         attempts, created_at)
       SELECT message_id, data, attributes, @code, @message, json_extract(attributes, '$.drawing_id'), attempts, @now
       FROM queue WHERE message_id = @id AND lease_owner = @owner`,
    ),
    deadLetterExhausted: db.prepare<[{ seq: number; code: string; message: string; now: number }]>(
      `INSERT OR IGNORE INTO dead_letters (message_id, data, attributes, reason_code, reason_message, drawing_id,
         attempts, created_at)
       SELECT message_id, data, attributes, @code, @message, json_extract(attributes, '$.drawing_id'), attempts, @now
       FROM queue WHERE seq = @seq`,
    ),
    deleteSeq: db.prepare<[number]>(`DELETE FROM queue WHERE seq = ?`),
    deadLetter: db.prepare<[DeadLetterRow]>(
      `INSERT OR IGNORE INTO dead_letters (message_id, data, attributes, reason_code, reason_message, drawing_id,
         attempts, created_at)
       VALUES (@message_id, @data, @attributes, @reason_code, @reason_message, @drawing_id, @attempts, @created_at)`,
    ),
    foreignLeasePids: db.prepare<[string, string], number>(
      `SELECT DISTINCT lease_pid FROM queue WHERE lease_host = ? AND lease_owner IS NOT NULL AND lease_owner <> ?`,
    ).pluck(),
    foreignLeaseOwners: db.prepare<[string, number], string>(
      `SELECT DISTINCT lease_owner FROM queue WHERE lease_host = ? AND lease_pid = ? AND lease_owner IS NOT NULL`,
    ).pluck(),
    // A crashed delivery still counts as an attempt, so a pair that kills the process every time
    // ends in the dead-letter table instead of a crash loop.
    reclaimOwner: db.prepare<[number, string]>(`UPDATE queue SET visible_at = ?, ${RELEASE} WHERE lease_owner = ?`),
    // Handed back unworked (at close, or never emitted): the delivery does not count against it.
    releaseOwn: db.prepare<[number, string]>(
      `UPDATE queue SET visible_at = ?, attempts = max(attempts - 1, 0), ${RELEASE} WHERE lease_owner = ?`,
    ),
    releaseOne: db.prepare<[number, string, string]>(
      `UPDATE queue SET visible_at = ?, attempts = max(attempts - 1, 0), ${RELEASE}
       WHERE message_id = ? AND lease_owner = ?`,
    ),
    depth: db.prepare<[], number>(`SELECT count(*) FROM queue`).pluck(),
    oldestPublishedAt: db.prepare<[], number | null>(`SELECT min(published_at) FROM queue`).pluck(),
    deadLetters: db.prepare<[number], DeadLetterRow>(
      `SELECT * FROM dead_letters ORDER BY created_at DESC, rowid DESC LIMIT ?`,
    ),
  };
}

/**
 * A durable queue in `<dataDir>/buildtrace.db`: `TaskPublisher` for `POST /process`, `TaskSource`
 * for the pipeline. Several processes may consume the same file; each row is leased by one.
 */
export class LocalQueue implements TaskSource, TaskPublisher {
  readonly name = 'local' as const;
  readonly maxDeliveryAttempts: number;
  /** This instance's lease owner id (random per open). */
  readonly owner = randomUUID();

  private readonly s: ReturnType<typeof prepareStatements>;
  private readonly maxOutstanding: number;
  private readonly leaseMs: number;
  private readonly backoff: BackoffOptions;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger;
  private readonly host = hostname();
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
    this.maxDeliveryAttempts = positiveInt('maxDeliveryAttempts', options.maxDeliveryAttempts ?? 5);
    this.leaseMs = positiveNumber('leaseSeconds', options.leaseSeconds) * 1000;
    this.backoff = {
      initialMs: nonNegative('backoff.initialMs', options.backoff?.initialMs ?? 1000),
      maxMs: nonNegative('backoff.maxMs', options.backoff?.maxMs ?? 60_000),
    };
    this.pollIntervalMs = positiveNumber('pollIntervalMs', options.pollIntervalMs ?? 100);
    this.logger = options.logger ?? silentLogger;
    this.s = prepareStatements(db);

    this.leaseRows = (limit, now) =>
      db.transaction(() => {
        const rows = this.s.selectVisible.all(now, limit);
        const delivered: InFlight[] = [];
        for (const row of rows) {
          if (row.attempts >= this.maxDeliveryAttempts) {
            // Its last lease ran out unsettled (the consumer died or hung) on the final attempt.
            const message = `not settled after ${row.attempts} delivery attempts (lease expired)`;
            this.s.deadLetterExhausted.run({ seq: row.seq, code: MAX_ATTEMPTS_REASON, message, now });
            this.s.deleteSeq.run(row.seq);
            this.logger.warn({ messageId: row.message_id, attempts: row.attempts }, 'local queue dead-lettered an expired message');
            continue;
          }
          this.s.lease.run({ seq: row.seq, owner: this.owner, pid: process.pid, host: this.host, until: now + this.leaseMs });
          delivered.push({ row, attempts: row.attempts + 1, settled: false, leaseLost: false });
        }
        return { delivered, scanned: rows.length };
      }).immediate();

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

    this.reclaimDeadOwners();
    liveOwners.add(this.owner);
    // Extend well before expiry, like Pub/Sub's lease manager, so slow pairs keep their lease.
    this.leaseTimer = setInterval(() => this.extendLeases(), Math.max(10, this.leaseMs / 3));
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
      this.logger.warn({ err }, 'local queue could not release its leases at close');
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
    return this.guard('dead-letter read', () =>
      this.s.deadLetters.all(limit).map((r) => ({
        messageId: r.message_id,
        data: r.data,
        attributes: parseAttributes(r.attributes),
        reasonCode: r.reason_code,
        reasonMessage: r.reason_message,
        drawingId: r.drawing_id,
        attempts: r.attempts,
        createdAt: new Date(r.created_at),
      })),
    );
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
      this.logger.warn({ err }, 'local queue pull failed; retrying');
      this.schedulePoll();
      return;
    }
    const { delivered } = pulled;
    for (let i = 0; i < delivered.length; i += 1) {
      const state = delivered[i]!;
      const subscriber = this.subscriber;
      if (!subscriber || this.stopped) {
        // The consumer left while we were emitting: hand the rest back untouched.
        this.handBack(delivered.slice(i));
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
              this.logger.info({ messageId: id }, 'local queue ack after the lease was lost; another delivery owns it');
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
      this.logger.warn({ err, settles: settles.length }, 'local queue could not record settles; the messages will be redelivered');
    }
    for (const { state } of settles) this.inFlight.delete(state.row.message_id);
    this.wake();
  }

  private async deadLetter(state: InFlight, reason: DeadLetterReason): Promise<void> {
    const { row } = state;
    this.guard('dead-letter', () =>
      this.s.deadLetter.run({
        message_id: row.message_id,
        data: row.data,
        attributes: row.attributes,
        reason_code: reason.code,
        reason_message: reason.message,
        drawing_id: reason.drawingId,
        attempts: state.attempts,
        created_at: Date.now(),
      }),
    );
  }

  /** Exponential backoff with jitter: between half and all of min(max, initial·2^(n−1)). */
  private backoffMs(attempts: number): number {
    const full = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(full / 2 + (Math.random() * full) / 2);
  }

  private extendLeases(): void {
    if (this.inFlight.size === 0 || this.closed || !this.db.open) return;
    try {
      const until = Date.now() + this.leaseMs;
      this.db.transaction(() => {
        for (const state of this.inFlight.values()) {
          if (state.leaseLost) continue;
          if (this.s.extend.run({ id: state.row.message_id, owner: this.owner, until }).changes === 0) {
            state.leaseLost = true;
            this.logger.warn({ messageId: state.row.message_id }, 'local queue lease lost before settle; it may be processed twice');
          }
        }
      }).immediate();
    } catch (err) {
      this.logger.warn({ err }, 'local queue could not extend leases');
    }
  }

  /** Rows emitted to nobody go back at once, without counting as an attempt. */
  private handBack(states: readonly InFlight[]): void {
    try {
      const now = Date.now();
      this.db.transaction(() => {
        for (const state of states) {
          this.s.releaseOne.run(now, state.row.message_id, this.owner);
        }
      }).immediate();
    } catch (err) {
      this.logger.warn({ err }, 'local queue could not hand back undelivered rows; they return after lease expiry');
    }
  }

  /**
   * At start-up, frees rows leased by a process on this host that no longer exists (or by an
   * earlier process that had our pid), so a restart after SIGKILL resumes at once instead of
   * after the lease runs out. Leases held elsewhere wait for expiry.
   */
  private reclaimDeadOwners(): void {
    const now = Date.now();
    for (const pid of this.s.foreignLeasePids.all(this.host, this.owner)) {
      for (const owner of this.s.foreignLeaseOwners.all(this.host, pid)) {
        const dead = pid === process.pid ? !liveOwners.has(owner) : !processAlive(pid);
        if (!dead) continue;
        const { changes } = this.s.reclaimOwner.run(now, owner);
        if (changes > 0) this.logger.info({ pid, owner, rows: changes }, 'local queue reclaimed leases of a dead process');
      }
    }
  }

  private guard<T>(what: string, step: () => T): T {
    if (this.closed || !this.db.open) {
      throw new TransientError(ERROR_CODES.storageUnavailable, `local queue ${what} failed: the queue is closed`);
    }
    try {
      return step();
    } catch (err) {
      if (err instanceof Database.SqliteError) {
        throw new TransientError(ERROR_CODES.storageUnavailable, `local queue ${what} failed: ${err.code}: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
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

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function parseAttributes(json: string): Record<string, string> {
  const parsed: unknown = JSON.parse(json);
  const out: Record<string, string> = {};
  if (parsed && typeof parsed === 'object') {
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new LocalQueueError(LOCAL_QUEUE_ERROR_CODES.invalidOption, `Expected ${name} to be a whole number from 1 and up, got ${value}`);
  }
  return value;
}

function positiveNumber(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new LocalQueueError(LOCAL_QUEUE_ERROR_CODES.invalidOption, `Expected ${name} to be a number above 0, got ${value}`);
  }
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new LocalQueueError(LOCAL_QUEUE_ERROR_CODES.invalidOption, `Expected ${name} to be a number from 0 and up, got ${value}`);
  }
  return value;
}
