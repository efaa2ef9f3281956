/**
 * Configuration from the environment, validated once at start-up and frozen. Every bad value is
 * reported at once, one line each, naming the variable and the value (design.md, Running).
 */
import { availableParallelism, hostname } from 'node:os';
import { accessSync, constants as fsConstants, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MATCH_FALLBACKS, type MatchFallback } from './domain/match.js';
import { DEFAULT_MAX_DELIVERY_ATTEMPTS } from './domain/source.js';
import { DEAD_LETTER_ATTEMPTS, PUBSUB_ID_PATTERN } from './infra/pubsub.js';
import { BUCKET_NAME_PATTERN } from './infra/storage/names.js';

export const SEED_NAMES = {
  topic: 'drawing-processing-tasks',
  subscription: 'drawing-processing-workers',
  dlqTopic: 'drawing-processing-dlq',
  dataset: 'buildtrace',
} as const;

export { MATCH_FALLBACKS, type MatchFallback };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Filesystems where no directory can be made: a recursive mkdir there never returns (Node 20). */
const PSEUDO_FILESYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, '/proc'],
  [0x62656572, '/sys'],
]);

/**
 * Why a directory can never be used at `p`, or null: it or its nearest existing ancestor must be a
 * writable directory on an ordinary filesystem. Checked here, at start-up, because the failures
 * come late otherwise (a database error) or never (`mkdir -p` under /proc hangs).
 */
function directoryProblem(p: string): string | null {
  let at = path.resolve(p);
  for (;;) {
    try {
      if (!statSync(at).isDirectory()) return 'must be a directory, or a path where one can be created (not a file, nor below one)';
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR') return 'must be a directory, or a path where one can be created (not a file, nor below one)';
      if (code !== 'ENOENT') return `cannot be checked: ${code ?? String(err)}`;
      at = path.dirname(at);
    }
  }
  const pseudo = PSEUDO_FILESYSTEMS.get(statfsSync(at).type);
  if (pseudo) return `must be on an ordinary filesystem: ${at} is on ${pseudo}, where no directory can be created`;
  try {
    accessSync(at, fsConstants.W_OK | fsConstants.X_OK);
  } catch {
    return `must be writable: ${at} is not writable by this process`;
  }
  return null;
}

