/**
 * The runtime service account and its grants, each on the narrowest resource (the table of
 * grants is data: permissions.ts), plus the Workload Identity binding that lets the Kubernetes
 * service account `NAMESPACE/buildtrace` act as it on GKE.
 */
import type { PlanItem } from './plan.js';
import { serviceAccountEmail, type SetupContext } from './context.js';
import { bindingItems, GET_POLICY_BODY, type Policy, type PolicyAccess } from './policy.js';
import { DATASET_ACCESS_ROLE, RUNTIME_GRANTS, type ResourceKind } from './permissions.js';

export async function planIam(ctx: SetupContext): Promise<PlanItem[]> {
  const t = ctx.target;
  const { rest } = ctx.clients;
  const email = serviceAccountEmail(t);
  const member = `serviceAccount:${email}`;
  const accountUrl = `${t.endpoints.iam}/v1/projects/${t.projectId}/serviceAccounts/${email}`;
  const account = await rest.get<{ email?: string }>(accountUrl);
  const items: PlanItem[] = [
    account
      ? { part: 'iam', resource: `iam service account ${email}`, action: 'ok' }
      : {
          part: 'iam',
          resource: `iam service account ${email}`,
          action: 'create',
          apply: async () =>
            void (await rest.post(`${t.endpoints.iam}/v1/projects/${t.projectId}/serviceAccounts`, {
              accountId: t.serviceAccountId,
              serviceAccount: { displayName: 'BuildTrace runtime' },
            })),
        },
  ];

  const byResource = new Map<ResourceKind, string[]>();
  for (const g of RUNTIME_GRANTS) byResource.set(g.on, [...(byResource.get(g.on) ?? []), g.role]);
  for (const [on, roles] of byResource) {
    if (on === 'dataset') {
      items.push(...(await datasetItems(ctx, roles, email)));
      continue;
    }
    items.push(...(await bindingItems('iam', policyOf(ctx, on), roles.map((role) => ({ role, member })))));
  }

  const workloadIdentity: PolicyAccess = {
    label: `service account ${email}`,
    read: async () => (account || (await rest.get(accountUrl)) ? rest.post<Policy>(`${accountUrl}:getIamPolicy`, GET_POLICY_BODY) : null),
    write: async (policy) => void (await rest.post(`${accountUrl}:setIamPolicy`, { policy })),
  };
  items.push(
    ...(await bindingItems('iam', workloadIdentity, [
      { role: 'roles/iam.workloadIdentityUser', member: `serviceAccount:${t.projectId}.svc.id.goog[${t.namespace}/buildtrace]` },
    ])),
  );
  return items;
}

/** Pub/Sub topic or subscription policy over REST (the emulator answers no IAM call). */
export function pubsubPolicy(ctx: SetupContext, collection: 'topics' | 'subscriptions', id: string): PolicyAccess {
  const url = `${ctx.target.endpoints.pubsub}/v1/projects/${ctx.target.projectId}/${collection}/${id}`;
  const kind = collection === 'topics' ? 'topic' : 'subscription';
  return {
    label: `pubsub ${kind} ${id}`,
    read: async () => ((await ctx.clients.rest.get(url)) ? ctx.clients.rest.post<Policy>(`${url}:getIamPolicy`, GET_POLICY_BODY) : null),
    write: async (policy) => void (await ctx.clients.rest.post(`${url}:setIamPolicy`, { policy })),
  };
}

function policyOf(ctx: SetupContext, on: Exclude<ResourceKind, 'dataset'>): PolicyAccess {
  const t = ctx.target;
  switch (on) {
    case 'project': {
      const url = `${t.endpoints.resourceManager}/v1/projects/${t.projectId}`;
      return {
        label: `project ${t.projectId}`,
        read: () => ctx.clients.rest.post<Policy>(`${url}:getIamPolicy`, GET_POLICY_BODY),
        write: async (policy) => void (await ctx.clients.rest.post(`${url}:setIamPolicy`, { policy })),
      };
    }
    case 'tasksTopic':
      return pubsubPolicy(ctx, 'topics', t.pubsub.topic);
    case 'dlqTopic':
      return pubsubPolicy(ctx, 'topics', t.pubsub.dlqTopic);
    case 'subscription':
      return pubsubPolicy(ctx, 'subscriptions', t.pubsub.subscription);
    case 'inputBucket':
    case 'outputBucket': {
      const bucket = ctx.clients.storage.bucket(on === 'inputBucket' ? t.inputBucket : t.outputBucket);
      return {
        label: `storage bucket ${bucket.name}`,
        read: async () => ((await bucket.exists())[0] ? ((await bucket.iam.getPolicy({ requestedPolicyVersion: 3 }))[0] as Policy) : null),
        write: async (policy) => void (await bucket.iam.setPolicy(policy as never)),
      };
    }
  }
}

/** A dataset's grants are its access entries (`WRITER` is roles/bigquery.dataEditor). */
async function datasetItems(ctx: SetupContext, roles: readonly string[], email: string): Promise<PlanItem[]> {
  const dataset = ctx.clients.bigquery.dataset(ctx.target.dataset);
  type Access = { role?: string; userByEmail?: string };
  const read = async (): Promise<Access[] | null> =>
    (await dataset.exists())[0] ? (((await dataset.getMetadata())[0] as { access?: Access[] }).access ?? []) : null;
  const current = await read();
  return roles.map((role): PlanItem => {
    const legacy = DATASET_ACCESS_ROLE[role as keyof typeof DATASET_ACCESS_ROLE] ?? role;
    const has = (access: Access[] | null) => (access ?? []).some((a) => a.userByEmail === email && (a.role === legacy || a.role === role));
    const resource = `iam ${role} on bigquery dataset ${ctx.target.dataset} for serviceAccount:${email}`;
    if (has(current)) return { part: 'iam', resource, action: 'ok' };
    return {
      part: 'iam',
      resource,
      action: 'create',
      apply: async () => {
        const fresh = await read();
        if (fresh === null) throw new Error(`bigquery dataset ${ctx.target.dataset} does not exist: create it first`);
        if (!has(fresh)) await dataset.setMetadata({ access: [...fresh, { role: legacy, userByEmail: email }] });
      },
    };
  });
}

