/**
 * The local queue's rows and every SQL statement run on them, prepared once per connection: the
 * queue's own, and the dead-letter replay's. Tables: `queue` (one row per unacked message, with
 * its lease) and `dead_letters`.
 */
import type { Db } from '../../../src/infra/sqlite/database.js';

export interface QueueRow {
  readonly seq: number;
  readonly message_id: string;
  readonly data: Buffer;
  readonly attributes: string;
  readonly published_at: number;
  readonly attempts: number;
}

export interface DeadLetterRow {
  readonly message_id: string;
  readonly data: Buffer;
  readonly attributes: string;
  readonly reason_code: string;
  readonly reason_message: string;
  readonly drawing_id: string | null;
  readonly attempts: number;
  readonly created_at: number;
}

const RELEASE = `lease_owner = NULL, lease_pid = NULL, lease_host = NULL, lease_until = NULL`;

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Db) {
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

export type ReplayStatements = ReturnType<typeof prepareReplayStatements>;
export type ReplayRow = Pick<DeadLetterRow, 'message_id' | 'data' | 'attributes' | 'reason_code' | 'reason_message'>;

/**
 * What `buildtrace dead-letters` runs on its own connection, beside a running service: read the
 * dead letters, and move one back into the queue as a fresh message under its message id.
 */
export function prepareReplayStatements(db: Db) {
  return {
    // Oldest first, so `list --limit N` shows the N that `replay --limit N` moves.
    oldest: db.prepare<[number], ReplayRow>(
      `SELECT message_id, data, attributes, reason_code, reason_message FROM dead_letters
       ORDER BY created_at, rowid LIMIT ?`,
    ),
    // A message still in the queue (its ack was lost after it was dead-lettered) is left as it is.
    enqueue: db.prepare<[{ id: string; now: number }]>(
      `INSERT OR IGNORE INTO queue (message_id, data, attributes, published_at, attempts, visible_at)
       SELECT message_id, data, attributes, @now, 0, @now FROM dead_letters WHERE message_id = @id`,
    ),
    removeQueued: db.prepare<[{ id: string }]>(
      `DELETE FROM dead_letters WHERE message_id = @id AND EXISTS (SELECT 1 FROM queue WHERE message_id = @id)`,
    ),
  };
}

/**
 * A row's `attributes` column: a JSON object of strings. Anything else in it is dropped, and a
 * column that is not JSON at all (a row written by hand) reads as no attributes, so the message
 * is still delivered, listed and replayed by its body.
 */
export function parseAttributes(json: string): Record<string, string> {
  const out: Record<string, string> = {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return out;
  }
  if (parsed && typeof parsed === 'object') {
    for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}
