/**
 * IAM bindings as plan items: one item per (resource, role, member), read from the resource's
 * policy and applied as a read-modify-write of that policy (with its etag, so a concurrent change
 * fails instead of being overwritten). Other members and roles in the policy are left alone.
 */
import type { PlanItem, SetupPart } from './plan.js';

export interface Binding {
  readonly role: string;
  readonly members?: readonly string[];
}

export interface Policy {
  readonly bindings?: readonly Binding[];
  readonly etag?: string;
  readonly version?: number;
}

export interface PolicyAccess {
  /** e.g. `pubsub topic drawing-processing-dlq`. */
  readonly label: string;
  /** The policy, or null when the resource does not exist yet (created earlier in the same run). */
  read(): Promise<Policy | null>;
  write(policy: Policy): Promise<void>;
}

/**
 * Asks for the policy as version 3: a policy with conditional bindings read as version 1 could
 * not be written back, and a read-modify-write must return every binding as it was.
 */
export const GET_POLICY_BODY = { options: { requestedPolicyVersion: 3 } } as const;

export function hasMember(policy: Policy | null, role: string, member: string): boolean {
  return (policy?.bindings ?? []).some((b) => b.role === role && (b.members ?? []).includes(member));
}

/** The policy with `member` added to `role` (binding created when absent). */
export function withMember(policy: Policy, role: string, member: string): Policy {
  const bindings = [...(policy.bindings ?? [])];
  const at = bindings.findIndex((b) => b.role === role);
  if (at === -1) bindings.push({ role, members: [member] });
  else bindings[at] = { ...bindings[at]!, members: [...(bindings[at]!.members ?? []), member] };
  return { ...policy, bindings };
}

/**
 * One item per grant on one resource.
 *
 * @example
 * await bindingItems('iam', topicPolicy, [{ role: 'roles/pubsub.publisher', member: 'serviceAccount:a@p.iam.gserviceaccount.com' }]);
 */
export async function bindingItems(
  part: SetupPart,
  access: PolicyAccess,
  grants: readonly { readonly role: string; readonly member: string }[],
): Promise<PlanItem[]> {
  const current = await access.read();
  return grants.map(({ role, member }): PlanItem => {
    const resource = `iam ${role} on ${access.label} for ${member}`;
    if (hasMember(current, role, member)) return { part, resource, action: 'ok' };
    return {
      part,
      resource,
      action: 'create',
      apply: async () => {
        const fresh = await access.read();
        if (fresh === null) throw new Error(`${access.label} does not exist: create it first (run setup without --only, or with its part)`);
        if (!hasMember(fresh, role, member)) await access.write(withMember(fresh, role, member));
      },
    };
  });
}
