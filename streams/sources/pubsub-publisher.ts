/**
 * Publishes tasks to the Pub/Sub topic in batches and resolves only when Pub/Sub has confirmed
 * every one, so `POST /process` answers 202 only for work that is durably enqueued.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { OutgoingTask, TaskPublisher } from '../../src/domain/source.js';

export type PubSubPublisherClient = Pick<PubSub, 'topic'>;

export interface PubSubPublisherOptions {
  /** Topic id (not the full `projects/…` name). */
  readonly topic: string;
  /** Give up on a publish (retries included) after this long. @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * Batching: Pub/Sub accepts at most 1000 messages and 10 MB per publish request; staying well
 * under both keeps one slow request from holding many tasks. 10 ms of delay lets one
 * `POST /process` body share requests without adding noticeable latency.
 */
const BATCHING = { maxMessages: 100, maxBytes: 4 * 1024 * 1024, maxMilliseconds: 10 } as const;
const DEFAULT_TIMEOUT_MS = 30_000;

/** Some tasks of a batch could not be published; the caller may retry the whole request. */
export class TaskPublishError extends TransientError {
  constructor(
    /** Positions in the `publish()` argument that were not confirmed. */
    readonly failedIndexes: readonly number[],
    readonly total: number,
    topic: string,
    cause: unknown,
  ) {
    super(
      ERROR_CODES.sinkUnavailable,
      `${failedIndexes.length} of ${total} tasks could not be published to Pub/Sub topic ${topic}: ${describe(cause)}`,
      { cause },
    );
  }
}

export class PubSubPublisher implements TaskPublisher {
  private readonly topic: Topic;
  private readonly topicName: string;

  constructor(client: PubSubPublisherClient, options: PubSubPublisherOptions) {
    if (!options.topic) throw new TypeError('PubSubPublisher needs a topic id');
    this.topicName = options.topic;
    this.topic = client.topic(options.topic, {
      batching: BATCHING,
      // gax applies `timeout` as the total deadline across retries of one publish request.
      gaxOpts: { timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    });
  }

  /**
   * Publishes every task; resolves once Pub/Sub has confirmed them all.
   *
   * @throws {TaskPublishError} naming how many tasks failed (some may have been published: a
   *   retried request can enqueue a task twice, which processing tolerates by being idempotent).
   * @example
   * await publisher.publish([{ data: Buffer.from(JSON.stringify(task)), attributes: { drawing_id: 'D1' } }]);
   */
  async publish(tasks: readonly OutgoingTask[]): Promise<void> {
    if (tasks.length === 0) return;
    // Publish all before awaiting any, so the client batches them into few requests.
    const pending = tasks.map((task) => this.topic.publishMessage({ data: task.data, attributes: { ...task.attributes } }));
    const results = await Promise.allSettled(pending);
    const failedIndexes: number[] = [];
    let firstError: unknown = null;
    results.forEach((result, index) => {
      if (result.status === 'rejected') {
        failedIndexes.push(index);
        firstError ??= result.reason;
      }
    });
    if (failedIndexes.length > 0) throw new TaskPublishError(failedIndexes, tasks.length, this.topicName, firstError);
  }

  /** Sends whatever is still batched and waits for it. The client itself belongs to the caller. */
  async close(): Promise<void> {
    await this.topic.flush();
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
