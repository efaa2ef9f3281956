/**
 * The embedded queue seen from outside the service (its SQLite file, opened read-only while the
 * service writes in WAL mode), so a fault test can show backpressure in the queue itself: how
 * many tasks wait, how many are leased (held in the process), and how often they were delivered.
 */
import path from 'node:path';
import Database from 'better-sqlite3';

export interface QueueState {
  /** Rows not yet acked or dead-lettered. */
  readonly depth: number;
  /** Rows leased to a consumer right now: what the process holds (its flow control). */
  readonly leased: number;
  /** Most delivery attempts of any waiting row (above 1: nacked and redelivered). */
  readonly maxAttempts: number;
  readonly deadLetters: number;
}

export interface QueueWatcher {
  read(): QueueState;
  close(): void;
}

/**
 * Opens `<dataDir>/buildtrace.db` read-only; the file must exist (the service creates it).
 *
 * @example
 * const queue = watchQueue(dataDir);
 * t.teardown(() => queue.close());
 * t.true(queue.read().leased <= 100);
 */
export function watchQueue(dataDir: string): QueueWatcher {
  const db = new Database(path.join(dataDir, 'buildtrace.db'), { readonly: true, fileMustExist: true });
  const statement = db.prepare(
    `SELECT count(*) AS depth,
            coalesce(sum(lease_owner IS NOT NULL AND lease_until > @now), 0) AS leased,
            coalesce(max(attempts), 0) AS maxAttempts,
            (SELECT count(*) FROM dead_letters) AS deadLetters
     FROM queue`,
  );
  return {
    read: () => statement.get({ now: Date.now() }) as QueueState,
    close: () => db.close(),
  };
}
