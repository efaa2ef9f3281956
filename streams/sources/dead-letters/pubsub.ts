/**
 * Pub/Sub's dead letters: read from the dead-letter topic's own subscription (`<dlqTopic>-sub`,
 * created by the topology and by `buildtrace setup`) with unary pulls, and replayed by
 * publishing each one to the tasks topic with its body and original attributes. A dead letter is
 * acked only after Pub/Sub confirmed its republished copy, so a failure at any point leaves it
 * where it was (at worst a task is published twice, which processing absorbs by its `task_id`).
 * `list` and `dry-run` hold what they pulled until the end and then hand it all back
 * (modifyAckDeadline 0): handing back at once would only get the same messages pulled again.
 */
import { v1, type PubSub, type Topic } from '@google-cloud/pubsub';
import { DEAD_LETTER_ACCESS_CODES, DeadLetterAccessError, describeDeadLetter, type DeadLetterMode, type DeadLetterOutcome, type DeadLetterQueue } from './entry.js';

export interface PubSubDeadLetterNames {
  /** The dead-letter subscription id, `<PUBSUB_DLQ_TOPIC>-sub`. */
  readonly dlqSubscription: string;
  /** The tasks topic id, `PUBSUB_TOPIC`, where replays go. */
  readonly topic: string;
  /** Where the client connects, for messages (the emulator's host, or Google's endpoint). */
  readonly endpoint: string;
}

export interface PubSubDeadLetterOptions {
  /** A pull that gets nothing within this long ends the run (Pub/Sub holds a pull on an empty subscription). @default 5000 */
  readonly pullWaitMs?: number;
}

/** Messages per pull (and so per publish batch). */
const PULL_BATCH = 100;
/** Lease on what was pulled, renewed while it is held; Pub/Sub accepts 10 to 600 s. */
const HOLD_SECONDS = 60;
const RENEW_EVERY_MS = 20_000;
/** Ack ids per acknowledge or modifyAckDeadline request (far under the 512 KB request limit). */
const ACK_CHUNK = 1000;
const PUBLISH_TIMEOUT_MS = 30_000;
const DEFAULT_PULL_WAIT_MS = 5_000;

const GRPC = { deadlineExceeded: 4, notFound: 5, permissionDenied: 7, unavailable: 14 } as const;

/** Attributes the dead-lettering added (the service's reason and provenance, Pub/Sub's forwarding record). */
const SERVICE_DEAD_LETTER_ATTRIBUTES = new Set(['error_code', 'error_message', 'source_subscription', 'original_message_id', 'delivery_attempt']);

/**
 * The attributes a replayed task is published with: the dead letter's, minus what dead-lettering
 * added, plus `replayed_from` naming the dead letter, so logs can tell a replay from the original.
 *
 * @example
 * replayAttributes({ task_id: 'j:0', error_code: 'sink_unavailable' }, 'dlq-sub/17'); // { task_id: 'j:0', replayed_from: 'dlq-sub/17' }
 */
export function replayAttributes(attributes: Readonly<Record<string, string>>, from: string): Record<string, string> {
  const kept = Object.entries(attributes).filter(([key]) => !SERVICE_DEAD_LETTER_ATTRIBUTES.has(key) && !key.startsWith('CloudPubSubDeadLetter'));
  return { ...Object.fromEntries(kept), replayed_from: from };
}

interface Pulled {
  readonly ackId: string;
  readonly messageId: string;
  readonly data: Buffer;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Reads and replays the dead-letter subscription. Owns the client it is given: `close()` closes it. */
export class PubSubDeadLetters implements DeadLetterQueue {
  readonly description: string;
  private readonly subscriptionPath: string;
  private readonly pullWaitMs: number;
  private subscriber: v1.SubscriberClient | null = null;
  private tasks: Topic | null = null;

  constructor(
    private readonly pubsub: PubSub,
    private readonly names: PubSubDeadLetterNames,
    options: PubSubDeadLetterOptions = {},
  ) {
    this.description = `Pub/Sub subscription ${names.dlqSubscription} (replays go to topic ${names.topic})`;
    this.subscriptionPath = pubsub.subscription(names.dlqSubscription).name;
    this.pullWaitMs = options.pullWaitMs ?? DEFAULT_PULL_WAIT_MS;
  }

