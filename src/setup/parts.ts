/**
 * Every part `buildtrace setup` plans, in the order they are applied (resources before the
 * grants on them). One table: another part (dashboards and alerts) is one more line.
 */
import type { SetupContext } from './context.js';
import type { PlanItem, SetupPart } from './plan.js';
import { planBigQuery } from './bigquery.js';
import { planIam } from './iam.js';
import { planMonitoring } from './monitoring.js';
import { planPubsub } from './pubsub.js';
import { planStorage } from './storage.js';

export interface PartPlanner {
  readonly part: SetupPart;
  plan(ctx: SetupContext): Promise<PlanItem[]>;
}

export const PART_PLANNERS: readonly PartPlanner[] = [
  { part: 'pubsub', plan: planPubsub },
  { part: 'storage', plan: planStorage },
  { part: 'bigquery', plan: planBigQuery },
  { part: 'monitoring', plan: planMonitoring },
  { part: 'iam', plan: planIam },
];
