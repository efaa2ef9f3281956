/**
 * The Pub/Sub source and topology against the official emulator with the real client: delivery,
 * flow control, redelivery, dead-lettering, shutdown and recovery from a broken stream.
 */
import anyTest from 'ava';
import type { PubSub } from '@google-cloud/pubsub';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import type { Delivery } from '../../../src/domain/source.js';
import { OptionError, TransientError } from '../../../src/domain/errors.js';
import {
  PubSubSource,
  deadLetterAttributes,
  truncateUtf8,
  type PubSubSourceOptions,
} from '../../../streams/sources/pubsub.js';
import {
  ensureTopology,
  topologyOptions,
  TopologyError,
  type TopologyOptions,
} from '../../../streams/sources/pubsub-topology.js';
import { loadConfig } from '../../../src/config.js';
import { pubsubSourceOptions, shouldEnsureTopology, topologySettings } from '../../../src/registry.js';
import { receiveMessages, uniqueId } from '../../support/pubsub-emulator.js';
import { withEmulator } from '../../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

interface Names {
  readonly topic: string;
  readonly subscription: string;
  readonly dlqTopic: string;
  readonly dlqSubscription: string;
}

/** Fresh topic, subscription and dead-letter topic; retries come back fast (0–1 s backoff). */
async function topology(pubsub: PubSub, overrides: Partial<TopologyOptions> = {}): Promise<Names> {
  const names = { topic: uniqueId('tasks'), subscription: uniqueId('workers'), dlqTopic: uniqueId('dlq') };
  const result = await ensureTopology(pubsub, {
    ...names,
    maxDeliveryAttempts: 5,
    ackDeadlineSeconds: 10,
    minBackoffSeconds: 0,
    maxBackoffSeconds: 1,
    ...overrides,
  });
  return { ...names, dlqSubscription: result.dlqSubscription };
}

function sourceFor(pubsub: PubSub, names: Names, overrides: Partial<PubSubSourceOptions> = {}): PubSubSource {
  return new PubSubSource(pubsub, {
    subscription: names.subscription,
    dlqTopic: names.dlqTopic,
    maxMessages: 100,
    maxBytes: 10 * 1024 * 1024,
    maxLeaseSeconds: 60,
    watchdogSeconds: 30,
    ...overrides,
  });
}

async function publish(pubsub: PubSub, topic: string, count: number, attributes: Record<string, string> = {}): Promise<string[]> {
  const t = pubsub.topic(topic);
  const ids = await Promise.all(
    Array.from({ length: count }, (_, i) => t.publishMessage({ data: Buffer.from(JSON.stringify({ n: i })), attributes })),
  );
  await t.flush();
  return ids;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ids of whatever a plain subscriber receives (and acks) on `subscription` within `ms`. */
async function listen(pubsub: PubSub, subscription: string, ms: number): Promise<string[]> {
  const ids: string[] = [];
  const sub = pubsub.subscription(subscription);
  sub.on('message', (message) => {
    ids.push(message.id);
    message.ack();
  });
  await sleep(ms);
  await sub.close();
  return ids;
}

test('every published message is delivered and, once acked, never redelivered', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names);
  t.teardown(() => source.close());
  const published = await publish(pubsub, names.topic, 20, { drawing_id: 'D1' });
  const startedAt = Date.now();

  const seen: Delivery[] = [];
  const subscription = source.deliveries().subscribe((delivery) => {
    seen.push(delivery);
    delivery.ack();
  });
  t.teardown(() => subscription.unsubscribe());
  await waitFor(() => seen.length >= 20, '20 deliveries');
  t.true(source.isReady());
  await source.close();

  // then: a fresh subscriber listening past the 10 s ack deadline gets nothing back (a message
  // whose ack never reached Pub/Sub would reappear once its lease ran out)
  const extra = await listen(pubsub, names.subscription, 12_000);
  t.deepEqual(extra, []);
  t.deepEqual(seen.map((d) => d.id).sort(), [...published].sort());
  const first = seen[0]!;
  t.deepEqual(first.attributes, { drawing_id: 'D1' });
  t.is(first.deliveryAttempt, 1);
  t.true(first.publishedAt instanceof Date);
  t.true(first.publishedAt.getTime() > startedAt - 60_000);
  t.true(first.receivedAt >= first.publishedAt.getTime() - 5_000);
  t.deepEqual(JSON.parse(first.data.toString('utf8')), { n: published.indexOf(first.id) });
  t.is(source.inFlight, 0);
  t.is(source.errors, 0);
});

