import test from 'ava';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import { metricDescriptors } from '../../src/infra/monitoring/encode.js';
import { telemetryDescriptors } from '../../streams/telemetry/monitoring.js';
import { SINK_LABELS, TELEMETRY_METRICS, monitoringType } from '../../streams/telemetry/metrics.js';
import { loadMonitoringFiles, monitoringDir, monitoringVariables } from '../../src/setup/monitoring-files.js';
import { parseFilter } from '../support/monitoring-filter.js';

const vars = monitoringVariables(loadConfig({}));
const files = loadMonitoringFiles(vars);
type Json = Record<string, any>;
const policies = [...files.policies].map(([name, m]) => [name, m.toJSON() as Json] as const);
const dashboard = files.dashboard.toJSON() as Json;

/** What BuildTrace writes (the code's own tables), and the Pub/Sub metrics Google documents. */
const WRITTEN = new Map<string, { kind: string; valueType: string; labels: string[] }>(
  [...metricDescriptors(), ...telemetryDescriptors()].map((d) => [d.type!, { kind: String(d.metricKind), valueType: String(d.valueType), labels: (d.labels ?? []).map((l) => l.key!) }]),
);
/** Labels whose values the metric table lists (the `sink` label: one value per registered sink). */
const LABEL_VALUES = new Map(
  Object.values(TELEMETRY_METRICS).flatMap((m) => m.labels.flatMap((l) => ('values' in l ? [[`${monitoringType(m)} ${l.key}`, l.values as readonly string[]] as const] : []))),
);
const PUBSUB: Record<string, { resource: string; kind: string; valueType: string; resourceLabels: string[] }> = {
  'pubsub.googleapis.com/subscription/num_undelivered_messages': { resource: 'pubsub_subscription', kind: 'GAUGE', valueType: 'INT64', resourceLabels: ['project_id', 'subscription_id'] },
  'pubsub.googleapis.com/subscription/oldest_unacked_message_age': { resource: 'pubsub_subscription', kind: 'GAUGE', valueType: 'INT64', resourceLabels: ['project_id', 'subscription_id'] },
  'pubsub.googleapis.com/topic/send_message_operation_count': { resource: 'pubsub_topic', kind: 'DELTA', valueType: 'INT64', resourceLabels: ['project_id', 'topic_id'] },
};
const OUR_RESOURCES: Record<string, string[]> = {
  generic_task: ['project_id', 'location', 'namespace', 'job', 'task_id'],
  k8s_container: ['project_id', 'location', 'cluster_name', 'namespace_name', 'pod_name', 'container_name'],
};

/** Every (filter, aggregation) pair in a policy or the dashboard. */
function queries(): { where: string; filter: string; aggregation: Json }[] {
  const out: { where: string; filter: string; aggregation: Json }[] = [];
  for (const [name, p] of policies) {
    for (const c of p.conditions) {
      const spec = c.conditionThreshold ?? c.conditionAbsent;
      out.push({ where: `alerts/${name}.json: ${c.displayName}`, filter: spec.filter, aggregation: spec.aggregations[0] });
    }
  }
  for (const tile of dashboard.mosaicLayout.tiles) {
    for (const ds of tile.widget.xyChart.dataSets) {
      const f = ds.timeSeriesQuery.timeSeriesFilter;
      out.push({ where: `dashboard.json: ${tile.widget.title}`, filter: f.filter, aggregation: f.aggregation });
    }
  }
  return out;
}

test('the dashboard and every policy parse into the client libraries’ protobuf types', (t) => {
  t.is(dashboard.displayName, 'BuildTrace');
  t.true(dashboard.mosaicLayout.tiles.length >= 12);
  t.deepEqual(
    policies.map(([n]) => n),
    ['backlog-age', 'breaker-open', 'change-spike', 'dead-letters', 'latency-p99', 'readiness', 'stalled'],
  );
});

