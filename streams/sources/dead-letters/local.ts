/**
 * The local queue's dead letters (the `dead_letters` table of `<DATA_DIR>/buildtrace.db`), read
 * and replayed by `buildtrace dead-letters` from its own connection, beside a running service.
 * A replay puts the row back in the `queue` table as a fresh message (no attempts spent) under
 * its message id, with its body and attributes unchanged, so the task keeps its `task_id`; the
 * running service's queue finds it at its next poll.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE, LocalDatabaseError, openDatabase, type Db } from '../../../src/infra/sqlite/database.js';
import {
  DEAD_LETTER_ACCESS_CODES,
  DeadLetterAccessError,
  describeDeadLetter,
  type DeadLetterMode,
  type DeadLetterOutcome,
  type DeadLetterQueue,
} from './entry.js';
import { parseAttributes, prepareReplayStatements, type ReplayRow, type ReplayStatements } from '../local-queue/statements.js';

/** Rows moved per transaction: bounds memory and how long the write lock is held. */
const REPLAY_BATCH = 200;
/** The command may wait for a running service's write lock; it blocks nothing else. */
const BUSY_TIMEOUT_MS = 10_000;

export class LocalDeadLetters implements DeadLetterQueue {
  readonly description: string;
  private readonly s: ReplayStatements;

  private constructor(
    private readonly db: Db,
    file: string,
  ) {
    this.description = `local queue ${file}`;
    this.s = prepareReplayStatements(db);
  }

  /**
   * Opens `<dataDir>/buildtrace.db`; a missing file is an error rather than an empty queue, as
   * it usually means DATA_DIR is not the service's.
   *
   * @throws {DeadLetterAccessError}
   * @example
   * const queue = LocalDeadLetters.open(config.dataDir);
   */
  static open(dataDir: string): LocalDeadLetters {
    const file = path.join(path.resolve(dataDir), DATABASE_FILE);
    if (!existsSync(file)) {
      throw new DeadLetterAccessError(
        DEAD_LETTER_ACCESS_CODES.notFound,
        `no local queue at ${file}: set DATA_DIR to the service's data directory`,
      );
    }
    try {
      return new LocalDeadLetters(openDatabase(dataDir, { busyTimeoutMs: BUSY_TIMEOUT_MS }), file);
    } catch (err) {
      if (err instanceof LocalDatabaseError) throw new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.refused, err.message, { cause: err });
      throw err;
    }
  }

  async run(mode: DeadLetterMode, limit: number | null, report: (outcome: DeadLetterOutcome) => void): Promise<void> {
    const wanted = limit ?? Number.MAX_SAFE_INTEGER;
    try {
      if (mode !== 'replay') {
        const action = mode === 'list' ? 'listed' : 'would replay';
        for (const row of this.s.oldest.iterate(wanted)) report({ entry: describe(row), action });
        return;
      }
      for (let done = 0; done < wanted; ) {
        const batch = Math.min(REPLAY_BATCH, wanted - done);
        const moved = this.replayBatch(batch);
        for (const row of moved) report({ entry: describe(row), action: 'replayed' });
        if (moved.length < batch) return; // none left
        done += moved.length;
      }
    } catch (err) {
      if (err instanceof Database.SqliteError) {
        throw new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.refused, `local queue ${mode} failed: ${err.code}: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** One transaction: each row enters the queue and leaves the dead letters together, or neither. */
  private replayBatch(limit: number): ReplayRow[] {
    return this.db.transaction(() => {
      const now = Date.now();
      const moved: ReplayRow[] = [];
      for (const row of this.s.oldest.all(limit)) {
        this.s.enqueue.run({ id: row.message_id, now });
        if (this.s.removeQueued.run({ id: row.message_id }).changes === 1) moved.push(row);
      }
      return moved;
    }).immediate();
  }
}

function describe(row: ReplayRow) {
  return describeDeadLetter(row.data, parseAttributes(row.attributes), { code: row.reason_code, message: row.reason_message });
}
