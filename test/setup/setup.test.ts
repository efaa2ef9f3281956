/**
 * `buildtrace setup` end to end, through the command line and the real Google client libraries:
 * Pub/Sub on the official emulator, Cloud Storage, BigQuery and Monitoring on the local servers,
 * IAM, Resource Manager and Pub/Sub IAM on the local IAM server. Each local server records the
 * requests that change state, so "a plan changes nothing" is checked on the wire.
 */
import test from 'ava';
import type { PubSub } from '@google-cloud/pubsub';
import { runCli } from '../../src/cli.js';
import { TABLES } from '../../sinks/bigquery/schema.js';
import { serviceDescriptors } from '../../src/setup/monitoring.js';
import { loadMonitoringFiles, monitoringVariables } from '../../src/setup/monitoring-files.js';
import { loadConfig } from '../../src/config.js';
import { RUNTIME_GRANTS, SERVICE_AGENT_GRANTS } from '../../src/setup/permissions.js';
import { startFakeBigQuery, type FakeBigQuery } from '../support/fake-bigquery.js';
import { startFakeGcs, type FakeGcs } from '../support/fake-gcs.js';
import { startFakeIam, type FakeIam } from '../support/fake-iam.js';
import { startFakeMonitoring, type FakeMonitoring } from '../support/fake-monitoring.js';
import { emulatorClient, startEmulator, uniqueId, type RunningEmulator } from '../support/pubsub-emulator.js';

let emulator: RunningEmulator;
let admin: PubSub;

test.before(async () => {
  emulator = await startEmulator();
  admin = emulatorClient(emulator);
});
test.after.always(async () => {
  await admin?.close();
  await emulator?.stop();
});

interface World {
  readonly env: Record<string, string>;
  readonly gcs: FakeGcs;
  readonly bigquery: FakeBigQuery;
  readonly monitoring: FakeMonitoring;
  readonly iam: FakeIam;
  readonly names: { topic: string; subscription: string; dlq: string; input: string; output: string; dataset: string };
  /** Requests that changed state, on every local server, and the Pub/Sub resources of this world. */
  mutations(): Promise<{ http: number; monitoring: number; topics: string[] }>;
}

/** What the monitoring part plans: each metric descriptor, the dashboard, each alert policy. */
const FILES = loadMonitoringFiles(monitoringVariables(loadConfig({})));
const MONITORING_ITEMS = serviceDescriptors().length + 1 + FILES.policies.size;

async function world(t: { teardown(fn: () => unknown): void }): Promise<World> {
  const projectId = emulator.projectId;
  const [gcs, bigquery, monitoring] = await Promise.all([
    startFakeGcs(),
    startFakeBigQuery({ projectId, acceptLoopbackToken: true }),
    startFakeMonitoring({ projectId }),
  ]);
  const iam = await startFakeIam({
    projectId,
    pubsubExists: async (kind, id) => (kind === 'topics' ? admin.topic(id) : admin.subscription(id)).exists().then(([e]) => e),
  });
  t.teardown(() => Promise.all([gcs.close(), bigquery.close(), monitoring.close(), iam.close()]));
  const suffix = uniqueId('w').slice(2);
  const names = {
    topic: `tasks-${suffix}`,
    subscription: `workers-${suffix}`,
    dlq: `dlq-${suffix}`,
    input: `in-${suffix}`,
    output: `out-${suffix}`,
    dataset: `bt_${suffix}`,
  };
  const env = {
    METADATA_SERVER_DETECTION: 'none',
    GOOGLE_CLOUD_PROJECT: projectId,
    GOOGLE_CLOUD_REGION: 'us-west2',
    BIGQUERY_LOCATION: 'us-west2',
    PUBSUB_EMULATOR_HOST: emulator.host,
    PUBSUB_TOPIC: names.topic,
    PUBSUB_SUBSCRIPTION: names.subscription,
    PUBSUB_DLQ_TOPIC: names.dlq,
    INPUT_BUCKET: names.input,
    OUTPUT_BUCKET: names.output,
    BIGQUERY_DATASET: names.dataset,
    STORAGE_API_ENDPOINT: gcs.url,
    BIGQUERY_API_ENDPOINT: bigquery.url,
    MONITORING_API_ENDPOINT: monitoring.address,
    IAM_API_ENDPOINT: iam.url,
    RESOURCE_MANAGER_API_ENDPOINT: iam.url,
    PUBSUB_API_ENDPOINT: iam.url,
  };
  return {
    env,
    gcs,
    bigquery,
    monitoring,
    iam,
    names,
    mutations: async () => {
      const [topics] = await admin.getTopics();
      return {
        http: gcs.mutatingRequests().length + bigquery.mutatingRequests().length + iam.mutatingRequests().length,
        monitoring: monitoring.calls.filter((c) => !/^(Get|List)/.test(c.method)).length,
        topics: topics.map((x) => x.name.split('/').pop()!).filter((n) => n.endsWith(suffix)),
      };
    },
  };
}

