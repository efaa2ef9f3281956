/**
 * The dashboard and alert policy files of `deploy/monitoring/`, read as the Monitoring APIs read
 * them: proto3 JSON checked against the client libraries' own protobuf types (an unknown or
 * misspelt field is an error here, where the API would silently drop it), with their `${NAME}`
 * variables filled in from configuration.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { protobuf } from 'google-gax';
import { fromProto3JSON, toProto3JSON, type JSONValue } from 'proto3-json-serializer';
import type { Config } from '../config.js';

const require = createRequire(import.meta.url);

/** `deploy/monitoring/` of this checkout or package (the module sits in src/setup or dist/src/setup). */
export function monitoringDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = resolve(dir, '..')) {
    try {
      readdirSync(join(dir, 'deploy', 'monitoring'));
      return join(dir, 'deploy', 'monitoring');
    } catch {
      // not here; one level up
    }
  }
  throw new Error('deploy/monitoring/ not found beside the BuildTrace sources');
}

const monitoringRoot = protobuf.Root.fromJSON(require('@google-cloud/monitoring/build/protos/protos.json'));
const dashboardsRoot = protobuf.Root.fromJSON(require('@google-cloud/monitoring-dashboards/build/protos/protos.json'));

export const ALERT_POLICY_TYPE = monitoringRoot.lookupType('google.monitoring.v3.AlertPolicy');
export const DASHBOARD_TYPE = dashboardsRoot.lookupType('google.monitoring.dashboard.v1.Dashboard');

/** Types written as a JSON string or scalar in proto3 JSON, not as an object of fields. */
const WELL_KNOWN = new Set([
  '.google.protobuf.Duration', '.google.protobuf.Timestamp', '.google.protobuf.FieldMask', '.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue', '.google.protobuf.Any',
  ...['Bool', 'Int32', 'Int64', 'UInt32', 'UInt64', 'Float', 'Double', 'String', 'Bytes'].map((w) => `.google.protobuf.${w}Value`),
]);