  async run(mode: DeadLetterMode, limit: number | null, report: (outcome: DeadLetterOutcome) => void): Promise<void> {
    const wanted = limit ?? Number.MAX_SAFE_INTEGER;
    if (mode === 'replay') {
      await this.replay(wanted, report);
      return;
    }
    // Held until the end, by message id (a lapsed lease can bring one back under a new ack id).
    const held = new Map<string, string[]>();
    const ackIds = () => [...held.values()].flat();
    const renew = setInterval(() => void this.modify(ackIds(), HOLD_SECONDS).catch(() => undefined), RENEW_EVERY_MS);
    let failure: unknown = null;
    try {
      for (let count = 0; count < wanted; ) {
        const pulled = await this.pull(Math.min(PULL_BATCH, wanted - count));
        const fresh = pulled.filter((m) => !held.has(m.messageId));
        for (const m of pulled) held.set(m.messageId, [...(held.get(m.messageId) ?? []), m.ackId]);
        if (fresh.length === 0) break;
        await this.modify(fresh.map((m) => m.ackId), HOLD_SECONDS);
        for (const m of fresh) report({ entry: describeDeadLetter(m.data, m.attributes), action: mode === 'list' ? 'listed' : 'would replay' });
        count += fresh.length;
      }
    } catch (err) {
      failure = err;
    } finally {
      clearInterval(renew);
    }
    try {
      await this.modify(ackIds(), 0);
    } catch (err) {
      failure ??= new DeadLetterAccessError(
        DEAD_LETTER_ACCESS_CODES.refused,
        `could not hand back ${held.size} dead letter(s); they stay on ${this.names.dlqSubscription} and are deliverable again within ${HOLD_SECONDS} s: ${firstLine(err)}`,
        { cause: err },
      );
    }
    if (failure) throw failure;
  }

  async close(): Promise<void> {
    // Every publish was awaited and every ack confirmed: nothing is left that closing could lose.
    await Promise.allSettled([this.tasks?.flush(), this.subscriber?.close(), this.pubsub.close()]);
  }

  private async replay(wanted: number, report: (outcome: DeadLetterOutcome) => void): Promise<void> {
    const replayed = new Set<string>();
    for (let count = 0; count < wanted; ) {
      const pulled = await this.pull(Math.min(PULL_BATCH, wanted - count));
      if (pulled.length === 0) return;
      // Redelivered after this run republished it (an ack can be lost): it needs only its ack.
      const again = pulled.filter((m) => replayed.has(m.messageId));
      const fresh = pulled.filter((m) => !replayed.has(m.messageId));
      await this.acknowledge(again.map((m) => m.ackId));
      if (fresh.length === 0) return;
      await this.modify(fresh.map((m) => m.ackId), HOLD_SECONDS);

      this.tasks ??= this.pubsub.topic(this.names.topic, {
        batching: { maxMessages: PULL_BATCH, maxMilliseconds: 10 },
        gaxOpts: { timeout: PUBLISH_TIMEOUT_MS },
      });
      const tasks = this.tasks;
      const results = await Promise.allSettled(
        fresh.map((m) => tasks.publishMessage({ data: m.data, attributes: replayAttributes(m.attributes, `${this.names.dlqSubscription}/${m.messageId}`) })),
      );
      const published = fresh.filter((_, i) => results[i]!.status === 'fulfilled');
      const unpublished = fresh.filter((_, i) => results[i]!.status === 'rejected');

      let ackFailure: unknown = null;
      try {
        await this.acknowledge(published.map((m) => m.ackId));
      } catch (err) {
        ackFailure = err;
      }
      for (const m of published) {
        replayed.add(m.messageId);
        const detail = ackFailure ? 'republished, but its dead letter could not be acked: it will be listed (and may be replayed) again' : undefined;
        report({ entry: describeDeadLetter(m.data, m.attributes), action: 'replayed', ...(detail ? { detail } : {}) });
      }
      if (unpublished.length > 0) {
        const cause = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
        const why = this.accessError(cause, `publish to topic ${this.names.topic}`);
        // Handed back at once, unchanged, so the next run can try again.
        await this.modify(unpublished.map((m) => m.ackId), 0).catch(() => undefined);
        for (const m of unpublished) report({ entry: describeDeadLetter(m.data, m.attributes), action: 'failed', detail: `left on the dead-letter subscription: ${why.message}` });
        throw why;
      }
      if (ackFailure) throw ackFailure;
      count += published.length;
    }
  }

