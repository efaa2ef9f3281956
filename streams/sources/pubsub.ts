/**
 * The Pub/Sub task source: streaming pull with flow control bounding what the process holds, each
 * message handed to the pipeline as a Delivery that knows how to ack, nack or dead-letter itself.
 */
import { Duration, type Message, type PubSub, type Subscription, type SubscriberOptions, type Topic } from '@google-cloud/pubsub';
import { Observable, Subject } from 'rxjs';
import { ERROR_CODES, OPTION_ERROR_CODES, OptionError, TransientError } from '../../src/domain/errors.js';
import { silentLogger, type Logger } from '../../src/log.js';
import { TIMED_OUT, within } from '../../src/timeout.js';
import { DEFAULT_MAX_DELIVERY_ATTEMPTS, type DeadLetterReason, type Delivery, type TaskSource } from '../../src/domain/source.js';
import { deadLetterAttributes } from './pubsub-attributes.js';
import { StreamWatchdog } from './pubsub-watchdog.js';

export { deadLetterAttributes, truncateUtf8 } from './pubsub-attributes.js';

/** The part of the client this source uses, so a caller can hand in any configured `PubSub`. */
export type PubSubClient = Pick<PubSub, 'subscription' | 'topic'>;

export interface PubSubSourceOptions {
  /** Subscription id (not the full `projects/…` name). */
  readonly subscription: string;
  /** Topic that `deadLetter()` publishes to; the same one the subscription's policy names. */
  readonly dlqTopic: string;
  /** Deliveries emitted and not yet settled, at most. */
  readonly maxMessages: number;
  /** Bytes of message data emitted and not yet settled, at most. */
  readonly maxBytes: number;
  /** Leases are extended up to this long: it must cover the slowest pair. */
  readonly maxLeaseSeconds: number;
  /** A stream silent this long after trouble (an error, or closing on its own) is reopened. */
  readonly watchdogSeconds: number;
  /** Used when the subscription's dead-letter policy cannot be read. @default 5 */
  readonly maxDeliveryAttempts?: number;
  /**
   * Streaming-pull connections. Each is flow-controlled by the server on its own, so the process
   * may hold up to `maxStreams` times the limits (the excess leased but not emitted). Against the
   * emulator one stream consumed about 1,800 small tasks a second and five about 5,400.
   * @default 1
   */
  readonly maxStreams?: number;
  readonly logger?: Logger;
}

/** Pub/Sub's own bounds on a lease (modifyAckDeadline accepts 10 to 600 seconds). */
const MIN_ACK_DEADLINE_SECONDS = 10;
const MAX_ACK_DEADLINE_SECONDS = 600;
/** How long close() waits for the client to finish closing its stream before it moves on. */
const CLOSE_WAIT_MS = 3_000;
const GRPC_OK = 0;
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * Reads tasks from a Pub/Sub subscription by streaming pull.
 *
 * Pulling starts when `deliveries()` is first subscribed to, so no message is leased (or handed
 * back, spending a delivery attempt) before someone can settle it.
 *
 * A stream silent after trouble is reopened by a watchdog (`pubsub-watchdog.ts` tells when).
 */
export class PubSubSource implements TaskSource {
  readonly name = 'pubsub' as const;

  #maxDeliveryAttempts: number;
  #errors = 0;
  #ackErrors = 0;
  #reopens = 0;

  private readonly options: Required<Omit<PubSubSourceOptions, 'logger'>>;
  private readonly log: Logger;
  private readonly subject = new Subject<Delivery>();
  private readonly stream: Observable<Delivery>;
  /** Emitted, not yet acked or nacked: what flow control and `close()` account for. */
  private readonly unsettled = new Map<Message, Delivery>();
  /** Streams being closed (in WAIT mode, so their emitted messages can still be settled). */
  private readonly closing = new Set<Promise<void>>();
  private current: Subscription | null = null;
  private dlq: Topic | null = null;
  private started: Promise<void> | null = null;
  private pulling = false;
  private stopping = false;
  private closed: Promise<void> | null = null;
  private readonly watchdog: StreamWatchdog;

  constructor(
    private readonly client: PubSubClient,
    options: PubSubSourceOptions,
  ) {
    validate(options);
    const { logger, ...rest } = options;
    this.options = { maxDeliveryAttempts: DEFAULT_MAX_DELIVERY_ATTEMPTS, maxStreams: 1, ...rest };
    this.log = (logger ?? silentLogger).child({ component: 'pubsub-source', subscription: options.subscription });
    this.#maxDeliveryAttempts = this.options.maxDeliveryAttempts;
    this.watchdog = new StreamWatchdog(this.options.watchdogSeconds * 1000);
    this.stream = new Observable<Delivery>((subscriber) => {
      const inner = this.subject.subscribe(subscriber);
      this.pull();
      void this.start();
      return () => {
        inner.unsubscribe();
        // With nobody left to settle them, messages would be nacked and come straight back,
        // spending delivery attempts until Pub/Sub dead-letters them unprocessed: pause instead.
        if (!this.subject.observed) this.pause();
      };
    });
  }

