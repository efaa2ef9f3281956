/**
 * Pub/Sub: the task topic, the dead-letter topic, the subscription (dead-letter policy, retry
 * policy, ack deadline), the dead letters' own subscription (never expires, keeps 7 days), and
 * the Pub/Sub service agent's grants that make dead-lettering work on a real project.
 */
import type { PlanItem } from './plan.js';
import { DLQ_RETENTION_SECONDS, type SetupContext } from './context.js';
import { bindingItems, type PolicyAccess } from './policy.js';
import { SERVICE_AGENT_GRANTS } from './permissions.js';
import { pubsubPolicy } from './iam.js';

const NOT_FOUND = 5;

export async function planPubsub(ctx: SetupContext): Promise<PlanItem[]> {
  const { pubsub } = ctx.clients;
  const t = ctx.target.pubsub;
  const items: PlanItem[] = [];

  for (const topic of [t.topic, t.dlqTopic]) {
    const [exists] = await pubsub.topic(topic).exists();
    const resource = `pubsub topic ${topic}`;
    items.push(
      exists
        ? { part: 'pubsub', resource, action: 'ok' }
        : { part: 'pubsub', resource, action: 'create', apply: async () => void (await ignoreExists(pubsub.createTopic(topic))) },
    );
  }

  const dlqTopicName = `projects/${ctx.target.projectId}/topics/${t.dlqTopic}`;
  const wanted = {
    ackDeadlineSeconds: t.ackDeadlineSeconds,
    deadLetterPolicy: { deadLetterTopic: dlqTopicName, maxDeliveryAttempts: t.maxDeliveryAttempts },
    retryPolicy: { minimumBackoff: { seconds: t.minBackoffSeconds }, maximumBackoff: { seconds: t.maxBackoffSeconds } },
  };
  items.push(
    await subscriptionItem(ctx, t.subscription, t.topic, wanted, (m) => {
      const diff: string[] = [];
      const dlp = m.deadLetterPolicy as { deadLetterTopic?: string; maxDeliveryAttempts?: number } | null | undefined;
      if (dlp?.deadLetterTopic !== dlqTopicName || dlp?.maxDeliveryAttempts !== t.maxDeliveryAttempts) diff.push('dead-letter policy');
      const rp = m.retryPolicy as { minimumBackoff?: { seconds?: unknown }; maximumBackoff?: { seconds?: unknown } } | null | undefined;
      if (Number(rp?.minimumBackoff?.seconds ?? -1) !== t.minBackoffSeconds || Number(rp?.maximumBackoff?.seconds ?? -1) !== t.maxBackoffSeconds) {
        diff.push('retry policy');
      }
      if (m.ackDeadlineSeconds !== t.ackDeadlineSeconds) diff.push('ack deadline');
      return diff;
    }),
  );
  const dlqWanted = { expirationPolicy: {}, messageRetentionDuration: { seconds: DLQ_RETENTION_SECONDS } };
  items.push(
    await subscriptionItem(ctx, t.dlqSubscription, t.dlqTopic, dlqWanted, (m) => {
      const diff: string[] = [];
      const ttl = (m.expirationPolicy as { ttl?: { seconds?: unknown } | null } | null | undefined)?.ttl;
      if (!m.expirationPolicy || (ttl !== null && ttl !== undefined)) diff.push('expiration');
      if (Number((m.messageRetentionDuration as { seconds?: unknown } | null | undefined)?.seconds ?? 0) !== DLQ_RETENTION_SECONDS) diff.push('retention');
      return diff;
    }),
  );

  const agent = await serviceAgent(ctx);
  for (const grant of SERVICE_AGENT_GRANTS) {
    const access: PolicyAccess =
      grant.on === 'dlqTopic' ? pubsubPolicy(ctx, 'topics', t.dlqTopic) : pubsubPolicy(ctx, 'subscriptions', t.subscription);
    items.push(...(await bindingItems('pubsub', access, [{ role: grant.role, member: agent }])));
  }
  return items;
}

async function subscriptionItem(
  ctx: SetupContext,
  name: string,
  topic: string,
  wanted: Record<string, unknown>,
  differences: (metadata: Record<string, unknown>) => string[],
): Promise<PlanItem> {
  const { pubsub } = ctx.clients;
  const resource = `pubsub subscription ${name}`;
  const subscription = pubsub.subscription(name);
  let metadata: Record<string, unknown>;
  try {
    [metadata] = (await subscription.getMetadata()) as unknown as [Record<string, unknown>];
  } catch (err) {
    if ((err as { code?: unknown }).code !== NOT_FOUND) throw err;
    return {
      part: 'pubsub',
      resource,
      action: 'create',
      apply: async () => void (await ignoreExists(pubsub.topic(topic).createSubscription(name, wanted))),
    };
  }
  const diff = differences(metadata);
  if (diff.length === 0) return { part: 'pubsub', resource, action: 'ok' };
  return { part: 'pubsub', resource, action: `update ${diff.join(', ')}`, apply: async () => void (await subscription.setMetadata(wanted)) };
}

/** `serviceAccount:service-NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com`, from the project's number. */
async function serviceAgent(ctx: SetupContext): Promise<string> {
  const { projectId, endpoints } = ctx.target;
  const project = await ctx.clients.rest.get<{ projectNumber?: string }>(`${endpoints.resourceManager}/v1/projects/${projectId}`);
  if (!project?.projectNumber) throw new Error(`project ${projectId} not found (Resource Manager answered no project number)`);
  return `serviceAccount:service-${project.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
}

async function ignoreExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 6) throw err;
  }
}

