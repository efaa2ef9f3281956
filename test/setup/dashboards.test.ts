import test from 'ava';
import { startFakeMonitoring, type FakeMonitoring } from '../support/fake-monitoring.js';
import { planMonitoring, type MonitoringClients } from '../../src/setup/dashboards.js';
import { monitoringVariables } from '../../src/setup/monitoring-files.js';
import { loadConfig } from '../../src/config.js';
import type { PlanItem } from '../../src/setup/plan.js';

const MUTATING = /^(Create|Update|Delete)/;

async function fixture(t: { teardown(f: () => Promise<void>): void }): Promise<{ fake: FakeMonitoring; clients: MonitoringClients }> {
  const fake = await startFakeMonitoring();
  t.teardown(() => fake.close());
  return { fake, clients: { dashboards: fake.dashboardsClient(), alerts: fake.alertPolicyClient(), channels: fake.notificationChannelClient() } };
}

const variables = monitoringVariables(loadConfig({ ALERT_LATENCY_P99_MS: '2500' }));
const apply = async (items: PlanItem[]) => {
  for (const item of items) if (item.action !== 'ok') await item.apply();
};
const mutations = (fake: FakeMonitoring) => fake.calls.filter((c) => MUTATING.test(c.method)).length;

test('a plan on an empty project creates the dashboard and every policy, and calls nothing that mutates', async (t) => {
  const { fake, clients } = await fixture(t);
  const items = await planMonitoring(clients, { projectId: fake.projectId, variables });
  t.deepEqual(
    items.map((i) => `${i.action} ${i.resource}`),
    [
      'create monitoring dashboard buildtrace',
      ...['backlog-age', 'breaker-open', 'change-spike', 'dead-letters', 'latency-p99', 'readiness', 'stalled'].map((a) => `create monitoring alert policy ${a}`),
    ],
  );
  t.true(items.every((i) => i.part === 'monitoring'));
  t.is(mutations(fake), 0);
  t.is(fake.dashboards.size, 0);
  t.is(fake.alertPolicies.size, 0);
});

test('apply creates them with thresholds from configuration; a second plan is all ok', async (t) => {
  const { fake, clients } = await fixture(t);
  await apply(await planMonitoring(clients, { projectId: fake.projectId, variables }));
  t.is(fake.dashboards.size, 1);
  t.is(fake.alertPolicies.size, 7);
  const latency = [...fake.alertPolicies.values()].find((p) => p.userLabels.alert === 'latency-p99')!;
  t.is(latency.conditions[0].conditionThreshold.thresholdValue, 2500);
  t.is(latency.conditions[0].conditionThreshold.duration.seconds, '600');
  t.regex(latency.documentation.content, /docs\/runbooks\/latency-p99\.md/);

  const before = mutations(fake);
  const again = await planMonitoring(clients, { projectId: fake.projectId, variables });
  t.deepEqual([...new Set(again.map((i) => i.action))], ['ok']);
  t.is(mutations(fake), before, 'a plan never mutates');
});

test('a policy changed by hand and a new threshold are updated, naming what drifted; the rest stays ok', async (t) => {
  const { fake, clients } = await fixture(t);
  await apply(await planMonitoring(clients, { projectId: fake.projectId, variables }));
  const [name, spike] = [...fake.alertPolicies].find(([, p]) => p.userLabels.alert === 'change-spike')!;
  fake.alertPolicies.set(name, { ...spike, combiner: 'AND', displayName: 'renamed by hand' });
  const dashboard = [...fake.dashboards.values()][0]!;
  fake.dashboards.set(dashboard.name, { ...dashboard, displayName: 'edited' });

  const items = await planMonitoring(clients, { projectId: fake.projectId, variables: { ...variables, ALERT_LATENCY_P99_MS: 9000 } });
  const changed = items.filter((i) => i.action !== 'ok').map((i) => `${i.action} ${i.resource}`);
  t.deepEqual(changed, [
    'update dashboard monitoring dashboard buildtrace',
    'update combiner, displayName monitoring alert policy change-spike',
    'update conditions, documentation monitoring alert policy latency-p99',
  ]);
  await apply(items);
  t.is(fake.alertPolicies.get(name)!.combiner, 'OR');
  t.is(fake.alertPolicies.size, 7, 'updated in place, not duplicated');
  const after = await planMonitoring(clients, { projectId: fake.projectId, variables: { ...variables, ALERT_LATENCY_P99_MS: 9000 } });
  t.deepEqual([...new Set(after.map((i) => i.action))], ['ok']);
});

test('--notify-email creates one e-mail channel and points every policy at it', async (t) => {
  const { fake, clients } = await fixture(t);
  await apply(await planMonitoring(clients, { projectId: fake.projectId, variables }));
  const items = await planMonitoring(clients, { projectId: fake.projectId, variables, notifyEmail: 'oncall@example.com' });
  t.is(items[0]!.action, 'create');
  t.is(items[0]!.resource, 'monitoring notification channel email oncall@example.com');
  t.is(items.filter((i) => i.action === 'update notification channels').length, 7);
  await apply(items);
  const [channel] = [...fake.notificationChannels.keys()];
  t.truthy(channel);
  for (const p of fake.alertPolicies.values()) t.deepEqual(p.notificationChannels, [channel]);
  const again = await planMonitoring(clients, { projectId: fake.projectId, variables, notifyEmail: 'oncall@example.com' });
  t.deepEqual([...new Set(again.map((i) => i.action))], ['ok']);
  t.is(fake.notificationChannels.size, 1);
});

test('a file variable with no value is refused, naming the file and the variable', async (t) => {
  const { fake, clients } = await fixture(t);
  const { ALERT_STALL_SECONDS: _dropped, ...partial } = variables;
  await t.throwsAsync(planMonitoring(clients, { projectId: fake.projectId, variables: partial }), { message: /ALERT_STALL_SECONDS/ });
  t.is(mutations(fake), 0);
});