  /** From the subscription's dead-letter policy once `start()` has read it, else the option. */
  get maxDeliveryAttempts(): number {
    return this.#maxDeliveryAttempts;
  }

  /** Stream errors seen so far (each logged; none is fatal). */
  get errors(): number {
    return this.#errors;
  }

  /** Acks or nacks the broker refused (exactly-once subscriptions report these). */
  get ackErrors(): number {
    return this.#ackErrors;
  }

  /** Times the watchdog closed and reopened the stream. */
  get reopens(): number {
    return this.#reopens;
  }

  /** Deliveries emitted and not yet settled. */
  get inFlight(): number {
    return this.unsettled.size;
  }

  /**
   * Reads the subscription's dead-letter policy into `maxDeliveryAttempts`; idempotent, and run
   * by the first subscription to `deliveries()` too. Never rejects: without the policy the
   * configured maximum stands.
   */
  start(): Promise<void> {
    this.started ??= this.readPolicy();
    return this.started;
  }

  deliveries(): Observable<Delivery> {
    return this.stream;
  }

  /**
   * Stops pulling and completes the stream. In-flight deliveries keep their leases and can still
   * be acked or nacked until `close()`.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.watchdog.stop();
    const subscription = this.current;
    this.current = null;
    if (subscription) this.retire(subscription);
    this.subject.complete();
  }

  /** Stops, nacks whatever is still unsettled, and waits until the broker has every ack and nack. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.stop();
      for (const delivery of [...this.unsettled.values()]) delivery.nack();
      // The client's WAIT close also waits for messages it holds but never dispatched (the
      // emulator sends past flow control), which only their lease timeout ends; shutdown must
      // fit in its grace period, and those messages are redelivered anyway.
      const drained = (async () => {
        while (this.closing.size > 0) await Promise.all([...this.closing]);
      })();
      if ((await within(drained, CLOSE_WAIT_MS)) === TIMED_OUT) this.log.warn({ waitedMs: CLOSE_WAIT_MS }, 'subscription still closing; leaving undispatched messages to redelivery');
      if (this.dlq) await this.dlq.flush().catch((err: unknown) => this.log.warn({ err }, 'flushing dead letters failed'));
    })();
    return this.closed;
  }

  isReady(): boolean {
    return !this.stopping && this.current !== null && this.current.isOpen;
  }

  /** Opens the stream once; a missing subscription shows as `isReady() === false` and is retried by the watchdog. */
  private pull(): void {
    if (this.pulling || this.stopping) return;
    this.pulling = true;
    this.open();
    this.watchdog.start(() => this.checkWatchdog());
  }

  /** The dead-letter policy decides when Pub/Sub gives up; the pipeline should agree with it. */
  private async readPolicy(): Promise<void> {
    try {
      const [metadata] = await this.client.subscription(this.options.subscription).getMetadata();
      const attempts = metadata.deadLetterPolicy?.maxDeliveryAttempts;
      if (typeof attempts === 'number' && attempts > 0) this.#maxDeliveryAttempts = attempts;
      if (!metadata.deadLetterPolicy) {
        this.log.warn('subscription has no dead-letter policy: transient failures are retried forever');
      }
    } catch (err) {
      // Reading metadata needs pubsub.subscriptions.get, which a subscriber-only role lacks.
      this.log.warn({ err }, `cannot read the subscription's dead-letter policy; assuming ${this.#maxDeliveryAttempts} attempts`);
    }
  }