const flowControl = test.macro({
  exec: async (t, maxStreams: number) => {
    const { pubsub } = t.context;
    const names = await topology(pubsub);
    await publish(pubsub, names.topic, 50);
    const source = sourceFor(pubsub, names, { maxMessages: 5, maxStreams });
    t.teardown(() => source.close());

    let unsettled = 0;
    let maxUnsettled = 0;
    let maxInFlight = 0;
    const ids = new Set<string>();
    const subscription = source.deliveries().subscribe((delivery) => {
      unsettled += 1;
      ids.add(delivery.id);
      maxUnsettled = Math.max(maxUnsettled, unsettled);
      maxInFlight = Math.max(maxInFlight, source.inFlight);
      // hold each one briefly so deliveries pile up against the limit
      setTimeout(() => {
        unsettled -= 1;
        delivery.ack();
      }, 30);
    });
    t.teardown(() => subscription.unsubscribe());

    await waitFor(() => ids.size === 50 && unsettled === 0, 'all 50 settled', 30_000);
    t.true(maxUnsettled <= 5, `at most 5 unsettled, saw ${maxUnsettled}`);
    t.true(maxInFlight <= 5, `source held at most 5, saw ${maxInFlight}`);
    t.is(maxUnsettled, 5, 'the limit was reached, so the bound was really exercised');
  },
  title: (_, maxStreams: number) =>
    `flow control: never more than maxMessages deliveries unsettled at once (${maxStreams} stream${maxStreams > 1 ? 's' : ''})`,
});

test(flowControl, 1);
test(flowControl, 3);

test('a nacked message comes back with deliveryAttempt incremented and, after 5 attempts, lands on the dead-letter topic', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names, { maxDeliveryAttempts: 3 });
  t.teardown(() => source.close());
  const [id] = await publish(pubsub, names.topic, 1, { drawing_id: 'D7' });

  const attempts: number[] = [];
  const subscription = source.deliveries().subscribe((delivery) => {
    attempts.push(delivery.deliveryAttempt);
    t.is(delivery.id, id!);
    delivery.nack();
  });
  t.teardown(() => subscription.unsubscribe());

  const [dead] = await receiveMessages(pubsub, names.dlqSubscription, 1, { timeoutMs: 40_000 });
  t.deepEqual(attempts, [1, 2, 3, 4, 5]);
  // the policy on the subscription wins over the configured fallback
  t.is(source.maxDeliveryAttempts, 5);
  t.is(dead!.attributes.CloudPubSubDeadLetterSourceDeliveryCount, '5');
  t.is(dead!.attributes.drawing_id, 'D7');
  t.deepEqual(JSON.parse(dead!.data.toString('utf8')), { n: 0 });
});

test('deadLetter() publishes the original message with the reason and provenance at once', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names);
  t.teardown(() => source.close());
  const [id] = await publish(pubsub, names.topic, 1, { drawing_id: 'D9', origin: 'upload' });
  const longMessage = `version_b object 3 field "x" is not a number: ${'é'.repeat(2000)}`;

  const delivery = await firstValueFrom(source.deliveries());
  await delivery.deadLetter({ code: 'malformed_version', message: longMessage, drawingId: 'D9' });
  delivery.ack();

  const [dead] = await receiveMessages(pubsub, names.dlqSubscription, 1);
  t.deepEqual(dead!.data, delivery.data);
  const attributes = dead!.attributes;
  t.is(attributes.origin, 'upload');
  t.is(attributes.error_code, 'malformed_version');
  t.is(attributes.drawing_id, 'D9');
  t.is(attributes.source_subscription, names.subscription);
  t.is(attributes.original_message_id, id);
  t.is(attributes.delivery_attempt, '1');
  t.true(Buffer.byteLength(attributes.error_message!, 'utf8') <= 1024);
  t.true(longMessage.startsWith(attributes.error_message!));
  t.true(attributes.error_message!.length > 500);
});