test('every metric, label and resource named is one BuildTrace writes or a documented Pub/Sub metric, with a fitting aligner', (t) => {
  const all = queries();
  t.true(all.length > 25);
  for (const { where, filter, aggregation } of all) {
    const clauses = parseFilter(filter);
    const type = clauses.find((c) => c.subject === 'metric' && !c.isLabel)!.value;
    const ours = WRITTEN.get(type);
    const pubsub = PUBSUB[type];
    t.true(Boolean(ours || pubsub), `${where}: ${type} is neither written by BuildTrace nor a documented Pub/Sub metric`);
    const kind = ours?.kind ?? pubsub!.kind;
    const valueType = ours?.valueType ?? pubsub!.valueType;
    for (const c of clauses.filter((c) => c.isLabel)) {
      const values = LABEL_VALUES.get(`${type} ${c.key}`);
      if (c.subject === 'metric' && values) t.true(values.includes(c.value), `${where}: ${c.key} = "${c.value}" is not a value BuildTrace writes (${values.join(', ')})`);
      if (c.subject === 'metric') t.true(ours?.labels.includes(c.key) ?? false, `${where}: metric label ${c.key} is not written on ${type}`);
      else t.true((pubsub?.resourceLabels ?? OUR_RESOURCES.generic_task!).includes(c.key), `${where}: resource label ${c.key}`);
    }
    const resource = clauses.find((c) => c.subject === 'resource' && !c.isLabel)?.value;
    if (resource) t.true(pubsub ? resource === pubsub.resource : resource in OUR_RESOURCES, `${where}: resource ${resource}`);
    for (const field of aggregation.groupByFields ?? []) {
      const key = /^metric\.label\.([a-z_]+)$/.exec(field)?.[1];
      t.true(key !== undefined && (ours?.labels.includes(key!) ?? false), `${where}: group by ${field}`);
    }
    const aligner: string = aggregation.perSeriesAligner;
    if (aligner === 'ALIGN_RATE' || aligner === 'ALIGN_DELTA') t.not(kind, 'GAUGE', `${where}: ${aligner} needs a cumulative or delta metric`);
    if (/PERCENTILE/.test(aggregation.crossSeriesReducer ?? '')) t.is(valueType, 'DISTRIBUTION', `${where}: percentiles need a distribution`);
    else t.not(valueType, 'DISTRIBUTION', `${where}: a distribution needs a percentile reducer`);
  }
});

test('the sink label names each registered sink: BigQuery, Cloud Storage, Cloud Monitoring and the embedded store', (t) => {
  t.deepEqual([...SINK_LABELS], ['local', 'bigquery', 'cloud_storage', 'cloud_monitoring']);
  const bySink = [...LABEL_VALUES].filter(([k]) => k.endsWith(' sink')).map(([k]) => k.split(' ')[0]);
  t.deepEqual(bySink, ['sink_write_latency', 'sink_write_failures', 'breaker_state'].map((n) => `custom.googleapis.com/buildtrace/${n}`));
  const sinkQueries = queries().filter((q) => /metric\.label\.sink/.test(JSON.stringify(q)));
  t.true(sinkQueries.length >= 4, 'the dashboard and the breaker policy split by sink');
  t.true(sinkQueries.every((q) => bySink.includes(parseFilter(q.filter)[0]!.value)));
});