  private open(): void {
    const subscription = this.client.subscription(this.options.subscription, this.subscriberOptions());
    subscription.on('error', (err: Error) => {
      this.#errors += 1;
      this.watchdog.trouble();
      this.log.error({ err, errors: this.#errors }, 'subscription stream error');
    });
    subscription.on('debug', (msg: { message: string; error?: Error }) => {
      // Retryable stream ends surface only here; they count as trouble for the watchdog, except
      // OK and DEADLINE_EXCEEDED, which is how the server routinely recycles healthy streams.
      const code = (msg.error as { code?: unknown } | undefined)?.code;
      if (msg.error && code !== GRPC_OK && code !== GRPC_DEADLINE_EXCEEDED) {
        this.watchdog.trouble();
        this.log.debug({ err: msg.error }, msg.message);
      }
    });
    subscription.on('close', () => {
      if (subscription === this.current) {
        this.watchdog.trouble();
        this.log.warn('subscription stream closed unexpectedly; the watchdog will reopen it');
      }
    });
    subscription.on('message', (message: Message) => this.onMessage(subscription, message));
    this.current = subscription;
    this.watchdog.opened();
  }

  private subscriberOptions(): SubscriberOptions {
    const { maxMessages, maxBytes, maxLeaseSeconds } = this.options;
    return {
      flowControl: { maxMessages, maxBytes, allowExcessMessages: false },
      // Pub/Sub applies its flow control per stream, so with N streams up to N times the limit
      // can sit leased in memory beyond what is emitted; one stream keeps what the process
      // holds within the configured bound.
      streamingOptions: { maxStreams: this.options.maxStreams },
      minAckDeadline: Duration.from({ seconds: MIN_ACK_DEADLINE_SECONDS }),
      maxAckDeadline: Duration.from({ seconds: Math.min(MAX_ACK_DEADLINE_SECONDS, maxLeaseSeconds) }),
      maxExtensionTime: Duration.from({ seconds: maxLeaseSeconds }),
      // WAIT: closing stops the stream at once but keeps leasing what was emitted, so the
      // pipeline can still settle it; close() nacks the rest itself.
      closeOptions: { behavior: 'WAIT', timeout: Duration.from({ seconds: maxLeaseSeconds }) },
    };
  }

  private onMessage(from: Subscription, message: Message): void {
    if (this.stopping || from !== this.current || !this.subject.observed) {
      // Nobody can settle it: hand it straight back rather than hold a lease.
      message.nack();
      return;
    }
    this.watchdog.message();
    const delivery = this.toDelivery(message);
    this.unsettled.set(message, delivery);
    this.subject.next(delivery);
  }

  private toDelivery(message: Message): Delivery {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      this.unsettled.delete(message);
      return true;
    };
    const onRefused = (what: string) => (err: unknown) => {
      this.#ackErrors += 1;
      this.log.warn({ err, messageId: message.id }, `${what} refused by Pub/Sub`);
    };
    return {
      id: message.id,
      data: message.data,
      attributes: message.attributes,
      publishedAt: new Date(message.publishTime.getTime()),
      receivedAt: message.received,
      // Without a dead-letter policy Pub/Sub does not count attempts and sends 0.
      deliveryAttempt: message.deliveryAttempt > 0 ? message.deliveryAttempt : 1,
      ack: () => {
        // ackWithResponse is a plain ack unless exactly-once delivery is on, where it reports
        // whether the ack really landed.
        if (settle()) message.ackWithResponse().catch(onRefused('ack'));
      },
      nack: () => {
        if (settle()) message.nackWithResponse().catch(onRefused('nack'));
      },
      deadLetter: (reason) => this.publishDeadLetter(message, reason),
    };
  }

  /** @throws {TransientError} when the dead letter is not confirmed: the caller nacks instead of acking. */
  private async publishDeadLetter(message: Message, reason: DeadLetterReason): Promise<void> {
    this.dlq ??= this.client.topic(this.options.dlqTopic);
    const attributes = deadLetterAttributes(message.attributes, reason, {
      subscription: this.options.subscription,
      messageId: message.id,
      deliveryAttempt: message.deliveryAttempt > 0 ? message.deliveryAttempt : 1,
    });
    try {
      await this.dlq.publishMessage({ data: message.data, attributes });
    } catch (err) {
      throw new TransientError(
        ERROR_CODES.sinkUnavailable,
        `could not publish message ${message.id} to dead-letter topic ${this.options.dlqTopic}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private checkWatchdog(): void {
    const subscription = this.current;
    if (this.stopping || !subscription || !this.watchdog.due(subscription.isOpen, this.unsettled.size)) return;
    this.#reopens += 1;
    this.log.warn({ reopens: this.#reopens, open: subscription.isOpen }, 'subscription stream silent after trouble; reopening');
    this.retire(subscription);
    this.open();
  }

  /** Stops pulling until the next subscriber; emitted deliveries can still be settled. */
  private pause(): void {
    if (!this.pulling || this.stopping) return;
    this.pulling = false;
    this.watchdog.stop();
    const subscription = this.current;
    this.current = null;
    if (subscription) this.retire(subscription);
  }

  /** Closes a stream in the background; `close()` waits for all of them. */
  private retire(subscription: Subscription): void {
    const done: Promise<void> = subscription
      .close()
      .catch((err: unknown) => this.log.warn({ err }, 'closing the subscription stream failed'))
      .finally(() => {
        this.closing.delete(done);
        subscription.removeAllListeners('message');
      });
    this.closing.add(done);
  }
}

function validate(options: PubSubSourceOptions): void {
  const problems: string[] = [];
  const positive = (name: keyof PubSubSourceOptions, value: number | undefined): void => {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) problems.push(`${name} must be a positive integer, got ${value}`);
  };
  if (!options.subscription) problems.push('subscription must be a subscription id');
  if (!options.dlqTopic) problems.push('dlqTopic must be a topic id');
  positive('maxMessages', options.maxMessages);
  positive('maxBytes', options.maxBytes);
  positive('maxLeaseSeconds', options.maxLeaseSeconds);
  if (!(options.watchdogSeconds > 0)) problems.push(`watchdogSeconds must be positive, got ${options.watchdogSeconds}`);
  positive('maxDeliveryAttempts', options.maxDeliveryAttempts);
  positive('maxStreams', options.maxStreams);
  if (problems.length > 0) throw new OptionError(OPTION_ERROR_CODES.pubsubSource, `Invalid Pub/Sub source options: ${problems.join('; ')}`);
}
