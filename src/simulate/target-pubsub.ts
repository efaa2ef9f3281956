/**
 * The Pub/Sub target: one inline task per pair on the topic the service consumes (the emulator
 * when PUBSUB_EMULATOR_HOST is set), published through the service's own publisher so the
 * simulator and `POST /process` enqueue messages the same way.
 */
import type { PubSub } from '@google-cloud/pubsub';
import type { OutgoingTask } from '../domain/source.js';
import { PubSubPublisher } from '../../streams/sources/pubsub-publisher.js';
import { inlineTaskJson } from './inline-task.js';
import type { SimItem } from './scenario.js';
import { Bounded, SimulateError, SIMULATE_ERROR_CODES, type Fate, type Target, type TargetReport, type WrittenListener } from './target.js';

/** Pub/Sub refuses messages over 10 MB (API limit); a larger pair must go through Cloud Storage. */
export const MAX_MESSAGE_BYTES = 10_000_000;
/** Messages per `publish` call: the publisher batches them into requests of up to 100. */
const CHUNK = 100;

export interface PubSubTargetOptions {
  readonly client: Pick<PubSub, 'topic'>;
  readonly topic: string;
  /** `job_id` of every task and the prefix of its `task_id` (`<runId>:<index>`). */
  readonly runId: string;
  /** Publish calls in flight. @default 4 */
  readonly concurrency?: number;
  readonly onWritten?: WrittenListener;
}

/**
 * Publishes pairs as inline tasks with `job_id`, `task_id` and `drawing_id` attributes. A half
 * pair is a task with one version, which the consumer dead-letters as malformed.
 *
 * @example
 * const target = await pubsubTarget({ client: new PubSub({ projectId }), topic: 'drawing-processing-tasks', runId: 'sim-7' });
 */
export async function pubsubTarget(options: PubSubTargetOptions): Promise<Target> {
  const topic = options.client.topic(options.topic);
  let exists: boolean;
  try {
    [exists] = await topic.exists();
  } catch (err) {
    throw new SimulateError(
      SIMULATE_ERROR_CODES.targetUnavailable,
      `cannot reach Pub/Sub to check topic ${options.topic}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!exists) {
    throw new SimulateError(
      SIMULATE_ERROR_CODES.targetUnavailable,
      `Pub/Sub topic ${options.topic} does not exist: start the service once (it creates its topic and subscription) or create it, then rerun`,
    );
  }

  const publisher = new PubSubPublisher(options.client, { topic: options.topic });
  const bounded = new Bounded(options.concurrency ?? 4);
  let chunk: OutgoingTask[] = [];
  let written = 0;
  let bytes = 0;

  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const tasks = chunk;
    chunk = [];
    const size = tasks.reduce((n, t) => n + t.data.length, 0);
    await bounded.run(async () => {
      try {
        await publisher.publish(tasks);
      } catch (err) {
        throw new SimulateError(SIMULATE_ERROR_CODES.targetUnavailable, `publishing to ${options.topic} failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      written += tasks.length;
      bytes += size;
      options.onWritten?.(tasks.length, size);
    });
  };

  return {
    name: 'pubsub',
    fate: (item: SimItem): Fate => (item.kind === 'good' ? 'result' : 'malformed'),
    async write(item: SimItem) {
      const taskId = `${options.runId}:${item.index}`;
      const data = Buffer.from(inlineTaskJson(item, { job_id: options.runId, task_id: taskId }));
      if (data.length > MAX_MESSAGE_BYTES) {
        throw new SimulateError(
          SIMULATE_ERROR_CODES.tooLarge,
          `pair ${item.index} (${item.drawingId}) is ${data.length} bytes as a task, over Pub/Sub's ${MAX_MESSAGE_BYTES}-byte message limit; ` +
            'send pairs this large as files (--out gs://bucket/prefix) instead',
        );
      }
      chunk.push({ data, attributes: { drawing_id: item.drawingId, job_id: options.runId, task_id: taskId } });
      if (chunk.length >= CHUNK) await flush();
    },
    async finish(): Promise<TargetReport> {
      await flush();
      await bounded.drain();
      return { written, refused: 0, unexpectedlyAccepted: 0, bytes, description: `Pub/Sub topic ${options.topic}` };
    },
    async close() {
      await bounded.drain().catch(() => undefined);
      await publisher.close().catch(() => undefined);
    },
  };
}