test('stop() completes the stream; emitted deliveries can still be acked, and close() hands the rest back', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const published = await publish(pubsub, names.topic, 3);
  const first = sourceFor(pubsub, names);
  t.teardown(() => first.close());

  const all = lastValueFrom(first.deliveries().pipe(toArray()));
  const held = await firstValueFrom(first.deliveries().pipe(take(3), toArray()));
  t.true(first.isReady());

  // when: stopped with three deliveries unsettled
  await first.stop();
  t.false(first.isReady());
  t.is((await all).length, 3, 'the stream completed after stop()');
  held[0]!.ack();
  t.is(first.inFlight, 2);
  await first.close();
  t.is(first.inFlight, 0);

  // then: a new subscriber gets exactly the two that were never acked, at once
  const second = sourceFor(pubsub, names);
  t.teardown(() => second.close());
  const redelivered: Delivery[] = [];
  const subscription = second.deliveries().subscribe((delivery) => {
    redelivered.push(delivery);
    delivery.ack();
  });
  t.teardown(() => subscription.unsubscribe());
  await waitFor(() => redelivered.length >= 2, 'two redeliveries', 8_000);
  await sleep(1_500);
  const expected = published.filter((id) => id !== held[0]!.id).sort();
  t.deepEqual(redelivered.map((d) => d.id).sort(), expected);
  t.true(redelivered.every((d) => d.deliveryAttempt === 2));
});

test('a broken stream is counted, does not end the deliveries, and the watchdog reopens it', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names, { watchdogSeconds: 1 });
  t.teardown(() => source.close());
  let completed = false;
  const seen: Delivery[] = [];
  const subscription = source.deliveries().subscribe({
    next: (delivery) => {
      seen.push(delivery);
      delivery.ack();
    },
    complete: () => {
      completed = true;
    },
  });
  t.teardown(() => subscription.unsubscribe());
  await waitFor(() => source.isReady(), 'the stream to open');

  // when: the subscription disappears under the open stream (a non-retryable NOT_FOUND)
  await pubsub.subscription(names.subscription).delete();
  await waitFor(() => source.errors > 0, 'the stream error');
  t.false(source.isReady());
  t.false(completed);

  // then: once it exists again, the watchdog reopens the stream and messages flow
  await pubsub.topic(names.topic).createSubscription(names.subscription, { ackDeadlineSeconds: 10 });
  const [id] = await publish(pubsub, names.topic, 1);
  await waitFor(() => seen.length === 1, 'a delivery after the reopen');
  t.is(seen[0]!.id, id!);
  t.true(source.reopens >= 1);
  t.true(source.isReady());
  t.false(completed);
});

test('a quiet but healthy stream is left alone by the watchdog', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names, { watchdogSeconds: 1 });
  t.teardown(() => source.close());
  const subscription = source.deliveries().subscribe((delivery) => delivery.ack());
  t.teardown(() => subscription.unsubscribe());
  await waitFor(() => source.isReady(), 'the stream to open');
  await sleep(3_000);
  t.is(source.reopens, 0);
  t.is(source.errors, 0);
  t.true(source.isReady());
});

test('without a dead-letter policy the first delivery counts as attempt 1 and the configured maximum applies', async (t) => {
  const { pubsub } = t.context;
  const topic = uniqueId('plain');
  const sub = uniqueId('plain-sub');
  await pubsub.createTopic(topic);
  await pubsub.topic(topic).createSubscription(sub);
  const source = sourceFor(pubsub, { topic, subscription: sub, dlqTopic: uniqueId('unused'), dlqSubscription: '' }, { maxDeliveryAttempts: 7 });
  t.teardown(() => source.close());
  await publish(pubsub, topic, 1);
  const delivery = await firstValueFrom(source.deliveries());
  delivery.ack();
  t.is(delivery.deliveryAttempt, 1);
  await source.start();
  t.is(source.maxDeliveryAttempts, 7);
});

test('deadLetter() rejects with a transient error when the dead-letter topic cannot take it', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const missingDlq = uniqueId('gone-dlq');
  const source = sourceFor(pubsub, { ...names, dlqTopic: missingDlq });
  t.teardown(() => source.close());
  await publish(pubsub, names.topic, 1);
  const delivery = await firstValueFrom(source.deliveries());
  const err = await t.throwsAsync(delivery.deadLetter({ code: 'malformed_task', message: 'bad', drawingId: null }), {
    instanceOf: TransientError,
  });
  t.is(err?.code, 'sink_unavailable');
  t.true(err!.message.includes(missingDlq));
  delivery.nack();
});