const directoryPath = z
  .string()
  // abort: a path with a NUL byte is not looked at on disk.
  .refine((p) => !p.includes('\0'), { message: 'must be a path without NUL bytes', abort: true })
  .superRefine((p, ctx) => {
    const problem = directoryProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*\d+\s*$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    // Enough digits overflow to Infinity, which z.number() refuses with a message of its own.
    .pipe(z.number({ error: `must be a whole number from ${min} to ${max}` }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const numberIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/, `must be a number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number({ error: `must be a number from ${min} to ${max}` }).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** Pub/Sub resource ids: 3–255 chars, start with a letter, no `goog` prefix. */
const pubsubName = z
  .string()
  .regex(
    PUBSUB_ID_PATTERN,
    'must be 3 to 255 characters, start with a letter, and use letters, digits or - _ . ~ + %',
  );
const bucketName = z
  .string()
  .regex(BUCKET_NAME_PATTERN, 'must be a valid bucket name (3 to 63 lowercase letters, digits, - _ .)');
const datasetName = z.string().regex(/^[A-Za-z0-9_]{1,1024}$/, 'must be letters, digits and underscores');
const projectName = z
  .string()
  // Domain-scoped ids (`example.com:my-project`) carry a domain name, dots included.
  .regex(/^([a-z0-9][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a valid project id');
const endpoint = z
  .string()
  .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'must be an http(s) URL such as http://127.0.0.1:9050');
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'must be host:port');
const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.string().refine((v): v is T => (values as readonly string[]).includes(v), `must be one of ${values.join(', ')}`);
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const corsOrigins = z
  .string()
  .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^https?:\/\/[^\s/,*]+$/, 'must be a comma-separated list of origins such as https://app.example.com (no *)')));

/**
 * Every variable BuildTrace reads, with its default; unset and empty mean the default. Those left
 * `optional()` default to something made from other variables (see `toConfig`).
 */
export const variablesSchema = z.object({
  /** The embedded store and queue (SQLite) live here. */
  DATA_DIR: directoryPath.default('./data'),
  /** Required when SOURCE=pubsub or SINKS=gcp. */
  GOOGLE_CLOUD_PROJECT: projectName.optional(),
  /** The Pub/Sub emulator; the client library reads it too. */
  PUBSUB_EMULATOR_HOST: hostPort.optional(),
  /** Where tasks come from; default pubsub when PUBSUB_SUBSCRIPTION is set, else local. */
  SOURCE: oneOf(['local', 'pubsub'] as const).optional(),
  /** Where results go; default gcp when a project is set outside the emulator, else local. */
  SINKS: oneOf(['local', 'gcp'] as const).optional(),
  /** HTTP port of the API; 0 takes a free one. */
  PORT: intIn(0, 65535).default(8080),
  /** Address the API listens on. */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** Drawing versions for the local input store; default DATA_DIR/input. */
  INPUT_DIR: directoryPath.optional(),
  /** The task topic. */
  PUBSUB_TOPIC: pubsubName.default(SEED_NAMES.topic),
  /** The subscription the workers pull from. */
  PUBSUB_SUBSCRIPTION: pubsubName.optional(),
  /** Where dead letters are published. */
  PUBSUB_DLQ_TOPIC: pubsubName.default(SEED_NAMES.dlqTopic),
  /** Deliveries held unsettled at once (flow control of both sources). */
  MAX_OUTSTANDING_MESSAGES: intIn(1, 1_000_000).default(1000),
  /** Bytes of Pub/Sub messages held unsettled at once. */
  MAX_OUTSTANDING_BYTES: intIn(1024, 2 ** 40).default(100 * 1024 * 1024),
  /** Upper bound on lease extension; an hour rides out a 30-minute sink outage plus the drain after it. */
  MAX_LEASE_SECONDS: intIn(10, 86_400).default(3600),
  /** A stream silent this long while messages wait is reopened. */
  WATCHDOG_SECONDS: intIn(5, 3600).default(60),
  /** Bucket of the drawing versions; default buildtrace-input-<project>. */
  INPUT_BUCKET: bucketName.optional(),
  /** Bucket of whole results; default buildtrace-output-<project>. */
  OUTPUT_BUCKET: bucketName.optional(),
  /** BigQuery dataset of the results. */
  BIGQUERY_DATASET: datasetName.default(SEED_NAMES.dataset),
  /** Test and private-endpoint overrides; unset means Google's public endpoints. */
  BIGQUERY_API_ENDPOINT: endpoint.optional(),
  /** Cloud Storage endpoint override. */
  STORAGE_API_ENDPOINT: endpoint.optional(),
  /** Cloud Monitoring endpoint override (gRPC host:port). */
  MONITORING_API_ENDPOINT: hostPort.optional(),
  /** How often metrics are written to Cloud Monitoring. */
  MONITORING_INTERVAL_SECONDS: intIn(10, 3600).default(60),
  /** Where the BigQuery dataset lives (set once: a dataset cannot move). */
  BIGQUERY_LOCATION: z.string().regex(/^[A-Za-z]+(-[a-z]+[0-9]+)?$/, 'must be a BigQuery location such as US, EU or us-west2').default('US'),
  /** Region for regional resources `buildtrace setup` creates (the buckets). */
  GOOGLE_CLOUD_REGION: z.string().regex(/^[a-z]+-[a-z]+[0-9]+$/, 'must be a region such as us-west2').optional(),
  /** `buildtrace setup` only: IAM REST endpoint override. */
  IAM_API_ENDPOINT: endpoint.optional(),
  /** `buildtrace setup` only: Resource Manager REST endpoint override. */
  RESOURCE_MANAGER_API_ENDPOINT: endpoint.optional(),
  /** `buildtrace setup` only: Pub/Sub REST endpoint override. */
  PUBSUB_API_ENDPOINT: endpoint.optional(),
  /** Distance under which a matched object counts as unmoved. */
  MOVE_TOLERANCE: numberIn(0, 1e9).default(0.1),
  /** What pairs objects ids leave unmatched (src/domain/match.ts); a task's `"match"` overrides it. */
  MATCH_FALLBACK: oneOf(MATCH_FALLBACKS).default('none'),
  /** How far an object may have moved and still be paired by geometry. */
  MATCH_RADIUS: numberIn(0, 1e9).default(10),
  /** Pairs diffed at once; default the available CPUs. */
  CONCURRENCY: intIn(1, 1024).default(() => Math.max(1, availableParallelism())),
  /** Attempts before a transiently failing task is dead-lettered (local queue; Pub/Sub reads its policy). */
  MAX_DELIVERY_ATTEMPTS: intIn(1, DEAD_LETTER_ATTEMPTS.max).default(DEFAULT_MAX_DELIVERY_ATTEMPTS),
  /** Local source: a leased task not settled by then is redelivered. */
  LEASE_SECONDS: intIn(1, 86_400).default(60),
  /** Consecutive failed writes that open the sink breaker (streams/retry/sink-breaker.ts). */
  SINK_BREAKER_FAILURES: intIn(1, 1000).default(3),
  /** First wait before the breaker probes the sink again; later waits double. */
  SINK_PROBE_INITIAL_MS: intIn(1, 600_000).default(500),
  /** Longest wait between probes. */
  SINK_PROBE_MAX_MS: intIn(1, 3_600_000).default(30_000),
  /** Results written to the sinks in one batch, at most. */
  BATCH_SIZE: intIn(1, 10_000).default(500),
  /** How long a batch waits to fill. */
  BATCH_MAX_WAIT_MS: intIn(1, 60_000).default(20),
  /** How often hourly rollups are written. */
  ROLLUP_FLUSH_SECONDS: intIn(1, 3600).default(30),
  /** Hours of windows kept in memory. */
  RETENTION_HOURS: intIn(1, 24 * 31).default(24),
  /** Largest request body the API accepts. */
  MAX_BODY_BYTES: intIn(1024, 1024 ** 3).default(10 * 1024 * 1024),
  /** Pairs one `POST /process` may carry. */
  MAX_PAIRS_PER_REQUEST: intIn(1, 1_000_000).default(1000),
  /** `POST /process` with `storage_path`: pairs one folder may hold. */
  MAX_PAIRS_PER_PREFIX: intIn(1, 10_000_000).default(100_000),
  /** Largest drawing version read. */
  MAX_VERSION_BYTES: intIn(1024, 1024 ** 3).default(64 * 1024 * 1024),
  /** Pairs with more objects than this (A + B) are diffed on a worker thread. */
  WORKER_THRESHOLD_OBJECTS: intIn(0, 100_000_000).default(20_000),
  /** An upload later than this after its drawing is a delayed-upload anomaly. */
  DELAYED_UPLOAD_SECONDS: intIn(1, 7 * 86_400).default(3600),
  /** An hour this many times its baseline is a spike. */
  SPIKE_FACTOR: numberIn(1, 1e6).default(10),
  /** Anomalies this recent are served as fresh. */
  ANOMALY_FRESH_MINUTES: intIn(1, 7 * 24 * 60).default(60),
  /** Browser origins allowed by CORS; none by default. */
  CORS_ORIGINS: corsOrigins.default(() => []),
  /** `GET /changes`: items of each kind in one answer; the rest are paged. */
  CHANGES_PAGE_ITEMS: intIn(1, 100_000).default(1000),
  /** A request not wholly received after this long is answered 408 (slow or stalled clients). */
  REQUEST_TIMEOUT_SECONDS: intIn(1, 3600).default(30),
  /** Open HTTP connections at once; more are answered 503. */
  MAX_CONNECTIONS: intIn(1, 1_000_000).default(1024),
  /** Requests served on one kept-alive connection before it is closed. */
  MAX_REQUESTS_PER_CONNECTION: intIn(1, 1_000_000).default(1000),
  /** Time given to in-flight work at shutdown. */
  SHUTDOWN_GRACE_SECONDS: intIn(1, 3600).default(25),
  /** This process among replicas; default `local` with SINKS=local, else unique per process. */
  REPLICA_ID: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1 to 128 letters, digits, . _ -').optional(),
  /** Log verbosity. */
  LOG_LEVEL: oneOf(logLevels).default('info'),
  // Alert thresholds `setup` writes into the policies of deploy/monitoring/alerts.
  /** p99 latency above which the latency alert fires. */
  ALERT_LATENCY_P99_MS: intIn(1, 86_400_000).default(10_000),
  /** Age of the oldest waiting task above which the backlog alert fires. */
  ALERT_BACKLOG_AGE_SECONDS: intIn(60, 7 * 86_400).default(900),
  /** No progress for this long fires the stall alert. */
  ALERT_STALL_MINUTES: intIn(5, 1440).default(30),
  /** A breaker open this long fires its alert. */
  ALERT_BREAKER_OPEN_MINUTES: intIn(1, 1440).default(5),
  /** spike_detected anomalies per 5 minutes above which the spike alert fires. */
  ALERT_SPIKE_COUNT: intIn(0, 1_000_000).default(0),
  /** Where the alert policies' runbook links point. */
  RUNBOOK_BASE_URL: z
    .string()
    .regex(/^https?:\/\/\S+[^/]$/, 'must be an http(s) URL without a trailing slash')
    .default('https://github.com/buildtrace/buildtrace/blob/main/docs/runbooks'),
});

export type Variables = z.output<typeof variablesSchema>;
type VariableName = keyof Variables;

/**
 * The configuration the service reads, grouped, with the defaults made from other variables
 * filled in, and frozen all the way down: a nested object left writable is one a component
 * could change for all.
 */
function toConfig(v: Variables) {
  const projectId = v.GOOGLE_CLOUD_PROJECT ?? null;
  const emulatorHost = v.PUBSUB_EMULATOR_HOST ?? null;
  const sinks = v.SINKS ?? (projectId && !emulatorHost ? 'gcp' : 'local');
  const dataDir = path.resolve(v.DATA_DIR);
  return Object.freeze({
    port: v.PORT,
    host: v.HOST,
    dataDir,
    inputDir: path.resolve(v.INPUT_DIR ?? path.join(dataDir, 'input')),
    source: v.SOURCE ?? (v.PUBSUB_SUBSCRIPTION !== undefined ? 'pubsub' : 'local'),
    sinks,
    projectId,
    pubsub: Object.freeze({
      topic: v.PUBSUB_TOPIC,
      subscription: v.PUBSUB_SUBSCRIPTION ?? SEED_NAMES.subscription,
      dlqTopic: v.PUBSUB_DLQ_TOPIC,
      emulatorHost,
      maxOutstandingMessages: v.MAX_OUTSTANDING_MESSAGES,
      maxOutstandingBytes: v.MAX_OUTSTANDING_BYTES,
      maxLeaseSeconds: v.MAX_LEASE_SECONDS,
      watchdogSeconds: v.WATCHDOG_SECONDS,
    }),
    gcp: Object.freeze({
      inputBucket: v.INPUT_BUCKET ?? `buildtrace-input-${projectId ?? 'local'}`,
      outputBucket: v.OUTPUT_BUCKET ?? `buildtrace-output-${projectId ?? 'local'}`,
      dataset: v.BIGQUERY_DATASET,
      bigqueryEndpoint: v.BIGQUERY_API_ENDPOINT ?? null,
      storageEndpoint: v.STORAGE_API_ENDPOINT ?? null,
      monitoringEndpoint: v.MONITORING_API_ENDPOINT ?? null,
      monitoringIntervalSeconds: v.MONITORING_INTERVAL_SECONDS,
      bigqueryLocation: v.BIGQUERY_LOCATION,
      region: v.GOOGLE_CLOUD_REGION ?? null,
      iamEndpoint: v.IAM_API_ENDPOINT ?? null,
      resourceManagerEndpoint: v.RESOURCE_MANAGER_API_ENDPOINT ?? null,
      pubsubEndpoint: v.PUBSUB_API_ENDPOINT ?? null,
    }),
    moveTolerance: v.MOVE_TOLERANCE,
    matchFallback: v.MATCH_FALLBACK,
    matchRadius: v.MATCH_RADIUS,
    concurrency: v.CONCURRENCY,
    maxDeliveryAttempts: v.MAX_DELIVERY_ATTEMPTS,
    leaseSeconds: v.LEASE_SECONDS,
    // SINK_RETRY_SECONDS is no longer read: an outage is retried until it ends, not for a fixed time.
    sinkBreaker: Object.freeze({
      failuresToOpen: v.SINK_BREAKER_FAILURES,
      probeInitialMs: v.SINK_PROBE_INITIAL_MS,
      probeMaxMs: v.SINK_PROBE_MAX_MS,
    }),
    batchSize: v.BATCH_SIZE,
    batchMaxWaitMs: v.BATCH_MAX_WAIT_MS,
    rollupFlushSeconds: v.ROLLUP_FLUSH_SECONDS,
    retentionHours: v.RETENTION_HOURS,
    maxBodyBytes: v.MAX_BODY_BYTES,
    maxPairsPerRequest: v.MAX_PAIRS_PER_REQUEST,
    maxPairsPerPrefix: v.MAX_PAIRS_PER_PREFIX,
    maxVersionBytes: v.MAX_VERSION_BYTES,
    workerThreshold: v.WORKER_THRESHOLD_OBJECTS,
    delayedUploadSeconds: v.DELAYED_UPLOAD_SECONDS,
    spikeFactor: v.SPIKE_FACTOR,
    anomalyFreshMinutes: v.ANOMALY_FRESH_MINUTES,
    corsOrigins: Object.freeze(v.CORS_ORIGINS),
    changesPageItems: v.CHANGES_PAGE_ITEMS,
    requestTimeoutSeconds: v.REQUEST_TIMEOUT_SECONDS,
    maxConnections: v.MAX_CONNECTIONS,
    maxRequestsPerConnection: v.MAX_REQUESTS_PER_CONNECTION,
    shutdownGraceSeconds: v.SHUTDOWN_GRACE_SECONDS,
    replicaId: v.REPLICA_ID ?? defaultReplicaId(sinks),
    logLevel: v.LOG_LEVEL,
    alerts: Object.freeze({
      latencyP99Ms: v.ALERT_LATENCY_P99_MS,
      backlogAgeSeconds: v.ALERT_BACKLOG_AGE_SECONDS,
      stallMinutes: v.ALERT_STALL_MINUTES,
      breakerOpenMinutes: v.ALERT_BREAKER_OPEN_MINUTES,
      spikeCount: v.ALERT_SPIKE_COUNT,
      runbookBaseUrl: v.RUNBOOK_BASE_URL,
    }),
  });
}

/** The whole configuration as one schema: the variables, then the grouped, frozen Config. */
export const configSchema = variablesSchema.transform(toConfig);
export type Config = z.output<typeof configSchema>;

/**
 * Reads and validates the configuration. Each variable is parsed on its own so that every bad one
 * is reported, one line each; a bad one counts as unset for the rest of the checks.
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError listing every bad variable
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  // The missing project is reported where it always was: after SOURCE and SINKS, the values it follows from.
  let missingProjectAt = 0;
  for (const [name, schema] of Object.entries(variablesSchema.shape) as Array<[VariableName, z.ZodType]>) {
    const raw = env[name];
    const given = raw === '' ? undefined : raw;
    const parsed = schema.safeParse(given);
    if (parsed.success) {
      values[name] = parsed.data;
    } else {
      problems.push(`${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}, got ${JSON.stringify(raw)}`);
      values[name] = schema.parse(undefined);
    }
    if (name === 'SINKS') missingProjectAt = problems.length;
  }
  const variables = values as Variables;
  // A subscription that was given but is bad still asks for Pub/Sub (it is reported on its own).
  if (variables.SOURCE === undefined && env.PUBSUB_SUBSCRIPTION) variables.SOURCE = 'pubsub';
  const config = toConfig(variables);

  // A project that was given but is bad is already reported; one message per variable.
  if ((config.source === 'pubsub' || config.sinks === 'gcp') && !config.projectId && !env.GOOGLE_CLOUD_PROJECT) {
    problems.splice(missingProjectAt, 0, 'GOOGLE_CLOUD_PROJECT is required when SOURCE=pubsub or SINKS=gcp');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * With the embedded store a stable id lets a restarted process rebuild its own windows from its
 * rows (several processes sharing one DATA_DIR each set REPLICA_ID); in the cloud every process
 * is a replica of its own.
 */
function defaultReplicaId(sinks: string): string {
  if (sinks === 'local') return 'local';
  const host = (process.env.K_REVISION ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80);
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
