/**
 * Cloud Storage: the input and output buckets in the region, private (uniform bucket-level
 * access, public access prevention enforced), with a lifecycle rule that deletes objects past a
 * configurable age.
 */
import type { PlanItem } from './plan.js';
import type { SetupContext } from './context.js';

interface BucketState {
  readonly iamConfiguration?: {
    readonly uniformBucketLevelAccess?: { readonly enabled?: boolean };
    readonly publicAccessPrevention?: string;
  };
  readonly lifecycle?: { readonly rule?: readonly { action?: { type?: string }; condition?: { age?: number } }[] };
}

export async function planStorage(ctx: SetupContext): Promise<PlanItem[]> {
  const t = ctx.target;
  const region = t.region;
  if (region === null) throw new Error('no region for the buckets: pass --region or set GOOGLE_CLOUD_REGION');
  return Promise.all([
    bucketItem(ctx, region, t.inputBucket, t.inputRetentionDays),
    bucketItem(ctx, region, t.outputBucket, t.outputRetentionDays),
  ]);
}

const privacy = { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' } as const;
const lifecycle = (days: number) => ({ rule: [{ action: { type: 'Delete' }, condition: { age: days } }] });

async function bucketItem(ctx: SetupContext, region: string, name: string, retentionDays: number): Promise<PlanItem> {
  const bucket = ctx.clients.storage.bucket(name);
  const resource = `storage bucket ${name}`;
  const [exists] = await bucket.exists();
  if (!exists) {
    return {
      part: 'storage',
      resource,
      action: 'create',
      apply: async () =>
        void (await ctx.clients.storage.createBucket(name, {
          location: region,
          iamConfiguration: privacy,
          lifecycle: lifecycle(retentionDays),
        } as never)),
    };
  }
  const [metadata] = (await bucket.getMetadata()) as unknown as [BucketState];
  const diff: string[] = [];
  if (metadata.iamConfiguration?.uniformBucketLevelAccess?.enabled !== true) diff.push('uniform bucket-level access');
  if (metadata.iamConfiguration?.publicAccessPrevention !== 'enforced') diff.push('public access prevention');
  const rules = metadata.lifecycle?.rule ?? [];
  if (!rules.some((r) => r.action?.type === 'Delete' && r.condition?.age === retentionDays) || rules.length !== 1) diff.push('lifecycle');
  if (diff.length === 0) return { part: 'storage', resource, action: 'ok' };
  return {
    part: 'storage',
    resource,
    action: `update ${diff.join(', ')}`,
    apply: async () => void (await bucket.setMetadata({ iamConfiguration: privacy, lifecycle: lifecycle(retentionDays) } as never)),
  };
}