test('every policy has documentation that says what to do first and links a runbook that exists', (t) => {
  const runbooks = readdirSync('docs/runbooks');
  for (const [name, p] of policies) {
    const doc: string = p.documentation.content;
    t.is(p.documentation.mimeType, 'text/markdown');
    t.regex(doc, /First:/, name);
    t.true(doc.includes(`${vars.RUNBOOK_BASE_URL}/${name}.md`), `${name} links its runbook`);
    t.true(runbooks.includes(`${name}.md`), `docs/runbooks/${name}.md exists`);
    const runbook = readFileSync(`docs/runbooks/${name}.md`, 'utf8');
    t.true(runbook.includes(`alerts/${name}.json`), `the runbook names its policy file`);
    t.is(p.userLabels.service, 'buildtrace');
    t.true(p.conditions.length >= 1);
    t.notRegex(JSON.stringify(p), /\$\{/, 'every variable filled');
  }
});

test('the alerts the issue asks for watch what it says, with thresholds from configuration', (t) => {
  const custom = monitoringVariables(loadConfig({ ALERT_LATENCY_P99_MS: '1234', ALERT_STALL_MINUTES: '45', ALERT_BREAKER_OPEN_MINUTES: '7', ALERT_BACKLOG_AGE_SECONDS: '300' }));
  const p = new Map([...loadMonitoringFiles(custom).policies].map(([n, m]) => [n, m.toJSON() as Json]));
  const cond = (n: string, i = 0) => p.get(n)!.conditions[i];
  t.is(cond('latency-p99').conditionThreshold.thresholdValue, 1234);
  t.is(cond('latency-p99').conditionThreshold.duration.seconds, '600');
  t.is(cond('stalled').conditionThreshold.duration.seconds, '2700');
  t.is(p.get('stalled')!.combiner, 'AND');
  t.is(cond('breaker-open').conditionThreshold.duration.seconds, '420');
  t.is(cond('backlog-age').conditionThreshold.thresholdValue, 300);
  t.truthy(cond('readiness', 1).conditionAbsent, 'readiness also fires when no replica reports at all');
  const dash = JSON.stringify(loadMonitoringFiles(custom).dashboard.toJSON());
  t.true(dash.includes('"value":1234'), 'the dashboard draws the latency threshold line');
});

test('the filter parser refuses what it does not know', (t) => {
  t.throws(() => parseFilter('metric.type = "a" OR metric.type = "b"'), { message: /expected AND/ });
  t.throws(() => parseFilter('resource.type = "generic_task"'), { message: /exactly one metric.type/ });
  t.throws(() => parseFilter('metric.typo = "a"'), { message: /cannot parse/ });
  t.deepEqual(parseFilter('metric.type = "x" AND metric.label.kind != "added"')[1], { subject: 'metric', key: 'kind', isLabel: true, op: '!=', value: 'added' });
});

test('a misspelt field, a value of the wrong type or an unknown variable is refused, naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bt-monitoring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'alerts'));
  const source = monitoringDir();
  const dash = readFileSync(join(source, 'dashboard.json'), 'utf8');
  const policy = JSON.parse(readFileSync(join(source, 'alerts', 'latency-p99.json'), 'utf8'));
  writeFileSync(join(dir, 'dashboard.json'), dash);

  writeFileSync(join(dir, 'alerts', 'latency-p99.json'), JSON.stringify({ ...policy, documentaton: policy.documentation }));
  t.throws(() => loadMonitoringFiles(vars, dir), { message: /alerts\/latency-p99.json.documentaton: unknown field of google.monitoring.v3.AlertPolicy/ });

  const nested = structuredClone(policy);
  nested.conditions[0].conditionThreshold.treshold = 3;
  writeFileSync(join(dir, 'alerts', 'latency-p99.json'), JSON.stringify(nested));
  t.throws(() => loadMonitoringFiles(vars, dir), { message: /conditions\[0\]\.conditionThreshold\.treshold: unknown field/ });

  writeFileSync(join(dir, 'alerts', 'latency-p99.json'), JSON.stringify({ ...policy, combiner: 'SOMETIMES' }));
  t.throws(() => loadMonitoringFiles(vars, dir), { message: /alerts\/latency-p99.json.combiner: "SOMETIMES" is not a value of google.monitoring.v3.AlertPolicy.ConditionCombinerType/ });

  writeFileSync(join(dir, 'alerts', 'latency-p99.json'), JSON.stringify({ ...policy, displayName: '${NOT_A_VARIABLE}' }));
  t.throws(() => loadMonitoringFiles(vars, dir), { message: /alerts\/latency-p99.json: unknown variable \$\{NOT_A_VARIABLE\}/ });

  writeFileSync(join(dir, 'alerts', 'latency-p99.json'), JSON.stringify(policy));
  t.is(loadMonitoringFiles(vars, dir).policies.size, 1);
  t.true(existsSync(join(dir, 'alerts', 'latency-p99.json')));
});
