/**
 * Least privilege, as data: every call the running service makes, the permission it needs and on
 * which resource; the predefined roles setup grants, with the permissions each gives on the
 * resource it is granted on (from Google's predefined-roles reference); and the grants. The test
 * (test/setup/permissions.test.ts) proves the grants cover every call and that every permission
 * they give is needed or named below as an accepted extra with its reason; the README's IAM
 * table is rendered from the same data.
 */

/** The resources grants are made on; `project` only where no narrower resource exists. */
export type ResourceKind = 'project' | 'tasksTopic' | 'dlqTopic' | 'subscription' | 'inputBucket' | 'outputBucket' | 'dataset';

export interface ServiceCall {
  readonly call: string;
  readonly on: ResourceKind;
  readonly permission: string;
}

export const SERVICE_CALLS: readonly ServiceCall[] = [
  { call: 'streaming pull, ack, modifyAckDeadline (streams/sources/pubsub.ts)', on: 'subscription', permission: 'pubsub.subscriptions.consume' },
  { call: 'read the dead-letter policy (streams/sources/pubsub.ts readPolicy)', on: 'subscription', permission: 'pubsub.subscriptions.get' },
  { call: 'POST /process publishes tasks', on: 'tasksTopic', permission: 'pubsub.topics.publish' },
  { call: 'dead-letter a malformed task', on: 'dlqTopic', permission: 'pubsub.topics.publish' },
  { call: 'read an input version (metadata, then the pinned generation)', on: 'inputBucket', permission: 'storage.objects.get' },
  { call: 'POST /process with storage_path lists the pairs', on: 'inputBucket', permission: 'storage.objects.list' },
  { call: "read the input bucket's metadata", on: 'inputBucket', permission: 'storage.buckets.get' },
  { call: 'create a result object (create-if-absent)', on: 'outputBucket', permission: 'storage.objects.create' },
  { call: 'read a result object after a 412', on: 'outputBucket', permission: 'storage.objects.get' },
  { call: "roll back a batch's result objects", on: 'outputBucket', permission: 'storage.objects.delete' },
  { call: 'readiness: the output bucket answers', on: 'outputBucket', permission: 'storage.buckets.get' },
  { call: 'readiness and start-up: the dataset answers', on: 'dataset', permission: 'bigquery.datasets.get' },
  { call: 'start-up check: read each table', on: 'dataset', permission: 'bigquery.tables.get' },
  { call: 'start-up check: create a missing table', on: 'dataset', permission: 'bigquery.tables.create' },
  { call: 'start-up check: add missing columns', on: 'dataset', permission: 'bigquery.tables.update' },
  { call: 'streaming inserts (insertAll)', on: 'dataset', permission: 'bigquery.tables.updateData' },
  { call: 'GET /changes, /jobs, /metrics read rows', on: 'dataset', permission: 'bigquery.tables.getData' },
  { call: 'GET /changes, /jobs, /metrics run query jobs', on: 'project', permission: 'bigquery.jobs.create' },
  { call: 'create the metric descriptors', on: 'project', permission: 'monitoring.metricDescriptors.create' },
  { call: 'write the metric points', on: 'project', permission: 'monitoring.timeSeries.create' },
];

/** Permissions each role gives on the kind of resource setup grants it on. */
export const ROLE_PERMISSIONS = {
  'roles/pubsub.subscriber': ['pubsub.subscriptions.consume', 'pubsub.snapshots.seek', 'pubsub.topics.attachSubscription'],
  // On a subscription, of the viewer role's list only subscriptions.get applies.
  'roles/pubsub.viewer': ['pubsub.subscriptions.get'],
  'roles/pubsub.publisher': ['pubsub.topics.publish'],
  'roles/storage.legacyBucketReader': ['storage.buckets.get', 'storage.objects.list'],
  'roles/storage.legacyObjectReader': ['storage.objects.get'],
  'roles/storage.legacyBucketWriter': [
    'storage.buckets.get',
    'storage.objects.create',
    'storage.objects.delete',
    'storage.objects.list',
    'storage.multipartUploads.abort',
    'storage.multipartUploads.create',
    'storage.multipartUploads.list',
    'storage.multipartUploads.listParts',
  ],
  'roles/bigquery.dataEditor': [
    'bigquery.datasets.get',
    'bigquery.tables.create',
    'bigquery.tables.delete',
    'bigquery.tables.export',
    'bigquery.tables.get',
    'bigquery.tables.getData',
    'bigquery.tables.list',
    'bigquery.tables.update',
    'bigquery.tables.updateData',
    'bigquery.models.*',
    'bigquery.routines.*',
  ],
  'roles/bigquery.jobUser': ['bigquery.jobs.create', 'bigquery.config.get', 'resourcemanager.projects.get', 'resourcemanager.projects.list'],
  'roles/monitoring.metricWriter': [
    'monitoring.metricDescriptors.create',
    'monitoring.metricDescriptors.get',
    'monitoring.metricDescriptors.list',
    'monitoring.monitoredResourceDescriptors.get',
    'monitoring.monitoredResourceDescriptors.list',
    'monitoring.timeSeries.create',
  ],
} as const satisfies Record<string, readonly string[]>;

export type Role = keyof typeof ROLE_PERMISSIONS;

export interface Grant {
  readonly role: Role;
  readonly on: ResourceKind;
}

