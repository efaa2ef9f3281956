/**
 * Configuration from the environment, validated once at start-up and frozen. Every bad value is
 * reported at once, one line each, naming the variable and the value (design.md, Running).
 */
import { hostname } from 'node:os';
import { availableParallelism } from 'node:os';
import { accessSync, constants as fsConstants, statfsSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { MATCH_FALLBACKS, type MatchFallback } from './domain/match.js';
import { DEFAULT_MAX_DELIVERY_ATTEMPTS } from './domain/source.js';
import { PUBSUB_ID_PATTERN } from './infra/pubsub.js';

export const SEED_NAMES = {
  topic: 'drawing-processing-tasks',
  subscription: 'drawing-processing-workers',
  dlqTopic: 'drawing-processing-dlq',
  dataset: 'buildtrace',
} as const;

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly dataDir: string;
  readonly inputDir: string;
  readonly source: 'local' | 'pubsub';
  readonly sinks: 'local' | 'gcp';
  readonly projectId: string | null;
  readonly pubsub: {
    readonly topic: string;
    readonly subscription: string;
    readonly dlqTopic: string;
    readonly emulatorHost: string | null;
    readonly maxOutstandingMessages: number;
    readonly maxOutstandingBytes: number;
    /** Upper bound on lease extension: covers the slowest pair. */
    readonly maxLeaseSeconds: number;
    /** A stream silent this long while messages wait is reopened. */
    readonly watchdogSeconds: number;
  };
  readonly gcp: {
    readonly inputBucket: string;
    readonly outputBucket: string;
    readonly dataset: string;
    /** Test and private-endpoint overrides; null means Google's public endpoints. */
    readonly bigqueryEndpoint: string | null;
    readonly storageEndpoint: string | null;
    readonly monitoringEndpoint: string | null;
    readonly monitoringIntervalSeconds: number;
    /** Where the BigQuery dataset lives (set once: a dataset cannot move). */
    readonly bigqueryLocation: string;
    /** Region for regional resources `buildtrace setup` creates (the buckets). */
    readonly region: string | null;
    /** `buildtrace setup` only: IAM, Resource Manager and Pub/Sub REST endpoints (private endpoints, local fakes). */
    readonly iamEndpoint: string | null;
    readonly resourceManagerEndpoint: string | null;
    readonly pubsubEndpoint: string | null;
  };
  readonly moveTolerance: number;
  /** MATCH_FALLBACK: what pairs objects ids leave unmatched (src/domain/match.ts); a task's `"match"` overrides it. */
  readonly matchFallback: MatchFallback;
  /** MATCH_RADIUS: how far an object may have moved and still be paired by geometry. */
  readonly matchRadius: number;
  readonly concurrency: number;
  /** Attempts before a transiently failing task is dead-lettered (local queue; Pub/Sub reads its policy). */
  readonly maxDeliveryAttempts: number;
  /** Local source: a leased task not settled by then is redelivered. */
  readonly leaseSeconds: number;
  /**
   * The sink breaker (streams/retry/sink-breaker.ts): consecutive failed writes that open it, and
   * the backoff of the retries that probe the sink while it is open. Replaces SINK_RETRY_SECONDS,
   * which is no longer read: an outage is retried until it ends, not for a fixed time.
   */
  readonly sinkBreaker: { readonly failuresToOpen: number; readonly probeInitialMs: number; readonly probeMaxMs: number };
  readonly batchSize: number;
  readonly batchMaxWaitMs: number;
  readonly rollupFlushSeconds: number;
  readonly retentionHours: number;
  readonly maxBodyBytes: number;
  readonly maxPairsPerRequest: number;
  /** `POST /process` with `storage_path`: pairs one folder may hold. */
  readonly maxPairsPerPrefix: number;
  readonly maxVersionBytes: number;
  /** Pairs with more objects than this (A + B) are diffed on a worker thread. */
  readonly workerThreshold: number;
  readonly delayedUploadSeconds: number;
  readonly spikeFactor: number;
  readonly anomalyFreshMinutes: number;
  readonly corsOrigins: readonly string[];
  /** `GET /changes`: items of each kind in one answer; the rest are paged. */
  readonly changesPageItems: number;
  /** A request not wholly received after this long is answered 408 (slow or stalled clients). */
  readonly requestTimeoutSeconds: number;
  /** Open HTTP connections at once; more are answered 503. */
  readonly maxConnections: number;
  /** Requests served on one kept-alive connection before it is closed. */
  readonly maxRequestsPerConnection: number;
  readonly shutdownGraceSeconds: number;
  readonly replicaId: string;
  readonly logLevel: string;
  /** Alert thresholds `setup` writes into the policies of deploy/monitoring/alerts. */
  readonly alerts: {
    readonly latencyP99Ms: number;
    readonly backlogAgeSeconds: number;
    readonly stallMinutes: number;
    readonly breakerOpenMinutes: number;
    /** spike_detected anomalies per 5 minutes above which the spike alert fires. */
    readonly spikeCount: number;
    readonly runbookBaseUrl: string;
  };
}

