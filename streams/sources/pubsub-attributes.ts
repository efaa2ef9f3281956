/**
 * Pure helpers for the attributes of a Pub/Sub message: what a dead letter carries, within
 * Pub/Sub's limits on attribute count and value size.
 */
import type { DeadLetterReason } from '../../src/domain/source.js';

/** Pub/Sub limits an attribute value to 1024 bytes and a message to 100 attributes. */
const MAX_ATTRIBUTE_VALUE_BYTES = 1024;
const MAX_ATTRIBUTES = 100;

/**
 * The attributes a dead letter carries: the original ones, then the reason and provenance, which
 * win on a name clash. Values are cut to Pub/Sub's 1024-byte limit on a character boundary.
 */
export function deadLetterAttributes(
  original: Readonly<Record<string, string>>,
  reason: DeadLetterReason,
  origin: { readonly subscription: string; readonly messageId: string; readonly deliveryAttempt: number },
): Record<string, string> {
  const ours: Record<string, string> = {
    error_code: reason.code,
    error_message: truncateUtf8(reason.message, MAX_ATTRIBUTE_VALUE_BYTES),
    source_subscription: origin.subscription,
    original_message_id: origin.messageId,
    delivery_attempt: String(origin.deliveryAttempt),
  };
  if (reason.drawingId) ours.drawing_id = truncateUtf8(reason.drawingId, MAX_ATTRIBUTE_VALUE_BYTES);
  const room = MAX_ATTRIBUTES - Object.keys(ours).length;
  const kept = Object.entries(original)
    .filter(([key]) => !(key in ours))
    .slice(0, room);
  return { ...Object.fromEntries(kept), ...ours };
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}
