/**
 * Every part `buildtrace setup` plans, in the order they are applied (resources before the
 * grants on them). One table: the metric descriptors come before the dashboard and alert
 * policies that chart and watch them.
 */
import type { SetupContext } from './context.js';
import type { PlanItem, SetupPart } from './plan.js';
import { planBigQuery } from './bigquery.js';
import { planIam } from './iam.js';
import { planMonitoring } from './monitoring.js';
import { planMonitoring as planDashboardsAndAlerts } from './dashboards.js';
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
  {
    part: 'monitoring',
    plan: ({ target, clients }) =>
      planDashboardsAndAlerts(clients.monitoringConfig, {
        projectId: target.projectId,
        variables: target.monitoringVariables,
        notifyEmail: target.notifyEmail,
      }),
  },
  { part: 'iam', plan: planIam },
];
