/**
 * The local queue's dead letters: messages given up on, kept in the `dead_letters` table with
 * their reason for operators (and tests) to read back, newest first.
 */
import type { DeadLetterReason } from '../../../src/domain/source.js';
import { parseAttributes, type DeadLetterRow, type QueueRow } from './statements.js';

/** Reason code of a message the queue itself gave up on (Pub/Sub's max delivery attempts). */
export const MAX_ATTEMPTS_REASON = 'max_delivery_attempts';

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

/** The dead letter of a delivery of `row` that made `attempts` attempts. */
export function deadLetterRow(row: QueueRow, attempts: number, reason: DeadLetterReason, now: number): DeadLetterRow {
  return {
    message_id: row.message_id,
    data: row.data,
    attributes: row.attributes,
    reason_code: reason.code,
    reason_message: reason.message,
    drawing_id: reason.drawingId,
    attempts,
    created_at: now,
  };
}

export function deadLetterRecord(r: DeadLetterRow): DeadLetterRecord {
  return {
    messageId: r.message_id,
    data: r.data,
    attributes: parseAttributes(r.attributes),
    reasonCode: r.reason_code,
    reasonMessage: r.reason_message,
    drawingId: r.drawing_id,
    attempts: r.attempts,
    createdAt: new Date(r.created_at),
  };
}
