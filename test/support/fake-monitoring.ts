/**
 * A local gRPC stand-in for Cloud Monitoring's MetricService (Google ships no emulator), for the
 * real @google-cloud/monitoring client over its default gRPC transport. Requests are decoded with
 * the client's own protos, then checked as the API would: descriptor shapes, series that match
 * their descriptor and a known monitored resource, one point per series, cumulative intervals
 * whose end times only move forward ("points must be written in order"), distribution counts that
 * add up. Valid series are stored; invalid ones fail with INVALID_ARGUMENT naming the series.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AlertPolicyServiceClient, MetricServiceClient, NotificationChannelServiceClient } from '@google-cloud/monitoring';
import { DashboardsServiceClient } from '@google-cloud/monitoring-dashboards';
import { fakeAuthClient } from './fake-google-auth.js';

const require = createRequire(import.meta.url);

/** Decoded proto messages as proto-loader gives them: camelCase, enums and 64-bit ints as strings. */
export type Message = Record<string, any>;

export interface StoredPoint {
  readonly startMs: number;
  readonly endMs: number;
  readonly value: Message;
}

export interface StoredSeries {
  readonly metric: { type: string; labels: Record<string, string> };
  readonly resource: { type: string; labels: Record<string, string> };
  readonly metricKind: string;
  readonly valueType: string;
  readonly points: StoredPoint[];
}

export interface FakeMonitoringOptions {
  readonly projectId?: string;
  /** Smallest gap between two points of one series, by their end times (the API's is 5 s). */
  readonly minPointSpacingMs?: number;
}

export interface FakeMonitoring {
  readonly projectId: string;
  readonly address: string;
  readonly descriptors: Map<string, Message>;
  readonly series: Map<string, StoredSeries>;
  /** Every request, by method name, with its metadata. */
  readonly calls: { method: string; request: Message; metadata: Record<string, unknown> }[];
  /** The next `times` calls of `method` fail with a gRPC status (default UNAVAILABLE). */
  fail(method: 'CreateTimeSeries' | 'CreateMetricDescriptor', times?: number, code?: grpc.status): void;
  /** Series of one metric type, optionally filtered by metric labels. */
  find(type: string, labels?: Record<string, string>): StoredSeries[];
  /** A real MetricServiceClient on gRPC, plaintext to this server, with test credentials. */
  client(): MetricServiceClient;
  /** Dashboards by name, alert policies by name, notification channels by name. */
  readonly dashboards: Map<string, Message>;
  readonly alertPolicies: Map<string, Message>;
  readonly notificationChannels: Map<string, Message>;
  /** The real clients of the dashboards, alert policy and notification channel services. */
  dashboardsClient(): DashboardsServiceClient;
  alertPolicyClient(): AlertPolicyServiceClient;
  notificationChannelClient(): NotificationChannelServiceClient;
  close(): Promise<void>;
}

const RESOURCE_LABELS: Record<string, readonly string[]> = {
  generic_task: ['project_id', 'location', 'namespace', 'job', 'task_id'],
  k8s_container: ['project_id', 'location', 'cluster_name', 'namespace_name', 'pod_name', 'container_name'],
  global: ['project_id'],
};
const KINDS = ['GAUGE', 'DELTA', 'CUMULATIVE'];
const VALUE_TYPES = ['BOOL', 'INT64', 'DOUBLE', 'STRING', 'DISTRIBUTION'];
const VALUE_FIELD: Record<string, string> = {
  BOOL: 'boolValue',
  INT64: 'int64Value',
  DOUBLE: 'doubleValue',
  STRING: 'stringValue',
  DISTRIBUTION: 'distributionValue',
};

class Invalid extends Error {}

/**
 * Starts the fake on 127.0.0.1 (a free port).
 *
 * @example
 * const monitoring = await startFakeMonitoring();
 * t.teardown(() => monitoring.close());
 */
