/**
 * The contract every task source meets (local queue, Pub/Sub): a stream of deliveries, each with
 * its own ack, nack and dead-letter, so the pipeline never knows which broker it reads from.
 * Memory is bounded here, at the source: a source holds at most its flow-control limit of
 * deliveries that have been emitted but not yet settled.
 */
import type { Observable } from 'rxjs';

export interface DeadLetterReason {
  /** Low-cardinality code from ERROR_CODES. */
  readonly code: string;
  readonly message: string;
  readonly drawingId: string | null;
}

export interface Delivery {
  /** The broker's id for this message (stable across redeliveries of the same message). */
  readonly id: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
  /** When the message was published / enqueued. */
  readonly publishedAt: Date;
  /** `Date.now()` when this delivery was received by the process. */
  readonly receivedAt: number;
  /** 1 on first delivery. */
  readonly deliveryAttempt: number;
  /** The result is durable: never deliver this message again. */
  ack(): void;
  /** A transient failure: deliver again later, with backoff, until max attempts. */
  nack(): void;
  /**
   * Permanent failure: store the message with its reason where operators look for dead letters
   * (the DLQ topic, or the local dead-letter table). Resolves once durable; the caller acks after.
   */
  deadLetter(reason: DeadLetterReason): Promise<void>;
}

/** MAX_DELIVERY_ATTEMPTS when not set: attempts before a failing message is dead-lettered. */
export const DEFAULT_MAX_DELIVERY_ATTEMPTS = 5;

export interface TaskSource {
  readonly name: 'local' | 'pubsub';
  /** After this many attempts a failing message is dead-lettered by the source or broker. */
  readonly maxDeliveryAttempts: number;
  /** Hot stream of deliveries; completes after `stop()` once no more will be emitted. */
  deliveries(): Observable<Delivery>;
  /** Stop pulling. Deliveries already emitted can still be acked or nacked. */
  stop(): Promise<void>;
  /** Release connections; unsettled deliveries are nacked. */
  close(): Promise<void>;
  /** Connected and able to pull (readiness probe). */
  isReady(): boolean;
}

/** One encoded task to enqueue: the JSON body and the attributes the broker carries beside it. */
export interface OutgoingTask {
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** The producer side of a source: `POST /process` answers 202 only after `publish` resolves. */
export interface TaskPublisher {
  /** Resolves once every task is durably enqueued; rejects if any could not be. */
  publish(tasks: readonly OutgoingTask[]): Promise<void>;
  close(): Promise<void>;
}