/** Every field name in `json` is one of `type`'s (proto or JSON name), all the way down. */
function checkFields(type: protobuf.Type, json: unknown, path: string): void {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${path}: expected an object for ${type.fullName}`);
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.name === key || (f as protobuf.Field & { jsonName?: string }).jsonName === key);
    if (!field) throw new Error(`${path}.${key}: unknown field of ${type.fullName.slice(1)}`);
    field.resolve();
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Enum) {
      for (const v of field.repeated ? (value as unknown[]) : [value]) {
        if (typeof v === 'string' ? !(v in sub.values) : !Object.values(sub.values).includes(v as number)) {
          throw new Error(`${path}.${key}: ${JSON.stringify(v)} is not a value of ${sub.fullName.slice(1)}`);
        }
      }
      continue;
    }
    if (!(sub instanceof protobuf.Type) || WELL_KNOWN.has(sub.fullName) || value === null) continue;
    if (field.map) for (const [k, v] of Object.entries(value as object)) checkFields(sub, v, `${path}.${key}[${k}]`);
    else if (field.repeated) (value as unknown[]).forEach((v, i) => checkFields(sub, v, `${path}.${key}[${i}]`));
    else checkFields(sub, value, `${path}.${key}`);
  }
}

/**
 * Parses proto3 JSON into a message of `type`, refusing unknown fields and values the type cannot
 * hold.
 *
 * @example
 * const policy = parseProtoJson(ALERT_POLICY_TYPE, JSON.parse(text), 'latency-p99.json');
 */
export function parseProtoJson(type: protobuf.Type, json: unknown, where: string): protobuf.Message {
  checkFields(type, json, where);
  const message = fromProto3JSON(type, json as JSONValue);
  if (!message) throw new Error(`${where}: not a ${type.fullName.slice(1)}`);
  const problem = type.verify(message);
  if (problem) throw new Error(`${where}: ${problem}`);
  return message as protobuf.Message;
}

/**
 * Canonical proto3 JSON of a message: sorted keys, and proto3 defaults ("", 0, false, *_UNSPECIFIED,
 * empty lists and maps) left out, since a field at its default and an absent one are the same to
 * the API (a client decodes answers with defaults filled in, a file leaves them out).
 */
export function canonicalJson(message: protobuf.Message, drop: readonly string[] = []): string {
  const isDefault = (v: unknown) =>
    v === '' || v === 0 || v === false || (typeof v === 'string' && v.endsWith('_UNSPECIFIED')) ||
    (Array.isArray(v) && v.length === 0) || (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0);
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v)
          .filter(([k]) => !drop.includes(k))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, x]) => [k, sort(x)] as const)
          .filter(([, x]) => !isDefault(x)),
      );
    }
    return v;
  };
  return JSON.stringify(sort(toProto3JSON(message)));
}

export type TemplateVariables = Readonly<Record<string, string | number>>;

/**
 * The variables the files use, from configuration (thresholds, Pub/Sub names, runbook base URL).
 *
 * @example
 * monitoringVariables(loadConfig({})).ALERT_LATENCY_P99_MS // 10000
 */
export function monitoringVariables(config: Config): TemplateVariables {
  const a = config.alerts;
  return {
    ALERT_LATENCY_P99_MS: a.latencyP99Ms,
    ALERT_BACKLOG_AGE_SECONDS: a.backlogAgeSeconds,
    ALERT_STALL_MINUTES: a.stallMinutes,
    ALERT_STALL_SECONDS: a.stallMinutes * 60,
    ALERT_BREAKER_OPEN_MINUTES: a.breakerOpenMinutes,
    ALERT_BREAKER_OPEN_SECONDS: a.breakerOpenMinutes * 60,
    ALERT_SPIKE_COUNT: a.spikeCount,
    RUNBOOK_BASE_URL: a.runbookBaseUrl,
    PUBSUB_SUBSCRIPTION: config.pubsub.subscription,
    PUBSUB_DLQ_TOPIC: config.pubsub.dlqTopic,
    PUBSUB_DLQ_SUBSCRIPTION: `${config.pubsub.dlqTopic}-sub`,
  };
}

const WHOLE = /^\$\{([A-Z0-9_]+)\}$/;
const INSIDE = /\$\{([A-Z0-9_]+)\}/g;

/** Fills `${NAME}`: a string that is only a variable becomes its value (a number stays a number). */
export function fillVariables(json: unknown, vars: TemplateVariables, where: string): unknown {
  const value = (name: string) => {
    if (!(name in vars)) throw new Error(`${where}: unknown variable \${${name}}`);
    return vars[name]!;
  };
  if (typeof json === 'string') {
    const whole = WHOLE.exec(json);
    return whole ? value(whole[1]!) : json.replace(INSIDE, (_, name: string) => String(value(name)));
  }
  if (Array.isArray(json)) return json.map((v) => fillVariables(v, vars, where));
  if (json && typeof json === 'object') return Object.fromEntries(Object.entries(json).map(([k, v]) => [k, fillVariables(v, vars, where)]));
  return json;
}

export interface MonitoringFiles {
  readonly dashboard: protobuf.Message;
  /** By file name without `.json`, which is also the policy's `alert` user label. */
  readonly policies: ReadonlyMap<string, protobuf.Message>;
}

/** Reads, fills and parses the dashboard and every policy; the first bad file throws, naming it. */
export function loadMonitoringFiles(vars: TemplateVariables, dir: string = monitoringDir()): MonitoringFiles {
  const read = (file: string) => fillVariables(JSON.parse(readFileSync(join(dir, file), 'utf8')), vars, file);
  const dashboard = parseProtoJson(DASHBOARD_TYPE, read('dashboard.json'), 'dashboard.json');
  const policies = new Map<string, protobuf.Message>();
  for (const file of readdirSync(join(dir, 'alerts')).filter((f) => f.endsWith('.json')).sort()) {
    const policy = parseProtoJson(ALERT_POLICY_TYPE, read(join('alerts', file)), `alerts/${file}`);
    const label = (policy as unknown as { userLabels?: Record<string, string> }).userLabels?.alert;
    if (label !== file.slice(0, -5)) throw new Error(`alerts/${file}: userLabels.alert must be ${file.slice(0, -5)}, got ${label}`);
    policies.set(file.slice(0, -5), policy);
  }
  return { dashboard, policies };
}
