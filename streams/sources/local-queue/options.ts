/**
 * What the local queue is opened with, checked once at open, and the error its misuse raises.
 */
import type { Logger } from '../../../src/log.js';
import { CodedError, OPTION_ERROR_CODES, OptionError } from '../../../src/domain/errors.js';

export const LOCAL_QUEUE_ERROR_CODES = {
  alreadyConsuming: 'already_consuming',
} as const;
export type LocalQueueErrorCode = (typeof LOCAL_QUEUE_ERROR_CODES)[keyof typeof LOCAL_QUEUE_ERROR_CODES];

/** Misuse of the queue (a second consumer), as opposed to a failing database; a bad option is an OptionError. */
export class LocalQueueError extends CodedError<LocalQueueErrorCode> {
  override readonly name = 'LocalQueueError';
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

export function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new OptionError(OPTION_ERROR_CODES.localQueue, `Expected ${name} to be a whole number from 1 and up, got ${value}`);
  }
  return value;
}

export function positiveNumber(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new OptionError(OPTION_ERROR_CODES.localQueue, `Expected ${name} to be a number above 0, got ${value}`);
  }
  return value;
}

export function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new OptionError(OPTION_ERROR_CODES.localQueue, `Expected ${name} to be a number from 0 and up, got ${value}`);
  }
  return value;
}
