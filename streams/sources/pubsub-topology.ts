/**
 * Creates the Pub/Sub topic, subscription and dead-letter topic when they are missing, so the
 * emulator and fresh projects work without a separate provisioning step.
 */
import type { PubSub } from '@google-cloud/pubsub';
import { CodedError, OPTION_ERROR_CODES, OptionError } from '../../src/domain/errors.js';
import { DEAD_LETTER_ATTEMPTS, PUBSUB_ID_PATTERN } from '../../src/infra/pubsub.js';

export interface TopologyOptions {
  readonly topic: string;
  readonly subscription: string;
  readonly dlqTopic: string;
  /** Pub/Sub accepts 5 to 100. */
  readonly maxDeliveryAttempts: number;
  /** Pub/Sub accepts 10 to 600. */
  readonly ackDeadlineSeconds: number;
  /** Retry backoff bounds; Pub/Sub accepts 0 to 600 each. */
  readonly minBackoffSeconds: number;
  readonly maxBackoffSeconds: number;
}

export interface TopologyResult {
  /** Resource ids this call created (the rest already existed and were left as they are). */
  readonly created: readonly string[];
  /** The dead letters' own subscription, `<dlqTopic>-sub`, where operators read them. */
  readonly dlqSubscription: string;
}

/** A resource could not be created; options Pub/Sub would refuse are an OptionError. */
export class TopologyError extends CodedError<'topology_unavailable'> {
  override readonly name = 'TopologyError';
}

/** gRPC ALREADY_EXISTS: another replica (or an earlier run) created it first. */
const ALREADY_EXISTS = 6;

/** Defaults for a service that runs `ensureTopology` at start-up. */
export const DEFAULT_TOPOLOGY = {
  ackDeadlineSeconds: 60,
  minBackoffSeconds: 10,
  maxBackoffSeconds: 600,
} as const;

/** What the topology is made from: the three resource ids and the delivery attempts wanted. */
export interface TopologySettings {
  readonly topic: string;
  readonly subscription: string;
  readonly dlqTopic: string;
  /** MAX_DELIVERY_ATTEMPTS, brought into the range a dead-letter policy accepts. */
  readonly maxDeliveryAttempts: number;
}

/**
 * Topology options with the service's defaults.
 *
 * @example
 * await ensureTopology(pubsub, topologyOptions({ topic: 't', subscription: 's', dlqTopic: 'd', maxDeliveryAttempts: 5 }));
 */
export function topologyOptions(settings: TopologySettings): TopologyOptions {
  return {
    topic: settings.topic,
    subscription: settings.subscription,
    dlqTopic: settings.dlqTopic,
    maxDeliveryAttempts: Math.min(DEAD_LETTER_ATTEMPTS.max, Math.max(DEAD_LETTER_ATTEMPTS.min, settings.maxDeliveryAttempts)),
    ...DEFAULT_TOPOLOGY,
  };
}

/**
 * Creates whatever is missing of: the task topic, the dead-letter topic and its subscription,
 * and the task subscription with a dead-letter policy and exponential retry backoff. Existing
 * resources are not modified. Safe to run from several replicas at once.
 *
 * Outside the emulator, dead-lettering also needs the Pub/Sub service agent to hold
 * `roles/pubsub.publisher` on the dead-letter topic and `roles/pubsub.subscriber` on the
 * subscription; that IAM grant is left to the infrastructure code.
 *
 * @example
 * await ensureTopology(pubsub, { topic: 'drawing-processing-tasks', subscription: 'drawing-processing-workers',
 *   dlqTopic: 'drawing-processing-dlq', maxDeliveryAttempts: 5, ackDeadlineSeconds: 60,
 *   minBackoffSeconds: 10, maxBackoffSeconds: 600 });
 */
export async function ensureTopology(pubsub: PubSub, options: TopologyOptions): Promise<TopologyResult> {
  validate(options);
  const created: string[] = [];
  const dlqSubscription = `${options.dlqTopic}-sub`;
  const track = (id: string) => (wasCreated: boolean) => {
    if (wasCreated) created.push(id);
  };

  await attempt(options.topic, () => pubsub.createTopic(options.topic)).then(track(options.topic));
  await attempt(options.dlqTopic, () => pubsub.createTopic(options.dlqTopic)).then(track(options.dlqTopic));
  await attempt(dlqSubscription, () => pubsub.topic(options.dlqTopic).createSubscription(dlqSubscription)).then(
    track(dlqSubscription),
  );
  const dlqTopicName = pubsub.topic(options.dlqTopic).name;
  await attempt(options.subscription, () =>
    pubsub.topic(options.topic).createSubscription(options.subscription, {
      ackDeadlineSeconds: options.ackDeadlineSeconds,
      deadLetterPolicy: { deadLetterTopic: dlqTopicName, maxDeliveryAttempts: options.maxDeliveryAttempts },
      retryPolicy: {
        minimumBackoff: { seconds: options.minBackoffSeconds },
        maximumBackoff: { seconds: options.maxBackoffSeconds },
      },
    }),
  ).then(track(options.subscription));

  return { created, dlqSubscription };
}

/** True when created, false when it already existed; anything else is a TopologyError. */
async function attempt(id: string, create: () => Promise<unknown>): Promise<boolean> {
  try {
    await create();
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === ALREADY_EXISTS) return false;
    throw new TopologyError('topology_unavailable', `Could not create Pub/Sub resource ${id}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function validate(o: TopologyOptions): void {
  const problems: string[] = [];
  const within = (name: string, value: number, min: number, max: number): void => {
    if (!Number.isInteger(value) || value < min || value > max) problems.push(`${name} must be a whole number from ${min} to ${max}, got ${value}`);
  };
  for (const [name, value] of [
    ['topic', o.topic],
    ['subscription', o.subscription],
    ['dlqTopic', o.dlqTopic],
  ] as const) {
    if (!PUBSUB_ID_PATTERN.test(value)) problems.push(`${name} is not a valid Pub/Sub id: ${JSON.stringify(value)}`);
  }
  if (o.topic === o.dlqTopic) problems.push('dlqTopic must differ from topic, or dead letters would be redelivered as tasks');
  within('maxDeliveryAttempts', o.maxDeliveryAttempts, DEAD_LETTER_ATTEMPTS.min, DEAD_LETTER_ATTEMPTS.max);
  within('ackDeadlineSeconds', o.ackDeadlineSeconds, 10, 600);
  within('minBackoffSeconds', o.minBackoffSeconds, 0, 600);
  within('maxBackoffSeconds', o.maxBackoffSeconds, 0, 600);
  if (o.minBackoffSeconds > o.maxBackoffSeconds) problems.push('minBackoffSeconds must not exceed maxBackoffSeconds');
  if (problems.length > 0) throw new OptionError(OPTION_ERROR_CODES.topology, `Invalid Pub/Sub topology: ${problems.join('; ')}`);
}
