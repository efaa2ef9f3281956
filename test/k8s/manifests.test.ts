/**
 * The deployment files, checked without a cluster: every kustomize overlay renders with
 * `kubectl kustomize`, each object validates against the Kubernetes schemas (kubernetes-models;
 * KEDA's two kinds by their documented shape), the Deployment meets the Pod Security
 * "restricted" profile, and the manifests agree with the code: environment variables are ones
 * the service reads (and load without a configuration error), probe paths are routes the server
 * has on the port it listens on, and the pods' environment yields the `k8s_container` metric
 * resource. The Cloud Run service is held to the same checks.
 */
import { variablesSchema } from '../../src/config.js';
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { loadConfig } from '../../src/config.js';
import { detectResource } from '../../src/infra/monitoring/resource.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const overlaysDir = path.join(root, 'k8s', 'overlays');
const OVERLAYS = readdirSync(overlaysDir);

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

function render(dir: string, extra: string[] = []): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', dir, ...extra], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj);
}

const rendered = new Map(OVERLAYS.map((o) => [o, render(path.join(overlaysDir, o))]));
const one = (objects: Obj[], kind: string) => {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
};

// ------------------------------------------------------------------ what the code reads

const source = (file: string) => readFileSync(path.join(root, file), 'utf8');
/** Variables `loadConfig` reads, and the ones `detectResource` reads for the monitored resource. */
const CONFIG_VARS = new Set(Object.keys(variablesSchema.shape));
const RESOURCE_VARS = new Set([...source('src/infra/monitoring/resource.ts').matchAll(/env\.([A-Z0-9_]+)/g)].map((m) => m[1]!));
/** GET routes the server has. */
const GET_ROUTES = new Set(
  readdirSync(path.join(root, 'src/server/routes')).flatMap((f) => [...source(`src/server/routes/${f}`).matchAll(/router\.get\('([^']+)'/g)].map((m) => m[1]!)),
);
const SINK_CHECK_TIMEOUT_MS = Number(/const SINK_CHECK_TIMEOUT_MS = ([\d_]+);/.exec(source('src/service.ts'))![1]!.replace(/_/g, ''));

test('the code facts the checks rely on were found', (t) => {
  t.true(CONFIG_VARS.has('PUBSUB_SUBSCRIPTION') && CONFIG_VARS.has('BIGQUERY_LOCATION') && CONFIG_VARS.size > 30);
  t.deepEqual([...RESOURCE_VARS].sort(), ['CLOUD_RUN_REGION', 'CLUSTER_LOCATION', 'CLUSTER_NAME', 'CONTAINER_NAME', 'GOOGLE_CLOUD_REGION', 'KUBERNETES_SERVICE_HOST', 'K_SERVICE', 'POD_NAME', 'POD_NAMESPACE']);
  t.true(GET_ROUTES.has('/healthz') && GET_ROUTES.has('/readyz'));
  t.true(SINK_CHECK_TIMEOUT_MS > 0);
  t.deepEqual(OVERLAYS.sort(), ['production', 'staging']);
});

// ------------------------------------------------------------------ schemas

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

/** KEDA ships no schema package for Node 20: its two kinds are checked against the documented fields. */
function validateKeda(t: any, o: Obj, all: Obj[]): void {
  if (o.kind === 'TriggerAuthentication') {
    t.deepEqual(Object.keys(o.spec), ['podIdentity']);
    t.is(o.spec.podIdentity.provider, 'gcp', 'Workload Identity');
    return;
  }
  t.is(o.kind, 'ScaledObject');
  const allowed = ['scaleTargetRef', 'minReplicaCount', 'maxReplicaCount', 'pollingInterval', 'cooldownPeriod', 'triggers', 'advanced', 'fallback', 'idleReplicaCount'];
  for (const key of Object.keys(o.spec)) t.true(allowed.includes(key), `ScaledObject.spec.${key}`);
  t.is(one(all, 'Deployment').metadata.name, o.spec.scaleTargetRef.name);
  t.true(Number.isInteger(o.spec.minReplicaCount) && o.spec.minReplicaCount >= 1 && o.spec.maxReplicaCount >= o.spec.minReplicaCount);
  t.is(o.spec.triggers.length, 1);
  const trigger = o.spec.triggers[0];
  t.is(trigger.type, 'gcp-pubsub');
  t.is(trigger.authenticationRef.name, one(all, 'TriggerAuthentication').metadata.name);
  t.true(['SubscriptionSize', 'OldestUnackedMessageAge'].includes(trigger.metadata.mode));
  t.regex(trigger.metadata.value, /^\d+$/, 'KEDA metadata values are strings');
  t.is(trigger.metadata.subscriptionName, one(all, 'ConfigMap').data.PUBSUB_SUBSCRIPTION, 'the scaler watches the subscription the pods read');
}

for (const overlay of OVERLAYS) {
  test(`${overlay}: every object validates against its schema`, (t) => {
    const objects = rendered.get(overlay)!;
    t.true(objects.length >= 8);
    for (const o of objects) {
      if (o.apiVersion === 'keda.sh/v1alpha1') {
        validateKeda(t, o, objects);
        continue;
      }
      const Model = MODELS[`${o.apiVersion}/${o.kind}`];
      if (!Model) {
        t.fail(`no schema for ${o.apiVersion} ${o.kind}`);
        continue;
      }
      t.notThrows(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
      if (o.kind !== 'Namespace') t.is(o.metadata.namespace, one(objects, 'Namespace').metadata.name, `${o.kind} is in the overlay's namespace`);
    }
  });

  test(`${overlay}: the Deployment meets the Pod Security "restricted" profile, with a read-only root`, (t) => {
    const objects = rendered.get(overlay)!;
    t.is(one(objects, 'Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const pod = one(objects, 'Deployment').spec.template.spec;
    for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) t.falsy(pod[key], key);
    t.is(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      const sc = c.securityContext ?? {};
      t.true(sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot, `${c.name}: runAsNonRoot`);
      t.not(sc.runAsUser ?? pod.securityContext.runAsUser, 0);
      t.false(sc.allowPrivilegeEscalation, `${c.name}: allowPrivilegeEscalation false`);
      t.falsy(sc.privileged);
      t.deepEqual(sc.capabilities?.drop, ['ALL']);
      t.true((sc.capabilities?.add ?? []).every((cap: string) => cap === 'NET_BIND_SERVICE'));
      t.true(sc.readOnlyRootFilesystem, `${c.name}: read-only root file system`);
      t.true(!sc.seccompProfile || ['RuntimeDefault', 'Localhost'].includes(sc.seccompProfile.type));
    }
    const allowedVolumes = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
    for (const v of pod.volumes ?? []) t.true(Object.keys(v).filter((k) => k !== 'name').every((k) => allowedVolumes.includes(k)), `volume ${v.name}`);
    // the app writes only to DATA_DIR and /tmp: both are emptyDir mounts
    const dataDir = one(objects, 'ConfigMap').data.DATA_DIR;
    const mounts = pod.containers[0].volumeMounts.map((m: any) => [m.mountPath, pod.volumes.find((v: any) => v.name === m.name)?.emptyDir !== undefined]);
    t.deepEqual(mounts.sort(), [[dataDir, true], ['/tmp', true]].sort());
  });

  test(`${overlay}: probes, drain, spread and replicas fit the service`, (t) => {
    const objects = rendered.get(overlay)!;
    const deployment = one(objects, 'Deployment');
    t.false('replicas' in deployment.spec, 'no replicas against the autoscaler');
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0];
    const config = loadConfig(one(objects, 'ConfigMap').data);
    const portOf = (p: string | number) => (typeof p === 'number' ? p : c.ports.find((x: any) => x.name === p)?.containerPort);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      t.true(GET_ROUTES.has(c[probe].httpGet.path), `${probe} path ${c[probe].httpGet.path} is a route`);
      t.is(portOf(c[probe].httpGet.port), config.port, `${probe} port is the one the server listens on`);
    }
    t.is(c.readinessProbe.httpGet.path, '/readyz');
    t.true(c.readinessProbe.timeoutSeconds * 1000 > SINK_CHECK_TIMEOUT_MS, 'readiness waits longer than the sink check');
    const preStop = c.lifecycle.preStop.sleep?.seconds ?? 0;
    t.true(preStop >= 3, 'endpoints are removed before the server stops accepting');
    t.true(pod.terminationGracePeriodSeconds > preStop + config.shutdownGraceSeconds, 'the drain fits in the grace period');
    t.deepEqual(pod.topologySpreadConstraints.map((s: any) => s.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    const service = one(objects, 'Service');
    t.is(portOf(service.spec.ports[0].targetPort), config.port);
    t.deepEqual(service.spec.selector, deployment.spec.template.metadata.labels);
    const sa = one(objects, 'ServiceAccount');
    t.is(pod.serviceAccountName, sa.metadata.name);
    t.is(sa.metadata.annotations?.['iam.gke.io/gcp-service-account'], `buildtrace@${config.projectId}.iam.gserviceaccount.com`, 'the project named once for config and identity agree');
    t.regex(c.image, new RegExp(`^[a-z0-9-]+-docker\\.pkg\\.dev/${config.projectId}/buildtrace/buildtrace[:@]`));
  });

  test(`${overlay}: every environment variable is one the service reads, and the configuration loads`, (t) => {
    const objects = rendered.get(overlay)!;
    const configMap = one(objects, 'ConfigMap');
    const c = one(objects, 'Deployment').spec.template.spec.containers[0];
    t.deepEqual(c.envFrom, [{ configMapRef: { name: configMap.metadata.name } }]);
    const names = [...Object.keys(configMap.data), ...c.env.map((e: any) => e.name)];
    for (const name of names) t.true(CONFIG_VARS.has(name) || RESOURCE_VARS.has(name) || name === 'REPLICA_ID', `${name} is read by src/config.ts or resource.ts`);
    const config = loadConfig({ ...configMap.data, REPLICA_ID: 'pod-1' });
    t.is(config.source, 'pubsub');
    t.is(config.sinks, 'gcp');
  });

  test(`${overlay}: the pods' environment makes the k8s_container metric resource`, (t) => {
    const objects = rendered.get(overlay)!;
    const pod = one(objects, 'Deployment').spec.template.spec;
    const fieldValues: Record<string, string> = { 'metadata.name': 'buildtrace-7d9f-abcde', 'metadata.namespace': one(objects, 'Namespace').metadata.name };
    const env: Record<string, string> = { ...one(objects, 'ConfigMap').data, KUBERNETES_SERVICE_HOST: '10.0.0.1' };
    for (const e of pod.containers[0].env) env[e.name] = e.value ?? fieldValues[e.valueFrom.fieldRef.fieldPath];
    const resource = detectResource({ projectId: env.GOOGLE_CLOUD_PROJECT!, replicaId: 'r' }, env);
    t.deepEqual(resource, {
      type: 'k8s_container',
      labels: {
        project_id: env.GOOGLE_CLOUD_PROJECT,
        location: env.CLUSTER_LOCATION,
        cluster_name: env.CLUSTER_NAME,
        namespace_name: fieldValues['metadata.namespace'],
        pod_name: fieldValues['metadata.name'],
        container_name: pod.containers[0].name,
      },
    });
  });

  test(`${overlay}: one autoscaler, never two, and the NetworkPolicy admits only the balancer to the API`, (t) => {
    const objects = rendered.get(overlay)!;
    const hpa = objects.filter((o) => o.kind === 'HorizontalPodAutoscaler');
    const keda = objects.filter((o) => o.kind === 'ScaledObject');
    t.is(hpa.length + keda.length, 1);
    if (overlay === 'production') t.is(keda.length, 1, 'production scales on the Pub/Sub backlog');
    const policy = one(objects, 'NetworkPolicy');
    const deployment = one(objects, 'Deployment');
    t.deepEqual(policy.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels);
    t.deepEqual(policy.spec.policyTypes, ['Ingress']);
    t.is(policy.spec.ingress.length, 1);
    t.deepEqual(policy.spec.ingress[0].ports, [{ protocol: 'TCP', port: 8080 }]);
    t.deepEqual(policy.spec.ingress[0].from.map((f: any) => f.ipBlock?.cidr).sort(), ['130.211.0.0/22', '35.191.0.0/16'], "only Google's load balancer and health-check ranges");
  });
}

test('a configuration change renames the generated ConfigMap, so the pods roll', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-kustomize-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    path.join(dir, 'kustomization.yaml'),
    [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `resources: [${JSON.stringify(path.relative(dir, path.join(overlaysDir, 'production')))}]`,
      'configMapGenerator:',
      '  - { name: buildtrace-config, behavior: merge, literals: [CONCURRENCY=4] }',
    ].join('\n'),
  );
  const changed = render(dir, ['--load-restrictor', 'LoadRestrictionsNone']);
  const before = one(rendered.get('production')!, 'ConfigMap').metadata.name;
  const after = one(changed, 'ConfigMap').metadata.name;
  t.regex(before, /^buildtrace-config-[a-z0-9]{10}$/);
  t.not(after, before);
  t.is(one(changed, 'Deployment').spec.template.spec.containers[0].envFrom[0].configMapRef.name, after);
});

test('Cloud Run: the same settings, env vars the service reads, probe paths it serves, a drain inside 10 s', (t) => {
  const text = readFileSync(path.join(root, 'deploy/cloud-run.yaml'), 'utf8').replaceAll('${PROJECT_ID}', 'my-project').replaceAll('${REGION}', 'us-west2');
  t.notRegex(text, /\$\{/, 'only PROJECT_ID and REGION are substituted');
  const run = parseYaml(text) as Obj;
  t.is(run.apiVersion, 'serving.knative.dev/v1');
  const template = run.spec.template;
  t.is(template.metadata.annotations['run.googleapis.com/cpu-throttling'], 'false', 'a pull consumer needs CPU between requests');
  t.is(template.spec.serviceAccountName, 'buildtrace@my-project.iam.gserviceaccount.com');
  const c = template.spec.containers[0];
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
  for (const name of Object.keys(env)) t.true(CONFIG_VARS.has(name) || RESOURCE_VARS.has(name), `${name} is read by the service`);
  const config = loadConfig(env);
  t.true(config.shutdownGraceSeconds < 10, 'Cloud Run allows 10 s after SIGTERM');
  t.is(c.ports[0].containerPort, config.port);
  for (const probe of ['startupProbe', 'livenessProbe']) {
    t.true(GET_ROUTES.has(c[probe].httpGet.path));
    t.is(c[probe].httpGet.port, config.port);
  }
  // the same knobs as the GKE base
  const base = Object.fromEntries(
    readFileSync(path.join(root, 'k8s/base/config.env'), 'utf8').trim().split('\n').map((l) => l.split('=') as [string, string]),
  );
  for (const [k, v] of Object.entries(base)) if (k !== 'SHUTDOWN_GRACE_SECONDS') t.is(env[k], v, k);
  t.is(c.volumeMounts[0].mountPath, config.dataDir);
});