export async function startFakeMonitoring(options: FakeMonitoringOptions = {}): Promise<FakeMonitoring> {
  const projectId = options.projectId ?? 'buildtrace-test';
  const minSpacing = options.minPointSpacingMs ?? 0;
  const descriptors = new Map<string, Message>();
  const series = new Map<string, StoredSeries>();
  const calls: FakeMonitoring['calls'] = [];
  const faults: { method: string; remaining: number; code: grpc.status }[] = [];
  const clients: { close(): Promise<void> }[] = [];
  const dashboards = new Map<string, Message>();
  const alertPolicies = new Map<string, Message>();
  const notificationChannels = new Map<string, Message>();
  let nextId = 1;

  const { service, dashboardService, alertService, channelService } = serviceDefinitions();

  function intercept(method: string, call: grpc.ServerUnaryCall<Message, Message>): void {
    calls.push({ method, request: call.request, metadata: call.metadata.getMap() });
    const fault = faults.find((f) => f.method === method && f.remaining > 0);
    if (fault) {
      fault.remaining--;
      throw Object.assign(new Error(`Injected failure of ${method}`), { code: fault.code });
    }
    // Project-level calls name the project; GetMetricDescriptor names a descriptor inside it.
    const name = String(call.request.name ?? '');
    if (name !== `projects/${projectId}` && !name.startsWith(`projects/${projectId}/metricDescriptors/`)) {
      throw Object.assign(new Error(`name must be projects/${projectId}, got ${call.request.name}`), { code: grpc.status.INVALID_ARGUMENT });
    }
    const params = String(call.metadata.get('x-goog-request-params')[0] ?? '');
    if (decodeURIComponent(params) !== `name=${name}`) {
      throw Object.assign(new Error(`missing routing header x-goog-request-params, got ${params}`), { code: grpc.status.INVALID_ARGUMENT });
    }
  }

  function unary(method: string, handle: (request: Message) => Message): grpc.handleUnaryCall<Message, Message> {
    return (call, callback) => {
      try {
        intercept(method, call);
        callback(null, handle(call.request));
      } catch (err) {
        const e = err as Error & { code?: grpc.status };
        callback({ code: e.code ?? (err instanceof Invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL), details: e.message });
      }
    };
  }

  function createMetricDescriptor(request: Message): Message {
    const d = request.metricDescriptor as Message | undefined;
    if (!d || typeof d.type !== 'string' || !d.type.startsWith('custom.googleapis.com/')) {
      throw new Invalid(`metric type must start with custom.googleapis.com/, got ${d?.type}`);
    }
    if (!KINDS.includes(d.metricKind)) throw new Invalid(`metricKind must be one of ${KINDS}, got ${d.metricKind}`);
    if (!VALUE_TYPES.includes(d.valueType)) throw new Invalid(`valueType must be one of ${VALUE_TYPES}, got ${d.valueType}`);
    for (const label of (d.labels ?? []) as Message[]) {
      if (!/^[a-z][a-z0-9_]{0,99}$/.test(label.key ?? '')) throw new Invalid(`invalid label key ${label.key}`);
    }
    const existing = descriptors.get(d.type);
    if (existing && (existing.metricKind !== d.metricKind || existing.valueType !== d.valueType)) {
      throw Object.assign(new Error(`descriptor ${d.type} exists with a different kind or type`), { code: grpc.status.ALREADY_EXISTS });
    }
    const stored = { ...d, name: `projects/${projectId}/metricDescriptors/${d.type}` };
    descriptors.set(d.type, stored);
    return stored;
  }

  function createTimeSeries(request: Message): Message {
    const list = (request.timeSeries ?? []) as Message[];
    if (list.length === 0) throw new Invalid('timeSeries must not be empty');
    if (list.length > 200) throw new Invalid(`at most 200 time series per request, got ${list.length}`);
    const errors: string[] = [];
    const seen = new Set<string>();
    list.forEach((ts, i) => {
      try {
        const key = seriesKey(ts);
        if (seen.has(key)) throw new Invalid('Duplicate TimeSeries encountered');
        seen.add(key);
        store(key, ts);
      } catch (err) {
        if (!(err instanceof Invalid)) throw err;
        errors.push(`timeSeries[${i}]: ${err.message}`);
      }
    });
    if (errors.length > 0) throw new Invalid(`One or more TimeSeries could not be written: ${errors.join('; ')}`);
    return {};
  }

  function store(key: string, ts: Message): void {
    const descriptor = descriptors.get(ts.metric?.type);
    if (!descriptor) throw new Invalid(`no metric descriptor for ${ts.metric?.type}`);
    const labels = (ts.metric?.labels ?? {}) as Record<string, string>;
    const expected = ((descriptor.labels ?? []) as Message[]).map((l) => l.key as string).sort();
    if (JSON.stringify(Object.keys(labels).sort()) !== JSON.stringify(expected)) {
      throw new Invalid(`metric labels ${JSON.stringify(Object.keys(labels))} do not match the descriptor's ${JSON.stringify(expected)}`);
    }
    const resource = ts.resource as Message | undefined;
    const required = RESOURCE_LABELS[resource?.type ?? ''];
    if (!required) throw new Invalid(`unsupported monitored resource type ${resource?.type}`);
    for (const label of required) {
      if (!resource!.labels?.[label]) throw new Invalid(`monitored resource ${resource!.type} needs label ${label}`);
    }
    if (resource!.labels.project_id !== projectId) throw new Invalid(`resource project_id must be ${projectId}`);
    if (ts.metricKind && ts.metricKind !== descriptor.metricKind) throw new Invalid(`metricKind ${ts.metricKind} ≠ descriptor's ${descriptor.metricKind}`);
    if (ts.valueType && ts.valueType !== descriptor.valueType) throw new Invalid(`valueType ${ts.valueType} ≠ descriptor's ${descriptor.valueType}`);
    const points = (ts.points ?? []) as Message[];
    if (points.length !== 1) throw new Invalid(`exactly one point per time series, got ${points.length}`);
    const point = points[0]!;
    const startMs = millis(point.interval?.startTime);
    const endMs = millis(point.interval?.endTime);
    if (endMs === null) throw new Invalid('point needs an end time');
    if (descriptor.metricKind === 'CUMULATIVE') {
      if (startMs === null || !(startMs < endMs)) throw new Invalid('cumulative points need a start time before the end time');
    }
    const field = VALUE_FIELD[descriptor.valueType]!;
    if (point.value?.[field] === undefined) throw new Invalid(`value must be ${field} for ${descriptor.valueType}`);
    if (field === 'distributionValue') checkDistribution(point.value.distributionValue as Message);
    const existing = series.get(key);
    const last = existing?.points.at(-1);
    if (last) {
      if (endMs <= last.endMs) {
        throw new Invalid('Points must be written in order. One or more of the points specified had an older start time than the most recent point.');
      }
      if (endMs - last.endMs < minSpacing) {
        throw new Invalid('One or more points were written more frequently than the maximum sampling period configured for the metric.');
      }
    }
    const entry: StoredSeries = existing ?? {
      metric: { type: ts.metric.type, labels },
      resource: { type: resource!.type, labels: { ...resource!.labels } },
      metricKind: descriptor.metricKind,
      valueType: descriptor.valueType,
      points: [],
    };
    entry.points.push({ startMs: startMs ?? endMs, endMs, value: point.value });
    series.set(key, entry);
  }

  /** Checks the routing header the client must send (`<field>=<value>`), records the call. */
  function routed(method: string, field: string, value: (r: Message) => string, handle: (r: Message) => Message): grpc.handleUnaryCall<Message, Message> {
    return (call, callback) => {
      try {
        calls.push({ method, request: call.request, metadata: call.metadata.getMap() });
        const expected = value(call.request);
        if (!String(expected).startsWith(`projects/${projectId}`)) {
          throw Object.assign(new Error(`${field} must be under projects/${projectId}, got ${expected}`), { code: grpc.status.INVALID_ARGUMENT });
        }
        const params = decodeURIComponent(String(call.metadata.get('x-goog-request-params')[0] ?? ''));
        if (params !== `${field}=${expected}`) {
          throw Object.assign(new Error(`missing routing header ${field}=${expected}, got ${params}`), { code: grpc.status.INVALID_ARGUMENT });
        }
        callback(null, handle(call.request));
      } catch (err) {
        const e = err as Error & { code?: grpc.status };
        callback({ code: e.code ?? (err instanceof Invalid ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL), details: e.message });
      }
    };
  }
  const notFound = (what: string) => Object.assign(new Error(`${what} not found`), { code: grpc.status.NOT_FOUND });
  const project = `projects/${projectId}`;

  function checkPolicy(p: Message | undefined): Message {
    if (!p?.displayName) throw new Invalid('alert policy needs a displayName');
    if (!['OR', 'AND', 'AND_WITH_MATCHING_RESOURCE'].includes(p.combiner)) throw new Invalid(`combiner must be set, got ${p.combiner}`);
    const conditions = (p.conditions ?? []) as Message[];
    if (conditions.length === 0 || conditions.length > 6) throw new Invalid('an alert policy needs 1 to 6 conditions');
    for (const c of conditions) {
      const spec = c.conditionThreshold ?? c.conditionAbsent;
      if (!c.displayName || !spec?.filter) throw new Invalid('each condition needs a displayName and a threshold or absence filter');
      for (const ch of (p.notificationChannels ?? []) as string[]) {
        if (!notificationChannels.has(ch)) throw new Invalid(`notification channel ${ch} does not exist`);
      }
    }
    return p;
  }
  function withConditionNames(name: string, p: Message): Message {
    return { ...p, name, conditions: (p.conditions as Message[]).map((c, i) => ({ ...c, name: `${name}/conditions/${i + 1}` })) };
  }

  const server = new grpc.Server();
  server.addService(dashboardService, {
    CreateDashboard: routed('CreateDashboard', 'parent', (r) => r.parent, (r) => {
      const d = r.dashboard as Message | undefined;
      if (!d?.displayName) throw new Invalid('dashboard needs a displayName');
      const name = d.name || `${project}/dashboards/${nextId++}`;
      if (!name.startsWith(`${project}/dashboards/`)) throw new Invalid(`dashboard name must be under ${project}/dashboards/`);
      if (dashboards.has(name)) throw Object.assign(new Error(`${name} exists`), { code: grpc.status.ALREADY_EXISTS });
      const stored = { ...d, name, etag: `etag-${nextId++}` };
      dashboards.set(name, stored);
      return stored;
    }),
    GetDashboard: routed('GetDashboard', 'name', (r) => r.name, (r) => dashboards.get(r.name) ?? (() => { throw notFound(r.name); })()),
    UpdateDashboard: routed('UpdateDashboard', 'dashboard.name', (r) => r.dashboard?.name, (r) => {
      const current = dashboards.get(r.dashboard.name);
      if (!current) throw notFound(r.dashboard.name);
      if (r.dashboard.etag && r.dashboard.etag !== current.etag) throw Object.assign(new Error('etag mismatch'), { code: grpc.status.ABORTED });
      const stored = { ...r.dashboard, etag: `etag-${nextId++}` };
      dashboards.set(r.dashboard.name, stored);
      return stored;
    }),
    ListDashboards: routed('ListDashboards', 'parent', (r) => r.parent, () => ({ dashboards: [...dashboards.values()] })),
  });
  server.addService(alertService, {
    ListAlertPolicies: routed('ListAlertPolicies', 'name', (r) => r.name, () => ({ alertPolicies: [...alertPolicies.values()] })),
    GetAlertPolicy: routed('GetAlertPolicy', 'name', (r) => r.name, (r) => alertPolicies.get(r.name) ?? (() => { throw notFound(r.name); })()),
    CreateAlertPolicy: routed('CreateAlertPolicy', 'name', (r) => r.name, (r) => {
      const name = `${project}/alertPolicies/${nextId++}`;
      const stored = withConditionNames(name, checkPolicy(r.alertPolicy));
      alertPolicies.set(name, stored);
      return stored;
    }),
    UpdateAlertPolicy: routed('UpdateAlertPolicy', 'alert_policy.name', (r) => r.alertPolicy?.name, (r) => {
      if (!alertPolicies.has(r.alertPolicy.name)) throw notFound(r.alertPolicy.name);
      if (r.updateMask?.paths?.length) throw new Invalid('this fake replaces whole policies only (no update mask)');
      const stored = withConditionNames(r.alertPolicy.name, checkPolicy(r.alertPolicy));
      alertPolicies.set(r.alertPolicy.name, stored);
      return stored;
    }),
  });
  server.addService(channelService, {
    ListNotificationChannels: routed('ListNotificationChannels', 'name', (r) => r.name, () => ({ notificationChannels: [...notificationChannels.values()] })),
    CreateNotificationChannel: routed('CreateNotificationChannel', 'name', (r) => r.name, (r) => {
      const c = r.notificationChannel as Message | undefined;
      if (c?.type !== 'email' || !c.labels?.email_address) throw new Invalid('an email channel needs labels.email_address');
      const name = `${project}/notificationChannels/${nextId++}`;
      notificationChannels.set(name, { ...c, name });
      return notificationChannels.get(name)!;
    }),
  });
  server.addService(service, {
    CreateMetricDescriptor: unary('CreateMetricDescriptor', createMetricDescriptor),
    CreateTimeSeries: unary('CreateTimeSeries', createTimeSeries),
    GetMetricDescriptor: unary('GetMetricDescriptor', (r) => {
      const d = descriptors.get(String(r.name ?? '').split('/metricDescriptors/')[1] ?? '');
      if (!d) throw Object.assign(new Error('not found'), { code: grpc.status.NOT_FOUND });
      return d;
    }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  const clientOptions = () => ({
    projectId,
    apiEndpoint: '127.0.0.1',
    port,
    sslCreds: grpc.credentials.createInsecure(),
    authClient: fakeAuthClient() as never,
  });
  const track = <T extends { close(): Promise<void> }>(client: T): T => {
    clients.push(client);
    return client;
  };

  return {
    projectId,
    address: `127.0.0.1:${port}`,
    descriptors,
    series,
    calls,
    fail: (method, times = 1, code = grpc.status.UNAVAILABLE) => faults.push({ method, remaining: times, code }),
    find: (type, labels = {}) =>
      [...series.values()].filter((s) => s.metric.type === type && Object.entries(labels).every(([k, v]) => s.metric.labels[k] === v)),
    client: () => {
      const client = new MetricServiceClient({
        projectId,
        apiEndpoint: '127.0.0.1',
        port,
        sslCreds: grpc.credentials.createInsecure(),
        authClient: fakeAuthClient() as never,
      } as ConstructorParameters<typeof MetricServiceClient>[0]);
      clients.push(client);
      return client;
    },
    dashboards,
    alertPolicies,
    notificationChannels,
    dashboardsClient: () => track(new DashboardsServiceClient(clientOptions() as never)),
    alertPolicyClient: () => track(new AlertPolicyServiceClient(clientOptions() as never)),
    notificationChannelClient: () => track(new NotificationChannelServiceClient(clientOptions() as never)),
    close: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      server.forceShutdown();
    },
  };
}

/** How the fake decodes requests, as proto-loader gives them. */
const DECODING = { keepCase: false, longs: String, enums: String, defaults: false, oneofs: true } as const;

type Services = Record<'service' | 'dashboardService' | 'alertService' | 'channelService', grpc.ServiceDefinition>;

let definitions: Services | null = null;

/**
 * The two services' definitions, built once per thread from the clients' own protos: building
 * them from those large JSON files took more CPU than most tests using the fake.
 */
function serviceDefinitions(): Services {
  if (definitions) return definitions;
  const metrics = grpc.loadPackageDefinition(protoLoader.fromJSON(require('@google-cloud/monitoring/build/protos/protos.json'), DECODING)) as any;
  const dashboards = grpc.loadPackageDefinition(
    protoLoader.fromJSON(require('@google-cloud/monitoring-dashboards/build/protos/protos.json'), DECODING),
  ) as any;
  const v3 = metrics.google.monitoring.v3;
  definitions = {
    service: v3.MetricService.service,
    dashboardService: dashboards.google.monitoring.dashboard.v1.DashboardsService.service,
    alertService: v3.AlertPolicyService.service,
    channelService: v3.NotificationChannelService.service,
  };
  return definitions;
}

/** Identity of a series: metric type and labels, resource type and labels. */
function seriesKey(ts: Message): string {
  const sorted = (o: Record<string, string> | undefined) => Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([ts.metric?.type, sorted(ts.metric?.labels), ts.resource?.type, sorted(ts.resource?.labels)]);
}

function millis(t: Message | undefined): number | null {
  if (!t || t.seconds === undefined) return null;
  return Number(t.seconds) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1_000_000);
}

function checkDistribution(d: Message): void {
  const count = Number(d.count ?? 0);
  const buckets = ((d.bucketCounts ?? []) as string[]).map(Number);
  const options = d.bucketOptions as Message | undefined;
  const exp = options?.exponentialBuckets as Message | undefined;
  const explicit = options?.explicitBuckets as Message | undefined;
  const linear = options?.linearBuckets as Message | undefined;
  let finite: number;
  if (exp) {
    if (!(exp.growthFactor > 1) || !(exp.scale > 0) || !(exp.numFiniteBuckets > 0)) throw new Invalid('invalid exponential bucket options');
    finite = exp.numFiniteBuckets;
  } else if (linear) {
    finite = linear.numFiniteBuckets;
  } else if (explicit) {
    finite = (explicit.bounds ?? []).length - 1;
  } else {
    throw new Invalid('distribution needs bucket options');
  }
  if (buckets.length > finite + 2) throw new Invalid(`bucketCounts has ${buckets.length} entries, more than ${finite + 2}`);
  const sum = buckets.reduce((a, b) => a + b, 0);
  if (buckets.length > 0 && sum !== count) throw new Invalid(`bucketCounts add up to ${sum}, count is ${count}`);
  if (count === 0 && Number(d.mean ?? 0) !== 0) throw new Invalid('mean must be 0 when count is 0');
}