test('when the last subscriber leaves, pulling pauses instead of bouncing messages, and resumes for the next', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub);
  const source = sourceFor(pubsub, names);
  t.teardown(() => source.close());
  const published = await publish(pubsub, names.topic, 3);

  // given: a subscriber that takes one delivery and leaves
  const first = await firstValueFrom(source.deliveries());
  first.ack();
  await waitFor(() => !source.isReady(), 'pulling to pause');
  await sleep(1_500);

  // then: the other two were not bounced round the subscription while nobody listened
  const rest: Delivery[] = [];
  const subscription = source.deliveries().subscribe((delivery) => {
    rest.push(delivery);
    delivery.ack();
  });
  t.teardown(() => subscription.unsubscribe());
  await waitFor(() => rest.length >= 2, 'the other two messages');
  t.true(source.isReady());
  t.deepEqual(rest.map((d) => d.id).sort(), published.filter((id) => id !== first.id).sort());
  t.true(rest.every((d) => d.deliveryAttempt <= 2), `attempts ${rest.map((d) => d.deliveryAttempt).join(',')}`);
});

test('the dead-letter policy on the subscription sets maxDeliveryAttempts', async (t) => {
  const { pubsub } = t.context;
  const names = await topology(pubsub, { maxDeliveryAttempts: 9 });
  const source = sourceFor(pubsub, names, { maxDeliveryAttempts: 5 });
  t.teardown(() => source.close());
  await source.start();
  t.is(source.maxDeliveryAttempts, 9);
  // reading the policy does not start pulling: nothing is leased before someone subscribes
  t.false(source.isReady());
});

test('a missing subscription leaves the source not ready instead of crashing it', async (t) => {
  const { pubsub } = t.context;
  const source = sourceFor(pubsub, { topic: 'none', subscription: uniqueId('missing'), dlqTopic: uniqueId('dlq'), dlqSubscription: '' });
  t.teardown(() => source.close());
  const subscription = source.deliveries().subscribe(() => t.fail('no message can arrive'));
  t.teardown(() => subscription.unsubscribe());
  await source.start();
  await waitFor(() => source.errors > 0, 'the NOT_FOUND error');
  t.false(source.isReady());
  t.is(source.maxDeliveryAttempts, 5);
});

test('ensureTopology creates what is missing, once, with the dead-letter and retry policies', async (t) => {
  const { pubsub } = t.context;
  const options: TopologyOptions = {
    topic: uniqueId('topo'),
    subscription: uniqueId('topo-sub'),
    dlqTopic: uniqueId('topo-dlq'),
    maxDeliveryAttempts: 6,
    ackDeadlineSeconds: 30,
    minBackoffSeconds: 5,
    maxBackoffSeconds: 120,
  };
  const first = await ensureTopology(pubsub, options);
  t.deepEqual([...first.created].sort(), [options.topic, options.dlqTopic, `${options.dlqTopic}-sub`, options.subscription].sort());
  const again = await ensureTopology(pubsub, options);
  t.deepEqual(again.created, []);

  const [metadata] = await pubsub.subscription(options.subscription).getMetadata();
  t.is(metadata.topic, pubsub.topic(options.topic).name);
  t.is(metadata.ackDeadlineSeconds, 30);
  t.is(metadata.deadLetterPolicy?.deadLetterTopic, pubsub.topic(options.dlqTopic).name);
  t.is(metadata.deadLetterPolicy?.maxDeliveryAttempts, 6);
  t.is(Number(metadata.retryPolicy?.minimumBackoff?.seconds), 5);
  t.is(Number(metadata.retryPolicy?.maximumBackoff?.seconds), 120);
  const [dlqSub] = await pubsub.subscription(`${options.dlqTopic}-sub`).getMetadata();
  t.is(dlqSub.topic, pubsub.topic(options.dlqTopic).name);
});

