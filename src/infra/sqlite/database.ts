/**
 * Opens the embedded database file with the settings every connection to it needs, so the store
 * and the queue (each with its own connection, possibly in different processes) agree on WAL,
 * busy waiting and the schema version.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import { errorMessage, CodedError } from '../../domain/errors.js';

export type Db = Database.Database;

export const DATABASE_FILE = 'buildtrace.db';

/**
 * How long a statement waits for another connection's write lock before failing with SQLITE_BUSY.
 * better-sqlite3 waits synchronously, blocking the event loop (probes, the API, lease timers) for
 * the whole wait, so it stays short: our write transactions last a few ms, so 50 ms covers a
 * sibling's commit; a longer lock is an outage that fails fast as unavailable, and the sink
 * breaker (streams/retry/) retries it asynchronously.
 */
export const DEFAULT_BUSY_TIMEOUT_MS = 50;

/**
 * Opening migrates the schema under the write lock; that runs once, before the server listens,
 * so it may wait longer for another process's migration to finish.
 */
const OPEN_BUSY_TIMEOUT_MS = 5000;

export const DATABASE_ERROR_CODES = {
  unavailable: 'database_unavailable',
  schemaTooNew: 'schema_too_new',
} as const;
export type DatabaseErrorCode = (typeof DATABASE_ERROR_CODES)[keyof typeof DATABASE_ERROR_CODES];

/** The database file could not be opened or has a layout this build does not understand. */
export class LocalDatabaseError extends CodedError<DatabaseErrorCode> {
  override readonly name = 'LocalDatabaseError';
}

export interface OpenDatabaseOptions {
  /** @default DEFAULT_BUSY_TIMEOUT_MS */
  readonly busyTimeoutMs?: number;
}

/**
 * Opens (creating if needed) `<dataDir>/buildtrace.db`, switches it to WAL and brings its schema
 * up to date.
 *
 * @example
 * const db = openDatabase('./data'); // ./data/buildtrace.db, every table present
 */
export function openDatabase(dataDir: string, options: OpenDatabaseOptions = {}): Db {
  const file = path.join(path.resolve(dataDir), DATABASE_FILE);
  let db: Db;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file, { timeout: OPEN_BUSY_TIMEOUT_MS });
  } catch (err) {
    throw new LocalDatabaseError(DATABASE_ERROR_CODES.unavailable, `cannot open ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  try {
    // WAL lets the API read while a consumer writes, and lets several processes share the file.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') {
      throw new LocalDatabaseError(DATABASE_ERROR_CODES.unavailable, `${file} cannot use WAL (journal_mode is ${String(mode)})`);
    }
    // In WAL mode NORMAL skips the fsync at each commit, not the write: a committed transaction is
    // in the WAL file (the OS page cache) before COMMIT returns, so a process crash or SIGKILL
    // loses nothing; only a power loss or kernel crash can drop the last few commits.
    db.pragma('synchronous = NORMAL');
    migrate(db, file);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof LocalDatabaseError) throw err;
    throw new LocalDatabaseError(DATABASE_ERROR_CODES.unavailable, `cannot prepare ${file}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** Applies the missing migrations under the write lock, so concurrent openers migrate once. */
function migrate(db: Db, file: string): void {
  db.transaction(() => {
    const version = Number(db.pragma('user_version', { simple: true }));
    if (version > SCHEMA_VERSION) {
      throw new LocalDatabaseError(
        DATABASE_ERROR_CODES.schemaTooNew,
        `${file} has schema version ${version}, newer than this build's ${SCHEMA_VERSION}; upgrade BuildTrace or use another DATA_DIR`,
      );
    }
    for (let v = version; v < SCHEMA_VERSION; v += 1) {
      db.exec(MIGRATIONS[v] ?? '');
    }
    if (version !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
