/**
 * Leases: which consumer holds which row, until when. Rows are leased in small transactions, a
 * lease is extended while its work is in flight, rows emitted to nobody are handed back, and at
 * start-up the leases of a dead process on this host are freed (crash reclaim).
 */
import type { Db } from '../../../src/infra/sqlite/database.js';
import type { Logger } from '../../../src/log.js';
import { MAX_ATTEMPTS_REASON } from './dead-letters.js';
import type { QueueRow, Statements } from './statements.js';

/** What the queue remembers about one emitted, unsettled delivery. */
export interface InFlight {
  readonly row: QueueRow;
  /** Attempts including this delivery. */
  readonly attempts: number;
  settled: boolean;
  leaseLost: boolean;
}

/** The consumer that takes leases, as every lease statement names it. */
export interface Lessee {
  /** Lease owner id, random per open queue. */
  readonly owner: string;
  readonly host: string;
  readonly leaseMs: number;
  readonly maxDeliveryAttempts: number;
  readonly logger: Logger;
}

/** Owners of live queues in this process, so a second queue never reclaims a sibling's leases. */
export const liveOwners = new Set<string>();

/**
 * One transaction that leases up to `limit` visible rows to `lessee`, dead-lettering instead a
 * row whose last lease ran out on its final attempt.
 */
export function leaseTransaction(
  db: Db,
  s: Statements,
  lessee: Lessee,
): (limit: number, now: number) => { delivered: InFlight[]; scanned: number } {
  return (limit, now) =>
    db.transaction(() => {
      const rows = s.selectVisible.all(now, limit);
      const delivered: InFlight[] = [];
      for (const row of rows) {
        if (row.attempts >= lessee.maxDeliveryAttempts) {
          // Its last lease ran out unsettled (the consumer died or hung) on the final attempt.
          const message = `not settled after ${row.attempts} delivery attempts (lease expired)`;
          s.deadLetterExhausted.run({ seq: row.seq, code: MAX_ATTEMPTS_REASON, message, now });
          s.deleteSeq.run(row.seq);
          lessee.logger.warn({ messageId: row.message_id, attempts: row.attempts }, 'local queue dead-lettered an expired message');
          continue;
        }
        s.lease.run({ seq: row.seq, owner: lessee.owner, pid: process.pid, host: lessee.host, until: now + lessee.leaseMs });
        delivered.push({ row, attempts: row.attempts + 1, settled: false, leaseLost: false });
      }
      return { delivered, scanned: rows.length };
    }).immediate();
}

/** Pushes every held lease a full lease ahead; a lease found lost is marked, and logged once. */
export function extendLeases(db: Db, s: Statements, lessee: Lessee, inFlight: Iterable<InFlight>): void {
  try {
    const until = Date.now() + lessee.leaseMs;
    db.transaction(() => {
      for (const state of inFlight) {
        if (state.leaseLost) continue;
        if (s.extend.run({ id: state.row.message_id, owner: lessee.owner, until }).changes === 0) {
          state.leaseLost = true;
          lessee.logger.warn({ messageId: state.row.message_id }, 'local queue lease lost before settle; it may be processed twice');
        }
      }
    }).immediate();
  } catch (err) {
    lessee.logger.warn({ err }, 'local queue could not extend leases');
  }
}

/** Rows emitted to nobody go back at once, without counting as an attempt. */
export function handBack(db: Db, s: Statements, lessee: Lessee, states: readonly InFlight[]): void {
  try {
    const now = Date.now();
    db.transaction(() => {
      for (const state of states) {
        s.releaseOne.run(now, state.row.message_id, lessee.owner);
      }
    }).immediate();
  } catch (err) {
    lessee.logger.warn({ err }, 'local queue could not hand back undelivered rows; they return after lease expiry');
  }
}

/**
 * At start-up, frees rows leased by a process on this host that no longer exists (or by an
 * earlier process that had our pid), so a restart after SIGKILL resumes at once instead of
 * after the lease runs out. Leases held elsewhere wait for expiry.
 */
export function reclaimDeadOwners(s: Statements, lessee: Lessee): void {
  const now = Date.now();
  for (const pid of s.foreignLeasePids.all(lessee.host, lessee.owner)) {
    for (const owner of s.foreignLeaseOwners.all(lessee.host, pid)) {
      const dead = pid === process.pid ? !liveOwners.has(owner) : !processAlive(pid);
      if (!dead) continue;
      const { changes } = s.reclaimOwner.run(now, owner);
      if (changes > 0) lessee.logger.info({ pid, owner, rows: changes }, 'local queue reclaimed leases of a dead process');
    }
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