export { MATCH_FALLBACKS, type MatchFallback };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * A directory, or a path where one can be created at start: a file there (or above it) would
 * otherwise surface only as a database error after start-up.
 */
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
  .refine((p) => !p.includes('\0'), 'must be a path without NUL bytes')
  .superRefine((p, ctx) => {
    if (p.includes('\0')) return;
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
  .regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'must be a valid bucket name (3 to 63 lowercase letters, digits, - _ .)');
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

/**
 * Reads and validates the configuration.
 *
 * @example
 * const config = loadConfig(process.env); // throws ConfigError listing every bad variable
 */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  function read<T>(name: string, schema: z.ZodType<T>, fallback: T): T {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    problems.push(`${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}, got ${JSON.stringify(raw)}`);
    return fallback;
  }
  const opt = <T>(name: string, schema: z.ZodType<T>): T | null => read<T | null>(name, schema, null);

  const dataDir = path.resolve(read('DATA_DIR', directoryPath, './data'));
  const projectId = opt('GOOGLE_CLOUD_PROJECT', projectName);
  const emulatorHost = opt('PUBSUB_EMULATOR_HOST', hostPort);
  const subscriptionSet = Boolean(env.PUBSUB_SUBSCRIPTION);
  const source = read('SOURCE', oneOf(['local', 'pubsub'] as const), subscriptionSet ? 'pubsub' : 'local');
  const sinks = read('SINKS', oneOf(['local', 'gcp'] as const), projectId && !emulatorHost ? 'gcp' : 'local');

  // A project that was given but is bad is already reported; one message per variable.
  if ((source === 'pubsub' || sinks === 'gcp') && !projectId && !env.GOOGLE_CLOUD_PROJECT) {
    problems.push(`GOOGLE_CLOUD_PROJECT is required when SOURCE=pubsub or SINKS=gcp`);
  }

  const cpus = Math.max(1, availableParallelism());
  const config: Config = {
    port: read('PORT', intIn(0, 65535), 8080),
    host: read('HOST', z.string().min(1), '0.0.0.0'),
    dataDir,
    inputDir: path.resolve(read('INPUT_DIR', directoryPath, path.join(dataDir, 'input'))),
    source,
    sinks,
    projectId,
    pubsub: {
      topic: read('PUBSUB_TOPIC', pubsubName, SEED_NAMES.topic),
      subscription: read('PUBSUB_SUBSCRIPTION', pubsubName, SEED_NAMES.subscription),
      dlqTopic: read('PUBSUB_DLQ_TOPIC', pubsubName, SEED_NAMES.dlqTopic),
      emulatorHost,
      maxOutstandingMessages: read('MAX_OUTSTANDING_MESSAGES', intIn(1, 1_000_000), 1000),
      maxOutstandingBytes: read('MAX_OUTSTANDING_BYTES', intIn(1024, 2 ** 40), 100 * 1024 * 1024),
      // An hour: held deliveries ride out a 30-minute sink outage plus the drain after it.
      maxLeaseSeconds: read('MAX_LEASE_SECONDS', intIn(10, 86_400), 3600),
      watchdogSeconds: read('WATCHDOG_SECONDS', intIn(5, 3600), 60),
    },
    gcp: {
      inputBucket: read('INPUT_BUCKET', bucketName, `buildtrace-input-${projectId ?? 'local'}`),
      outputBucket: read('OUTPUT_BUCKET', bucketName, `buildtrace-output-${projectId ?? 'local'}`),
      dataset: read('BIGQUERY_DATASET', datasetName, SEED_NAMES.dataset),
      bigqueryEndpoint: opt('BIGQUERY_API_ENDPOINT', endpoint),
      storageEndpoint: opt('STORAGE_API_ENDPOINT', endpoint),
      monitoringEndpoint: opt('MONITORING_API_ENDPOINT', hostPort),
      monitoringIntervalSeconds: read('MONITORING_INTERVAL_SECONDS', intIn(10, 3600), 60),
      bigqueryLocation: read('BIGQUERY_LOCATION', z.string().regex(/^[A-Za-z]+(-[a-z]+[0-9]+)?$/, 'must be a BigQuery location such as US, EU or us-west2'), 'US'),
      region: opt('GOOGLE_CLOUD_REGION', z.string().regex(/^[a-z]+-[a-z]+[0-9]+$/, 'must be a region such as us-west2')),
      iamEndpoint: opt('IAM_API_ENDPOINT', endpoint),
      resourceManagerEndpoint: opt('RESOURCE_MANAGER_API_ENDPOINT', endpoint),
      pubsubEndpoint: opt('PUBSUB_API_ENDPOINT', endpoint),
    },
    moveTolerance: read('MOVE_TOLERANCE', numberIn(0, 1e9), 0.1),
    matchFallback: read('MATCH_FALLBACK', oneOf(MATCH_FALLBACKS), 'none'),
    matchRadius: read('MATCH_RADIUS', numberIn(0, 1e9), 10),
    concurrency: read('CONCURRENCY', intIn(1, 1024), cpus),
    maxDeliveryAttempts: read('MAX_DELIVERY_ATTEMPTS', intIn(1, 100), DEFAULT_MAX_DELIVERY_ATTEMPTS),
    leaseSeconds: read('LEASE_SECONDS', intIn(1, 86_400), 60),
    sinkBreaker: {
      failuresToOpen: read('SINK_BREAKER_FAILURES', intIn(1, 1000), 3),
      probeInitialMs: read('SINK_PROBE_INITIAL_MS', intIn(1, 600_000), 500),
      probeMaxMs: read('SINK_PROBE_MAX_MS', intIn(1, 3_600_000), 30_000),
    },
    batchSize: read('BATCH_SIZE', intIn(1, 10_000), 500),
    batchMaxWaitMs: read('BATCH_MAX_WAIT_MS', intIn(1, 60_000), 20),
    rollupFlushSeconds: read('ROLLUP_FLUSH_SECONDS', intIn(1, 3600), 30),
    retentionHours: read('RETENTION_HOURS', intIn(1, 24 * 31), 24),
    maxBodyBytes: read('MAX_BODY_BYTES', intIn(1024, 1024 ** 3), 10 * 1024 * 1024),
    maxPairsPerRequest: read('MAX_PAIRS_PER_REQUEST', intIn(1, 1_000_000), 1000),
    maxPairsPerPrefix: read('MAX_PAIRS_PER_PREFIX', intIn(1, 10_000_000), 100_000),
    maxVersionBytes: read('MAX_VERSION_BYTES', intIn(1024, 1024 ** 3), 64 * 1024 * 1024),
    workerThreshold: read('WORKER_THRESHOLD_OBJECTS', intIn(0, 100_000_000), 20_000),
    delayedUploadSeconds: read('DELAYED_UPLOAD_SECONDS', intIn(1, 7 * 86_400), 3600),
    spikeFactor: read('SPIKE_FACTOR', numberIn(1, 1e6), 10),
    anomalyFreshMinutes: read('ANOMALY_FRESH_MINUTES', intIn(1, 7 * 24 * 60), 60),
    corsOrigins: read(
      'CORS_ORIGINS',
      z
        .string()
        .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
        .pipe(z.array(z.string().regex(/^https?:\/\/[^\s/,*]+$/, 'must be a comma-separated list of origins such as https://app.example.com (no *)'))),
      [],
    ),
    changesPageItems: read('CHANGES_PAGE_ITEMS', intIn(1, 100_000), 1000),
    requestTimeoutSeconds: read('REQUEST_TIMEOUT_SECONDS', intIn(1, 3600), 30),
    maxConnections: read('MAX_CONNECTIONS', intIn(1, 1_000_000), 1024),
    maxRequestsPerConnection: read('MAX_REQUESTS_PER_CONNECTION', intIn(1, 1_000_000), 1000),
    shutdownGraceSeconds: read('SHUTDOWN_GRACE_SECONDS', intIn(1, 3600), 25),
    replicaId: read(
      'REPLICA_ID',
      z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'must be 1 to 128 letters, digits, . _ -'),
      defaultReplicaId(sinks),
    ),
    logLevel: read('LOG_LEVEL', oneOf(logLevels), 'info'),
    alerts: {
      latencyP99Ms: read('ALERT_LATENCY_P99_MS', intIn(1, 86_400_000), 10_000),
      backlogAgeSeconds: read('ALERT_BACKLOG_AGE_SECONDS', intIn(60, 7 * 86_400), 900),
      stallMinutes: read('ALERT_STALL_MINUTES', intIn(5, 1440), 30),
      breakerOpenMinutes: read('ALERT_BREAKER_OPEN_MINUTES', intIn(1, 1440), 5),
      spikeCount: read('ALERT_SPIKE_COUNT', intIn(0, 1_000_000), 0),
      runbookBaseUrl: read(
        'RUNBOOK_BASE_URL',
        z.string().regex(/^https?:\/\/\S+[^/]$/, 'must be an http(s) URL without a trailing slash'),
        'https://github.com/buildtrace/buildtrace/blob/main/docs/runbooks',
      ),
    },
  };

  if (problems.length > 0) throw new ConfigError(problems);
  // Frozen all the way down: a nested object left writable is one a component could change for all.
  Object.freeze(config.pubsub);
  Object.freeze(config.gcp);
  Object.freeze(config.alerts);
  Object.freeze(config.corsOrigins);
  return Object.freeze(config);
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
