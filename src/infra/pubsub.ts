/**
 * Pub/Sub's own rules, written once for the configuration, the topology and the simulator: what a
 * resource id may be, and the bounds the API puts on a dead-letter policy.
 */

/** Pub/Sub resource ids: 3–255 characters, start with a letter, no `goog` prefix. */
export const PUBSUB_ID_PATTERN = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;

/** A dead-letter policy's maxDeliveryAttempts must lie in this range. */
export const DEAD_LETTER_ATTEMPTS = { min: 5, max: 100 } as const;
