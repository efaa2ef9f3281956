/**
 * How the local queue's database failures reach its callers: a closed queue or a SQLite error is
 * a TransientError (storage unavailable, try later); SQLITE_BUSY is told apart, as it only means
 * another process holds the write lock for now.
 */
import Database from 'better-sqlite3';
import { ERROR_CODES, TransientError } from '../../../src/domain/errors.js';
import type { Db } from '../../../src/infra/sqlite/database.js';

/** SQLITE_BUSY (or SQLITE_BUSY_*): another connection holds the lock this statement needed. */
export function isBusy(err: unknown): boolean {
  const cause = err instanceof TransientError ? err.cause : err;
  return cause instanceof Database.SqliteError && cause.code.startsWith('SQLITE_BUSY');
}

/** `step()`, or a TransientError naming `what` when the queue is closed or SQLite fails. */
export function guarded<T>(what: string, closed: boolean, db: Db, step: () => T): T {
  if (closed || !db.open) {
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