/** The runtime service account's grants, each on the narrowest resource that works. */
export const RUNTIME_GRANTS: readonly Grant[] = [
  { role: 'roles/pubsub.subscriber', on: 'subscription' },
  { role: 'roles/pubsub.viewer', on: 'subscription' },
  { role: 'roles/pubsub.publisher', on: 'tasksTopic' },
  { role: 'roles/pubsub.publisher', on: 'dlqTopic' },
  { role: 'roles/storage.legacyBucketReader', on: 'inputBucket' },
  { role: 'roles/storage.legacyObjectReader', on: 'inputBucket' },
  { role: 'roles/storage.legacyBucketWriter', on: 'outputBucket' },
  { role: 'roles/storage.legacyObjectReader', on: 'outputBucket' },
  { role: 'roles/bigquery.dataEditor', on: 'dataset' },
  // Query jobs and metric writes exist only at project level.
  { role: 'roles/bigquery.jobUser', on: 'project' },
  { role: 'roles/monitoring.metricWriter', on: 'project' },
];

/**
 * Permissions granted beyond the calls, each because no narrower predefined role exists (a custom
 * role could remove them, at the cost of maintaining it).
 */
export const ACCEPTED_EXTRAS: Readonly<Record<string, string>> = {
  'pubsub.snapshots.seek': 'part of the only role that grants consume',
  'pubsub.topics.attachSubscription': 'part of the only role that grants consume; granted on the subscription, it attaches nothing',
  'storage.multipartUploads.abort': 'part of the only role with objects.delete but no objects.update',
  'storage.multipartUploads.create': 'as above',
  'storage.multipartUploads.list': 'as above',
  'storage.multipartUploads.listParts': 'as above',
  'storage.objects.list': 'in both legacy bucket roles, the only ones with buckets.get',
  'bigquery.tables.delete': 'dataEditor is the narrowest predefined role with tables.create and tables.update',
  'bigquery.tables.export': 'as above',
  'bigquery.tables.list': 'as above',
  'bigquery.models.*': 'as above; the dataset holds no models',
  'bigquery.routines.*': 'as above; the dataset holds no routines',
  'bigquery.config.get': 'part of jobUser',
  'resourcemanager.projects.get': 'part of jobUser',
  'resourcemanager.projects.list': 'part of jobUser',
  'monitoring.metricDescriptors.get': 'read-only, part of metricWriter',
  'monitoring.metricDescriptors.list': 'read-only, part of metricWriter',
  'monitoring.monitoredResourceDescriptors.get': 'read-only, part of metricWriter',
  'monitoring.monitoredResourceDescriptors.list': 'read-only, part of metricWriter',
};

/**
 * The Pub/Sub service agent (service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com)
 * forwards undeliverable messages: without these two grants dead-lettering silently does nothing.
 */
export const SERVICE_AGENT_GRANTS: readonly Grant[] = [
  { role: 'roles/pubsub.publisher', on: 'dlqTopic' },
  { role: 'roles/pubsub.subscriber', on: 'subscription' },
];

/** BigQuery dataset access entries name predefined roles by their legacy names. */
export const DATASET_ACCESS_ROLE: Partial<Record<Role, string>> = { 'roles/bigquery.dataEditor': 'WRITER' };

const RESOURCE_LABELS: Readonly<Record<ResourceKind, string>> = {
  project: 'project',
  tasksTopic: 'topic `PUBSUB_TOPIC`',
  dlqTopic: 'topic `PUBSUB_DLQ_TOPIC`',
  subscription: 'subscription `PUBSUB_SUBSCRIPTION`',
  inputBucket: 'bucket `INPUT_BUCKET`',
  outputBucket: 'bucket `OUTPUT_BUCKET`',
  dataset: 'dataset `BIGQUERY_DATASET`',
};

/** The README's table: one row per grant, the permissions the calls need, and what else it grants. */
export function iamTable(): string {
  const rows = RUNTIME_GRANTS.map((g) => {
    const perms: readonly string[] = ROLE_PERMISSIONS[g.role];
    const needed = [...new Set(SERVICE_CALLS.filter((c) => c.on === g.on && perms.includes(c.permission)).map((c) => c.permission))];
    const extra = perms.filter((p) => !needed.includes(p));
    const code = (list: readonly string[]) => list.map((p) => `\`${p}\``).join(', ') || '—';
    return `| \`${g.role}\` | ${RESOURCE_LABELS[g.on]} | ${code(needed)} | ${code(extra)} |`;
  });
  return ['| Role | On | Needed for | Also grants (no narrower predefined role) |', '|---|---|---|---|', ...rows].join('\n');
}

/**
 * `buildtrace dead-letters` runs as the operator, not as the service account: the service never
 * reads its own dead letters, so the runtime grants above stay without them.
 */
export type OperatorResourceKind = 'tasksTopic' | 'dlqSubscription';

export const DEAD_LETTER_OPERATOR_CALLS: readonly { readonly call: string; readonly on: OperatorResourceKind; readonly permission: string }[] = [
  { call: 'dead-letters list/replay: pull, modifyAckDeadline, acknowledge (streams/sources/dead-letters/pubsub.ts)', on: 'dlqSubscription', permission: 'pubsub.subscriptions.consume' },
  { call: 'dead-letters replay: publish each dead letter to the tasks topic', on: 'tasksTopic', permission: 'pubsub.topics.publish' },
];

/** What an operator needs to run `buildtrace dead-letters` (the README's "Dead letters" names them). */
export const DEAD_LETTER_OPERATOR_GRANTS: readonly { readonly role: Role; readonly on: OperatorResourceKind }[] = [
  { role: 'roles/pubsub.subscriber', on: 'dlqSubscription' },
  { role: 'roles/pubsub.publisher', on: 'tasksTopic' },
];