/** Runs `buildtrace setup ...` in process with `env` as the environment. */
async function setup(w: World, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const saved = { ...process.env };
  // The command reads process.env like the real CLI; restore it whatever happens.
  Object.assign(process.env, w.env);
  try {
    const code = await runCli(['setup', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
    return { code, out, err };
  } finally {
    for (const key of Object.keys(w.env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

const lines = (out: string) => out.trim().split('\n');
const planLines = (out: string) => lines(out).filter((l) => !l.startsWith('Plan:') && !l.startsWith('done') && !l.startsWith('Applied'));

test.serial('an empty project: the plan lists every resource as create and changes nothing; one --apply converges; a second run plans nothing', async (t) => {
  const w = await world(t);
  const sa = `buildtrace@${emulator.projectId}.iam.gserviceaccount.com`;

  const plan = await setup(w, []);
  t.is(plan.code, 0, plan.err);
  const planned = planLines(plan.out);
  const expected = 4 + SERVICE_AGENT_GRANTS.length /* pubsub */ + 2 /* buckets */ + 1 /* dataset */ + Object.keys(TABLES).length + MONITORING_ITEMS + 1 + RUNTIME_GRANTS.length + 1;
  t.is(planned.length, expected, plan.out);
  t.true(planned.every((l) => l.startsWith('create ')), plan.out);
  t.regex(plan.out, new RegExp(`Plan: ${expected} to create, 0 to update, 0 ok`));
  t.deepEqual(await w.mutations(), { http: 0, monitoring: 0, topics: [] }, 'a plan sends no mutating request');

  const apply = await setup(w, ['--apply']);
  t.is(apply.code, 0, apply.err + apply.out);
  t.regex(apply.out, new RegExp(`Applied: ${expected} change\\(s\\)`));

  // Pub/Sub: the subscription's policies and the dead letters' subscription
  const [sub] = await admin.subscription(w.names.subscription).getMetadata();
  t.is(sub.deadLetterPolicy?.deadLetterTopic, `projects/${emulator.projectId}/topics/${w.names.dlq}`);
  t.is(sub.deadLetterPolicy?.maxDeliveryAttempts, 5);
  t.is(Number(sub.retryPolicy?.minimumBackoff?.seconds), 10);
  t.is(Number(sub.retryPolicy?.maximumBackoff?.seconds), 600);
  t.is(sub.ackDeadlineSeconds, 60);
  const [dlqSub] = await admin.subscription(`${w.names.dlq}-sub`).getMetadata();
  t.is(dlqSub.topic, `projects/${emulator.projectId}/topics/${w.names.dlq}`);
  t.falsy(dlqSub.expirationPolicy?.ttl, 'the dead letters never expire');
  t.is(Number(dlqSub.messageRetentionDuration?.seconds), 7 * 86_400);

  // Cloud Storage: private buckets in the region with the lifecycle rule
  for (const name of [w.names.input, w.names.output]) {
    const meta = w.gcs.bucketMetadata(name)!;
    t.is(meta.location, 'US-WEST2');
    t.deepEqual(meta.iamConfiguration, { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'enforced' });
    t.deepEqual(meta.lifecycle, { rule: [{ action: { type: 'Delete' }, condition: { age: 90 } }] });
  }

  // BigQuery: dataset in its location, every table, rollup partitions expire
  t.is(w.bigquery.dataset(w.names.dataset)?.location, 'us-west2');
  for (const id of Object.keys(TABLES)) t.truthy(w.bigquery.table(w.names.dataset, id), id);
  t.is((w.bigquery.table(w.names.dataset, 'hourly_rollups')!.metadata.timePartitioning as { expirationMs?: string }).expirationMs, String(400 * 86_400_000));
  t.deepEqual(w.bigquery.dataset(w.names.dataset)?.access, [{ role: 'WRITER', userByEmail: sa }]);

  // Monitoring: every metric the service writes, the dashboard and each alert policy
  t.deepEqual([...w.monitoring.descriptors.keys()].sort(), serviceDescriptors().map((d) => d.type!).sort());
  t.is(w.monitoring.dashboards.size, 1);
  t.is(w.monitoring.alertPolicies.size, FILES.policies.size);

  // IAM: the service account, its grants on each resource, the service agent's, Workload Identity
  t.true(w.iam.serviceAccounts.has(sa));
  const members = (resource: string, role: string) => w.iam.policy(resource).bindings.find((b) => b.role === role)?.members ?? [];
  const p = `projects/${emulator.projectId}`;
  const agent = `serviceAccount:service-${w.iam.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  t.deepEqual(members(`${p}/topics/${w.names.dlq}`, 'roles/pubsub.publisher').sort(), [agent, `serviceAccount:${sa}`].sort());
  t.deepEqual(members(`${p}/subscriptions/${w.names.subscription}`, 'roles/pubsub.subscriber').sort(), [agent, `serviceAccount:${sa}`].sort());
  t.deepEqual(members(`${p}/subscriptions/${w.names.subscription}`, 'roles/pubsub.viewer'), [`serviceAccount:${sa}`]);
  t.deepEqual(members(`${p}/topics/${w.names.topic}`, 'roles/pubsub.publisher'), [`serviceAccount:${sa}`]);
  t.deepEqual(w.iam.policy(p).bindings.map((b) => b.role).sort(), ['roles/bigquery.jobUser', 'roles/monitoring.metricWriter']);
  t.deepEqual(members(`${p}/serviceAccounts/${sa}`, 'roles/iam.workloadIdentityUser'), [`serviceAccount:${emulator.projectId}.svc.id.goog[buildtrace/buildtrace]`]);
  t.deepEqual(w.gcs.bucketPolicy(w.names.input)?.bindings.map((b) => b.role).sort(), ['roles/storage.legacyBucketReader', 'roles/storage.legacyObjectReader']);
  t.deepEqual(w.gcs.bucketPolicy(w.names.output)?.bindings.map((b) => b.role).sort(), ['roles/storage.legacyBucketWriter', 'roles/storage.legacyObjectReader']);

  const before = await w.mutations();
  const again = await setup(w, []);
  t.is(again.code, 0, again.err);
  t.true(planLines(again.out).every((l) => l.startsWith('ok ')), again.out);
  t.regex(again.out, new RegExp(`Plan: 0 to create, 0 to update, ${expected} ok`));
  t.deepEqual(await w.mutations(), before, 'the second run changes nothing');
  const reapply = await setup(w, ['--apply']);
  t.regex(reapply.out, /Applied: 0 change\(s\)/);
});

test.serial('drift is repaired: a subscription without its dead-letter policy, a bucket open to public access, a table missing a column', async (t) => {
  const w = await world(t);
  t.is((await setup(w, ['--apply'])).code, 0);

  await admin.subscription(w.names.subscription).setMetadata({ deadLetterPolicy: null } as never);
  w.gcs.driftBucket(w.names.output, { iamConfiguration: { uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: 'inherited' } });
  // an older table: created before `replica_id` existed
  w.bigquery.deleteTable(w.names.dataset, 'jobs');
  const client = w.bigquery.client();
  await client.dataset(w.names.dataset).table('jobs').create({
    schema: { fields: TABLES.jobs.fields.filter((f) => f.name !== 'tasks_created').map((f) => ({ ...f })) },
    timePartitioning: { type: 'DAY', field: 'created_at' },
  });

  const plan = await setup(w, []);
  t.is(plan.code, 0, plan.err);
  const changed = planLines(plan.out).filter((l) => !l.startsWith('ok '));
  t.deepEqual(
    changed.map((l) => l.replace(/\s+/g, ' ')),
    [
      `update dead-letter policy pubsub subscription ${w.names.subscription}`,
      `update public access prevention storage bucket ${w.names.output}`,
      `update add columns tasks_created bigquery table ${w.names.dataset}.jobs`,
    ],
  );

  t.is((await setup(w, ['--apply'])).code, 0);
  const [sub] = await admin.subscription(w.names.subscription).getMetadata();
  t.is(sub.deadLetterPolicy?.deadLetterTopic, `projects/${emulator.projectId}/topics/${w.names.dlq}`);
  t.is((w.gcs.bucketMetadata(w.names.output)!.iamConfiguration as { publicAccessPrevention: string }).publicAccessPrevention, 'enforced');
  const fields = w.bigquery.table(w.names.dataset, 'jobs')!.fields;
  t.deepEqual(fields.map((f) => f.name), ['job_id', 'created_at', 'tasks_created'], 'added, nothing dropped');
  t.is(fields.find((f) => f.name === 'tasks_created')?.mode, 'NULLABLE', 'a column added to a table with rows cannot be REQUIRED');
  const after = await setup(w, []);
  t.regex(after.out, /Plan: 0 to create, 0 to update/);
});

test.serial('--only plans only the parts named', async (t) => {
  const w = await world(t);
  const plan = await setup(w, ['--only', 'monitoring,bigquery']);
  t.is(plan.code, 0, plan.err);
  t.true(planLines(plan.out).every((l) => /\s(monitoring (metric|dashboard|alert policy)|bigquery (dataset|table)) /.test(l)), plan.out);
  t.is(planLines(plan.out).length, MONITORING_ITEMS + 1 + Object.keys(TABLES).length);
});

test.serial('a grant on a resource that does not exist yet fails with a clear message and exit 1', async (t) => {
  const w = await world(t);
  const r = await setup(w, ['--only', 'iam', '--apply']);
  t.is(r.code, 1);
  t.regex(r.err, /setup failed: create iam roles\/pubsub\.subscriber on pubsub subscription .* does not exist: create it first/);
});

test('bad arguments are refused with one line and exit 2, before any request', async (t) => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--only', 'pubsub,dns'], {}, /--only takes a comma-separated list of pubsub, storage, bigquery, monitoring, iam; got "pubsub,dns"/],
    [['--only', ''], {}, /--only takes/],
    [['--project', 'Not A Project'], {}, /GOOGLE_CLOUD_PROJECT must be a valid project id/],
    [[], { GOOGLE_CLOUD_PROJECT: '' }, /no project: pass --project or set GOOGLE_CLOUD_PROJECT/],
    [['--project', 'my-project'], { GOOGLE_CLOUD_REGION: '' }, /no region for the buckets: pass --region/],
    [['--project', 'my-project', '--region', 'moon'], {}, /GOOGLE_CLOUD_REGION must be a region such as us-west2/],
    [['--project', 'my-project', '--region', 'us-west2', '--input-retention-days', '0'], {}, /--input-retention-days must be a whole number of days from 1 to 36500, got "0"/],
    [['--apply', 'now'], {}, /Unexpected argument 'now'/],
    [['--force'], {}, /Unknown option '--force'/],
    [['--namespace', 'Bad_NS', '--project', 'my-project'], {}, /--namespace must be a Kubernetes namespace name/],
    [['--notify-email', 'ops at example', '--project', 'my-project'], {}, /--notify-email must be an e-mail address, got "ops at example"/],
  ];
  for (const [args, env, message] of cases) {
    const saved = { ...process.env };
    Object.assign(process.env, { GOOGLE_CLOUD_PROJECT: '', GOOGLE_CLOUD_REGION: '', ...env });
    let err = '';
    let code: number;
    try {
      code = await runCli(['setup', ...args], { out: () => undefined, err: (s) => void (err += s) });
    } finally {
      for (const k of ['GOOGLE_CLOUD_PROJECT', 'GOOGLE_CLOUD_REGION']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    t.is(code, 2, `${args.join(' ')}: ${err}`);
    t.regex(err, message, args.join(' '));
    t.is(err.trim().split('\n').length, 1);
  }
});
