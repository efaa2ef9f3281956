/**
 * The Pub/Sub publisher against the official emulator: a publish resolves only with every task
 * confirmed, and a failed one rejects with a transient error naming how many failed.
 */
import anyTest from 'ava';
import type { PubSub } from '@google-cloud/pubsub';
import { TransientError } from '../../../src/domain/errors.js';
import { PubSubPublisher, TaskPublishError } from '../../../streams/sources/pubsub-publisher.js';
import type { OutgoingTask } from '../../../src/domain/source.js';
import { receiveMessages, uniqueId } from '../../support/pubsub-emulator.js';
import { withEmulator } from '../../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

/** A topic with a subscription, so whatever is published can be read back. */
async function topicWithSubscription(pubsub: PubSub): Promise<{ topic: string; subscription: string }> {
  const topic = uniqueId('publish');
  const subscription = uniqueId('publish-sub');
  await pubsub.createTopic(topic);
  await pubsub.topic(topic).createSubscription(subscription);
  return { topic, subscription };
}

function tasks(count: number, jobId = 'job-1'): OutgoingTask[] {
  return Array.from({ length: count }, (_, i) => ({
    data: Buffer.from(JSON.stringify({ drawing_id: `D${i}`, job_id: jobId, version_a: [], version_b: [] })),
    attributes: { drawing_id: `D${i}`, job_id: jobId },
  }));
}

test('every task is confirmed by Pub/Sub before publish() resolves, data and attributes intact', async (t) => {
  const { pubsub } = t.context;
  const { topic, subscription } = await topicWithSubscription(pubsub);
  const publisher = new PubSubPublisher(pubsub, { topic });
  t.teardown(() => publisher.close());

  // more than one batch (100 messages each)
  await publisher.publish(tasks(250));

  const received = await receiveMessages(pubsub, subscription, 250, { settleMs: 500 });
  t.is(received.length, 250);
  const byDrawing = new Map(received.map((m) => [m.attributes.drawing_id, m]));
  t.is(byDrawing.size, 250);
  const d7 = byDrawing.get('D7')!;
  t.deepEqual(d7.attributes, { drawing_id: 'D7', job_id: 'job-1' });
  t.deepEqual(JSON.parse(d7.data.toString('utf8')), { drawing_id: 'D7', job_id: 'job-1', version_a: [], version_b: [] });
});

test('publishing nothing resolves at once', async (t) => {
  const { pubsub } = t.context;
  const publisher = new PubSubPublisher(pubsub, { topic: uniqueId('never-created') });
  t.teardown(() => publisher.close());
  await t.notThrowsAsync(publisher.publish([]));
});

test('publishing to a missing topic rejects with a transient error naming how many failed', async (t) => {
  const { pubsub } = t.context;
  const topic = uniqueId('missing');
  const publisher = new PubSubPublisher(pubsub, { topic });
  t.teardown(() => publisher.close());

  const err = await t.throwsAsync(publisher.publish(tasks(3)), { instanceOf: TaskPublishError });
  t.true(err instanceof TransientError);
  t.is(err!.code, 'sink_unavailable');
  t.false(err!.permanent);
  t.deepEqual(err!.failedIndexes, [0, 1, 2]);
  t.is(err!.total, 3);
  t.true(err!.message.startsWith(`3 of 3 tasks could not be published to Pub/Sub topic ${topic}`), err!.message);
  t.truthy(err!.cause);
});

test('a publisher recovers once its topic exists: nothing is cached from the failure', async (t) => {
  const { pubsub } = t.context;
  const topic = uniqueId('late');
  const publisher = new PubSubPublisher(pubsub, { topic });
  t.teardown(() => publisher.close());
  await t.throwsAsync(publisher.publish(tasks(1)), { instanceOf: TaskPublishError });

  await pubsub.createTopic(topic);
  const subscription = uniqueId('late-sub');
  await pubsub.topic(topic).createSubscription(subscription);
  await publisher.publish(tasks(2, 'job-2'));
  const received = await receiveMessages(pubsub, subscription, 2);
  t.deepEqual(received.map((m) => m.attributes.job_id), ['job-2', 'job-2']);
});

test('close() sends what is still batched', async (t) => {
  const { pubsub } = t.context;
  const { topic, subscription } = await topicWithSubscription(pubsub);
  const publisher = new PubSubPublisher(pubsub, { topic });
  const pending = publisher.publish(tasks(5));
  await publisher.close();
  await pending;
  const received = await receiveMessages(pubsub, subscription, 5);
  t.is(received.length, 5);
});

test('a publisher without a topic is refused', (t) => {
  t.throws(() => new PubSubPublisher(t.context.pubsub, { topic: '' }), { instanceOf: TypeError });
});