test('ensureTopology rejects options Pub/Sub would refuse, naming each problem', async (t) => {
  const { pubsub } = t.context;
  const err = await t.throwsAsync(
    ensureTopology(pubsub, {
      topic: 'ab',
      subscription: 'workers-x',
      dlqTopic: 'ab',
      maxDeliveryAttempts: 3,
      ackDeadlineSeconds: 5,
      minBackoffSeconds: 60,
      maxBackoffSeconds: 10,
    }),
    { instanceOf: OptionError },
  );
  t.is(err?.code, 'invalid_topology');
  for (const fragment of ['topic is not a valid', 'dlqTopic must differ', 'maxDeliveryAttempts', 'ackDeadlineSeconds', 'minBackoffSeconds must not exceed']) {
    t.true(err!.message.includes(fragment), `mentions ${fragment}: ${err!.message}`);
  }
});

test('bad source options are refused with every problem named', (t) => {
  const err = t.throws(
    () =>
      new PubSubSource(
        { subscription: () => t.fail(), topic: () => t.fail() } as never,
        { subscription: '', dlqTopic: 'dlq', maxMessages: 0, maxBytes: 1.5, maxLeaseSeconds: 60, watchdogSeconds: 0, maxStreams: 0 },
      ),
    { instanceOf: OptionError },
  );
  t.is(err?.code, 'invalid_pubsub_source_options');
  for (const name of ['subscription', 'maxMessages', 'maxBytes', 'watchdogSeconds', 'maxStreams']) t.true(err!.message.includes(name));
});

test('truncateUtf8 cuts on a character boundary within the byte limit', (t) => {
  t.is(truncateUtf8('short', 1024), 'short');
  t.is(truncateUtf8('abcdef', 3), 'abc');
  t.is(truncateUtf8('aé€😀', 1), 'a');
  t.is(truncateUtf8('aé€😀', 3), 'aé');
  t.is(truncateUtf8('aé€😀', 9), 'aé€');
  t.is(truncateUtf8('aé€😀', 10), 'aé€😀');
  t.is(truncateUtf8('😀😀', 5), '😀');
});

test('dead-letter attributes keep the originals, let ours win a clash, and respect the 100-attribute limit', (t) => {
  const reason = { code: 'malformed_task', message: 'bad', drawingId: null };
  const origin = { subscription: 'workers', messageId: '42', deliveryAttempt: 3 };
  const small = deadLetterAttributes({ job_id: 'j1', error_code: 'spoofed' }, reason, origin);
  t.deepEqual(small, {
    job_id: 'j1',
    error_code: 'malformed_task',
    error_message: 'bad',
    source_subscription: 'workers',
    original_message_id: '42',
    delivery_attempt: '3',
  });
  const many = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`k${i}`, 'v']));
  const capped = deadLetterAttributes(many, { ...reason, drawingId: 'D1' }, origin);
  t.is(Object.keys(capped).length, 100);
  t.is(capped.drawing_id, 'D1');
  t.is(capped.error_code, 'malformed_task');
});

test('configuration maps onto the source and topology options', (t) => {
  const env = {
    GOOGLE_CLOUD_PROJECT: 'my-project',
    PUBSUB_SUBSCRIPTION: 'workers-a',
    PUBSUB_DLQ_TOPIC: 'dead-a',
    MAX_OUTSTANDING_MESSAGES: '7',
    MAX_LEASE_SECONDS: '900',
    WATCHDOG_SECONDS: '45',
    MAX_DELIVERY_ATTEMPTS: '2',
  };
  const config = loadConfig(env);
  t.like(pubsubSourceOptions(config), {
    subscription: 'workers-a',
    dlqTopic: 'dead-a',
    maxMessages: 7,
    maxLeaseSeconds: 900,
    watchdogSeconds: 45,
    maxDeliveryAttempts: 2,
  });
  // Pub/Sub refuses a dead-letter policy under 5 attempts
  t.like(topologyOptions(topologySettings(config)), { topic: 'drawing-processing-tasks', subscription: 'workers-a', dlqTopic: 'dead-a', maxDeliveryAttempts: 5 });
  t.false(shouldEnsureTopology(config, {}));
  t.true(shouldEnsureTopology(config, { PUBSUB_CREATE_TOPOLOGY: 'true' }));
  t.true(shouldEnsureTopology(loadConfig({ ...env, PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' }), {}));
});