  private async client(): Promise<v1.SubscriberClient> {
    // The same settings the high-level client uses (the emulator's host and plain-text channel included);
    // only its port type is wider than the GAPIC constructor's.
    this.subscriber ??= new v1.SubscriberClient((await this.pubsub.getClientConfig()) as ConstructorParameters<typeof v1.SubscriberClient>[0]);
    return this.subscriber;
  }

  private async pull(maxMessages: number): Promise<Pulled[]> {
    let response;
    try {
      const client = await this.client();
      [response] = await client.pull({ subscription: this.subscriptionPath, maxMessages }, { timeout: this.pullWaitMs });
    } catch (err) {
      // A pull that found nothing before its deadline; one that could not connect says UNAVAILABLE.
      if (codeOf(err) === GRPC.deadlineExceeded && !/UNAVAILABLE|ECONNREFUSED/.test(String((err as Error).message))) return [];
      throw this.accessError(err, `pull from subscription ${this.names.dlqSubscription}`);
    }
    const pulled: Pulled[] = [];
    for (const r of response.receivedMessages ?? []) {
      if (!r.ackId || !r.message) continue;
      const data = r.message.data;
      pulled.push({
        ackId: r.ackId,
        messageId: r.message.messageId ?? r.ackId,
        data: typeof data === 'string' ? Buffer.from(data, 'base64') : Buffer.from(data ?? new Uint8Array()),
        attributes: { ...(r.message.attributes ?? {}) },
      });
    }
    return pulled;
  }

  private async acknowledge(ackIds: readonly string[]): Promise<void> {
    try {
      const client = await this.client();
      for (let i = 0; i < ackIds.length; i += ACK_CHUNK) {
        await client.acknowledge({ subscription: this.subscriptionPath, ackIds: ackIds.slice(i, i + ACK_CHUNK) });
      }
    } catch (err) {
      throw this.accessError(err, `ack on subscription ${this.names.dlqSubscription}`);
    }
  }

  private async modify(ackIds: readonly string[], seconds: number): Promise<void> {
    try {
      const client = await this.client();
      for (let i = 0; i < ackIds.length; i += ACK_CHUNK) {
        await client.modifyAckDeadline({ subscription: this.subscriptionPath, ackIds: ackIds.slice(i, i + ACK_CHUNK), ackDeadlineSeconds: seconds });
      }
    } catch (err) {
      throw this.accessError(err, `modifyAckDeadline on subscription ${this.names.dlqSubscription}`);
    }
  }

  /** One line an operator can act on, from a client error. */
  private accessError(err: unknown, what: string): DeadLetterAccessError {
    const code = codeOf(err);
    const detail = firstLine(err);
    if (code === GRPC.notFound) {
      return new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.notFound, `${what} failed: not found (${detail}); \`buildtrace setup --apply --only pubsub\` creates it`, { cause: err });
    }
    if (code === GRPC.unavailable || (code === GRPC.deadlineExceeded && /UNAVAILABLE|ECONNREFUSED/.test(detail))) {
      return new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.unreachable, `${what} failed: cannot reach Pub/Sub at ${this.names.endpoint}`, { cause: err });
    }
    if (code === GRPC.permissionDenied) {
      return new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.refused, `${what} failed: permission denied (${detail}); see the README's "Dead letters" for the roles`, { cause: err });
    }
    return new DeadLetterAccessError(DEAD_LETTER_ACCESS_CODES.refused, `${what} failed: ${detail}`, { cause: err });
  }
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code;
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0]!.slice(0, 300);
}
