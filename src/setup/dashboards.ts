/**
 * The `monitoring` part of `buildtrace setup`: the dashboard and alert policies of
 * deploy/monitoring/, and optionally an e-mail notification channel, as plan items. A plan only
 * reads (get and list calls); each item's `apply` creates or replaces one resource, so applying
 * twice changes nothing the second time.
 */
import type { DashboardsServiceClient } from '@google-cloud/monitoring-dashboards';
import type { AlertPolicyServiceClient, NotificationChannelServiceClient } from '@google-cloud/monitoring';
import type { PlanItem } from './plan.js';
import { ALERT_POLICY_TYPE, DASHBOARD_TYPE, canonicalJson, loadMonitoringFiles, type MonitoringFiles, type TemplateVariables } from './monitoring-files.js';

/** The dashboard's id: fixed, so a second setup finds the one the first made. */
export const DASHBOARD_ID = 'buildtrace';
/** Policies BuildTrace manages carry this user label (and `alert=<file name>`). */
const SERVICE_LABEL = { key: 'service', value: 'buildtrace' } as const;

export interface MonitoringClients {
  readonly dashboards: Pick<DashboardsServiceClient, 'getDashboard' | 'createDashboard' | 'updateDashboard'>;
  readonly alerts: Pick<AlertPolicyServiceClient, 'listAlertPolicies' | 'createAlertPolicy' | 'updateAlertPolicy'>;
  readonly channels?: Pick<NotificationChannelServiceClient, 'listNotificationChannels' | 'createNotificationChannel'>;
}

export interface MonitoringPlanOptions {
  readonly projectId: string;
  readonly variables: TemplateVariables;
  /** Alerts are sent to this address through an e-mail notification channel. */
  readonly notifyEmail?: string | null;
  /** deploy/monitoring/ by default; tests hand in a copy. */
  readonly files?: MonitoringFiles;
}

type Plain = Record<string, unknown>;
const NOT_FOUND = 5;

/**
 * Plan items for the dashboard, every alert policy and the optional notification channel.
 *
 * @example
 * const items = await planMonitoring({ dashboards, alerts, channels }, { projectId, variables: monitoringVariables(config) });
 */
export async function planMonitoring(clients: MonitoringClients, options: MonitoringPlanOptions): Promise<PlanItem[]> {
  const project = `projects/${options.projectId}`;
  const files = options.files ?? loadMonitoringFiles(options.variables);
  const items: PlanItem[] = [];

  // The channel comes first: policies applied after it point at the name it was given.
  let channelName: string | null = null;
  const channelNames = () => (channelName ? [channelName] : []);
  if (options.notifyEmail) {
    if (!clients.channels) throw new Error('--notify-email needs the notification channel client');
    const channels = clients.channels;
    const email = options.notifyEmail;
    const [existing] = await channels.listNotificationChannels({ name: project, filter: 'type = "email"' });
    const match = existing.find((c) => c.labels?.email_address === email);
    const resource = `monitoring notification channel email ${email}`;
    if (match?.name) {
      channelName = match.name;
      items.push({ part: 'monitoring', resource, action: 'ok' });
    } else {
      items.push({
        part: 'monitoring',
        resource,
        action: 'create',
        apply: async () => {
          const [created] = await channels.createNotificationChannel({
            name: project,
            notificationChannel: { type: 'email', displayName: `BuildTrace alerts (${email})`, labels: { email_address: email }, enabled: { value: true } },
          });
          channelName = created.name ?? null;
        },
      });
    }
  }

  items.push(await planDashboard(clients.dashboards, project, files.dashboard.toJSON() as Plain));

  const [policies] = await clients.alerts.listAlertPolicies({ name: project });
  const managed = new Map<string, (typeof policies)[number]>();
  for (const p of policies) {
    if (p.userLabels?.[SERVICE_LABEL.key] === SERVICE_LABEL.value && p.userLabels.alert) managed.set(p.userLabels.alert, p);
  }
  for (const [alert, message] of files.policies) {
    const wanted = () => ({ ...(message.toJSON() as Plain), notificationChannels: channelNames() });
    const resource = `monitoring alert policy ${alert}`;
    const current = managed.get(alert);
    if (!current) {
      items.push({ part: 'monitoring', resource, action: 'create', apply: async () => void (await clients.alerts.createAlertPolicy({ name: project, alertPolicy: wanted() })) });
      continue;
    }
    // Channels added by hand are kept; the one --notify-email names is added.
    const keep = [...new Set([...(current.notificationChannels ?? []), ...channelNames()])].sort();
    const drift = policyDrift(current as Plain, { ...(message.toJSON() as Plain), notificationChannels: keep });
    if (drift.length === 0 && (!options.notifyEmail || channelName)) {
      items.push({ part: 'monitoring', resource, action: 'ok' });
      continue;
    }
    const what = drift.length > 0 ? drift.join(', ') : 'notification channels';
    items.push({
      part: 'monitoring',
      resource,
      action: `update ${what}`,
      apply: async () => {
        const channels = [...new Set([...(current.notificationChannels ?? []), ...channelNames()])].sort();
        await clients.alerts.updateAlertPolicy({ alertPolicy: { ...wanted(), name: current.name, notificationChannels: channels } });
      },
    });
  }
  return items;
}

async function planDashboard(client: MonitoringClients['dashboards'], project: string, wanted: Plain): Promise<PlanItem> {
  const name = `${project}/dashboards/${DASHBOARD_ID}`;
  const resource = `monitoring dashboard ${DASHBOARD_ID}`;
  let current: Plain | null = null;
  try {
    [current] = (await client.getDashboard({ name })) as unknown as [Plain];
  } catch (err) {
    if ((err as { code?: number }).code !== NOT_FOUND) throw err;
  }
  if (!current) {
    return { part: 'monitoring', resource, action: 'create', apply: async () => void (await client.createDashboard({ parent: project, dashboard: { ...wanted, name } })) };
  }
  const drop = ['name', 'etag'];
  const same = canonicalJson(DASHBOARD_TYPE.fromObject(current), drop) === canonicalJson(DASHBOARD_TYPE.fromObject(wanted), drop);
  if (same) return { part: 'monitoring', resource, action: 'ok' };
  const etag = current.etag as string | undefined;
  return {
    part: 'monitoring',
    resource,
    action: 'update dashboard',
    apply: async () => void (await client.updateDashboard({ dashboard: { ...wanted, name, ...(etag ? { etag } : {}) } })),
  };
}

/** Top-level fields of a policy that differ from the file (server-set fields ignored). */
function policyDrift(current: Plain, wanted: Plain): string[] {
  const serverSet = ['name', 'creationRecord', 'mutationRecord'];
  const norm = (p: Plain) => {
    const message = ALERT_POLICY_TYPE.fromObject(p);
    const json = JSON.parse(canonicalJson(message, serverSet)) as Plain;
    // Condition names are assigned by the service.
    if (Array.isArray(json.conditions)) json.conditions = json.conditions.map(({ name: _n, ...c }: Plain) => c);
    if (Array.isArray(json.notificationChannels)) json.notificationChannels = [...json.notificationChannels].sort();
    return json;
  };
  const a = norm(current);
  const b = norm(wanted);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
