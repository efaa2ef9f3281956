/**
 * Configuration from the environment: defaults and the SOURCE/SINKS derivation of design.md
 * "Running", every variable's bad values (one message each, naming the variable and the value,
 * all reported at once), and the built entry point refusing to start with exit code 2.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ConfigError, loadConfig, SEED_NAMES, type Config } from '../src/config.js';
import { MAIN, REPO_ROOT, tempDir } from './support/service-process.js';

type Env = Record<string, string>;

/** The problems `loadConfig(env)` reports, or [] when it accepts the environment. */
function problems(env: Env): readonly string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

test('no variables at all: the embedded default with the documented defaults', (t) => {
  const config = loadConfig({});
  const dataDir = path.resolve('./data');
  t.like(config, {
    port: 8080,
    dataDir,
    inputDir: path.join(dataDir, 'input'),
    source: 'local',
    sinks: 'local',
    projectId: null,
    moveTolerance: 0.1,
    concurrency: availableParallelism(),
    replicaId: 'local',
    logLevel: 'info',
    maxDeliveryAttempts: 5,
  });
  t.deepEqual(config.corsOrigins, []);
  t.like(config.pubsub, {
    topic: SEED_NAMES.topic,
    subscription: SEED_NAMES.subscription,
    dlqTopic: SEED_NAMES.dlqTopic,
    emulatorHost: null,
    maxOutstandingMessages: 1000,
  });
  t.is(config.pubsub.topic, 'drawing-processing-tasks');
  t.is(config.pubsub.subscription, 'drawing-processing-workers');
  t.is(config.pubsub.dlqTopic, 'drawing-processing-dlq');
  t.is(config.gcp.dataset, 'buildtrace');
  t.is(config.gcp.bigqueryEndpoint, null);
});

test('the sink breaker settings have their documented defaults, and the retired SINK_RETRY_SECONDS is accepted and ignored', (t) => {
  t.deepEqual(loadConfig({}).sinkBreaker, { failuresToOpen: 3, probeInitialMs: 500, probeMaxMs: 30_000 });
  t.is(loadConfig({}).pubsub.maxLeaseSeconds, 3600, 'a 30-minute outage plus the drain after it');
  // Users who set the old variable keep starting; an outage is now retried until it ends.
  t.deepEqual(problems({ SINK_RETRY_SECONDS: '60' }), []);
  t.deepEqual(loadConfig({ SINK_RETRY_SECONDS: '60' }).sinkBreaker, loadConfig({}).sinkBreaker);
  t.deepEqual(loadConfig({ SINK_BREAKER_FAILURES: '1', SINK_PROBE_INITIAL_MS: '20', SINK_PROBE_MAX_MS: '200' }).sinkBreaker, {
    failuresToOpen: 1,
    probeInitialMs: 20,
    probeMaxMs: 200,
  });
});

test('the seed-derived GCP names follow the project', (t) => {
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: 'acme-drawings' });
  t.is(config.gcp.inputBucket, 'buildtrace-input-acme-drawings');
  t.is(config.gcp.outputBucket, 'buildtrace-output-acme-drawings');
  t.is(config.projectId, 'acme-drawings');
  t.not(config.replicaId, 'local', 'cloud replicas each get an id of their own');
  t.not(loadConfig({ GOOGLE_CLOUD_PROJECT: 'acme-drawings' }).replicaId, config.replicaId);
});

test('the configuration is frozen all the way down', (t) => {
  const config = loadConfig({ CORS_ORIGINS: 'https://app.example.com' });
  t.true(Object.isFrozen(config));
  t.true(Object.isFrozen(config.pubsub));
  t.true(Object.isFrozen(config.gcp));
  t.true(Object.isFrozen(config.corsOrigins));
  t.throws(() => {
    (config.pubsub as { topic: string }).topic = 'elsewhere';
  });
  t.is(config.pubsub.topic, SEED_NAMES.topic);
});

test('DATA_DIR and INPUT_DIR: INPUT_DIR follows DATA_DIR unless set; both are made absolute', (t) => {
  const a = loadConfig({ DATA_DIR: '/srv/bt' });
  t.is(a.dataDir, '/srv/bt');
  t.is(a.inputDir, '/srv/bt/input');
  const b = loadConfig({ DATA_DIR: 'rel/data', INPUT_DIR: 'rel/in' });
  t.is(b.dataDir, path.resolve('rel/data'));
  t.is(b.inputDir, path.resolve('rel/in'));
});

test('SOURCE and SINKS are derived as design.md says, and explicit values win', (t) => {
  const P = { GOOGLE_CLOUD_PROJECT: 'acme-drawings' };
  const cases: Array<[Env, Config['source'], Config['sinks']]> = [
    [{}, 'local', 'local'],
    [P, 'local', 'gcp'],
    [{ ...P, PUBSUB_SUBSCRIPTION: 'workers' }, 'pubsub', 'gcp'],
    [{ ...P, PUBSUB_EMULATOR_HOST: '127.0.0.1:8085' }, 'local', 'local'],
    [{ ...P, PUBSUB_SUBSCRIPTION: 'workers', PUBSUB_EMULATOR_HOST: 'localhost:8085' }, 'pubsub', 'local'],
    [{ ...P, PUBSUB_SUBSCRIPTION: 'workers', SOURCE: 'local' }, 'local', 'gcp'],
    [{ ...P, SINKS: 'local' }, 'local', 'local'],
    [{ ...P, SOURCE: 'pubsub' }, 'pubsub', 'gcp'],
    [{ ...P, PUBSUB_EMULATOR_HOST: '127.0.0.1:8085', SINKS: 'gcp' }, 'local', 'gcp'],
    [{ SOURCE: '', SINKS: '' }, 'local', 'local'],
  ];
  for (const [env, source, sinks] of cases) {
    const config = loadConfig(env);
    t.deepEqual([config.source, config.sinks], [source, sinks], JSON.stringify(env));
  }
});

test('Pub/Sub or GCP sinks without a project is one clear problem', (t) => {
  const envs: Env[] = [{ PUBSUB_SUBSCRIPTION: 'workers' }, { SOURCE: 'pubsub' }, { SINKS: 'gcp' }];
  for (const env of envs) {
    t.deepEqual(problems(env), ['GOOGLE_CLOUD_PROJECT is required when SOURCE=pubsub or SINKS=gcp'], JSON.stringify(env));
  }
});

/** Each variable with values it must refuse, a value it must accept, and what else it needs to be valid. */
const BAD: Array<[name: string, bad: string[], good: string, base?: Env]> = [
  ['PORT', ['abc', '-1', '65536', '80.5', '1e3', '0x50', '9'.repeat(400)], '0'],
  ['HOST', [], '127.0.0.1'],
  // a file, a path below a file, a NUL byte, a pseudo filesystem where mkdir -p hangs; a
  // directory that does not exist yet is fine
  ['DATA_DIR', [path.join(REPO_ROOT, 'package.json'), path.join(REPO_ROOT, 'package.json', 'data'), 'da\u0000ta', '/proc/x', '/proc/x/y', '/sys/x'], path.join(REPO_ROOT, 'no-such-dir', 'data')],
  ['INPUT_DIR', [path.join(REPO_ROOT, 'README.md'), 'in\u0000put', '/proc/input'], REPO_ROOT],
  ['SOURCE', ['kafka', 'LOCAL', 'pubsub '], 'local'],
  ['SINKS', ['bigquery', 'GCP'], 'local'],
  ['GOOGLE_CLOUD_PROJECT', ['Acme', 'ab', '1project', 'my_project', 'p'.repeat(31), 'project-'], 'example.com:acme-drawings'],
  ['PUBSUB_EMULATOR_HOST', ['localhost', 'http://localhost:8085', 'localhost:port'], '[::1]:8085'],
  ['PUBSUB_TOPIC', ['ab', 'goog-topic', '1topic', 'has space'], 'my.topic~1'],
  ['PUBSUB_SUBSCRIPTION', ['ab', 'googsub', 'with/slash'], 'workers', { GOOGLE_CLOUD_PROJECT: 'acme-drawings' }],
  ['PUBSUB_DLQ_TOPIC', ['x', 'goog-dlq'], 'my-dlq'],
  ['MAX_OUTSTANDING_MESSAGES', ['0', 'many', '1000001'], '1'],
  ['MAX_OUTSTANDING_BYTES', ['1023', 'lots'], '1024'],
  ['MAX_LEASE_SECONDS', ['9', '86401'], '10'],
  ['WATCHDOG_SECONDS', ['4', '3601'], '5'],
  ['INPUT_BUCKET', ['Upper', 'ab', '-bucket', 'b'.repeat(64), 'gs://bucket'], 'in.bucket_1'],
  ['OUTPUT_BUCKET', ['out bucket', 'x'], 'out-bucket'],
  ['BIGQUERY_DATASET', ['build-trace', 'has space'], 'build_trace_1'],
  ['BIGQUERY_API_ENDPOINT', ['127.0.0.1:9050', 'ftp://x', 'http://'], 'http://127.0.0.1:9050'],
  ['STORAGE_API_ENDPOINT', ['localhost', 'https:// spaced'], 'https://storage.example.com/base'],
  ['MONITORING_API_ENDPOINT', ['http://127.0.0.1:9000', 'nohost'], 'monitoring.example.com:443'],
  ['MONITORING_INTERVAL_SECONDS', ['9', '3601'], '10'],
  ['BIGQUERY_LOCATION', ['us west2', 'US;'], 'us-west2'],
  ['GOOGLE_CLOUD_REGION', ['US', 'uswest2'], 'europe-west4'],
  ['IAM_API_ENDPOINT', ['localhost', 'ftp://x'], 'http://127.0.0.1:9100'],
  ['RESOURCE_MANAGER_API_ENDPOINT', ['localhost'], 'https://cloudresourcemanager.googleapis.com'],
  ['PUBSUB_API_ENDPOINT', ['127.0.0.1:8085'], 'https://pubsub.googleapis.com'],
  ['MOVE_TOLERANCE', ['-0.1', 'abc', 'NaN', 'Infinity', '1e400', '0.1.2', '1e10'], '.5'],
  ['MATCH_FALLBACK', ['id', 'Geometry', 'yes', 'none,auto'], 'auto'],
  ['MATCH_RADIUS', ['-1', 'far', 'Infinity', '1e10'], '2.5'],
  ['CONCURRENCY', ['0', '1025', 'all', '2.5'], '1024'],
  ['MAX_DELIVERY_ATTEMPTS', ['0', '101'], '100'],
  ['LEASE_SECONDS', ['0', '86401'], '1'],
  ['SINK_BREAKER_FAILURES', ['0', '1001', 'many'], '1'],
  ['SINK_PROBE_INITIAL_MS', ['0', '600001', '1s'], '1'],
  ['SINK_PROBE_MAX_MS', ['0', '3600001'], '3600000'],
  ['BATCH_SIZE', ['0', '10001'], '10000'],
  ['BATCH_MAX_WAIT_MS', ['0', '60001'], '1'],
  ['ROLLUP_FLUSH_SECONDS', ['0', '3601'], '3600'],
  ['RETENTION_HOURS', ['0', '745'], '744'],
  ['MAX_BODY_BYTES', ['1023', '1073741825', '10MB'], '1024'],
  ['MAX_PAIRS_PER_REQUEST', ['0', '1000001'], '1000000'],
  ['MAX_PAIRS_PER_PREFIX', ['0', '10000001'], '1'],
  ['CHANGES_PAGE_ITEMS', ['0', '100001', 'many'], '5'],
  ['REQUEST_TIMEOUT_SECONDS', ['0', '3601', '1.5'], '2'],
  ['MAX_CONNECTIONS', ['0', '1000001'], '2'],
  ['MAX_REQUESTS_PER_CONNECTION', ['0', '1000001'], '2'],
  ['MAX_VERSION_BYTES', ['1023', 'big'], '1024'],
  ['WORKER_THRESHOLD_OBJECTS', ['-1', '100000001'], '0'],
  ['DELAYED_UPLOAD_SECONDS', ['0', '604801'], '604800'],
  ['SPIKE_FACTOR', ['0.5', '1000001', 'x'], '1'],
  ['ANOMALY_FRESH_MINUTES', ['0', '10081'], '10080'],
  ['CORS_ORIGINS', ['*', 'https://a.example.com,*', 'app.example.com', 'https://app.example.com/', 'https://*.example.com'], 'https://a.example.com, http://b.example.com:8080'],
  ['SHUTDOWN_GRACE_SECONDS', ['0', '3601'], '1'],
  ['REPLICA_ID', ['has space', 'r'.repeat(129), 'a/b'], 'replica-1.a_b'],
  ['LOG_LEVEL', ['verbose', 'INFO'], 'debug'],
  ['ALERT_LATENCY_P99_MS', ['0', '1.5', 'slow'], '2500'],
  ['ALERT_BACKLOG_AGE_SECONDS', ['59', '604801'], '60'],
  ['ALERT_STALL_MINUTES', ['4', '1441'], '5'],
  ['ALERT_BREAKER_OPEN_MINUTES', ['0', '1441'], '1'],
  ['ALERT_SPIKE_COUNT', ['-1', 'many'], '0'],
  ['RUNBOOK_BASE_URL', ['docs/runbooks', 'https://example.com/runbooks/', 'ftp://x/y'], 'https://wiki.example.com/buildtrace/runbooks'],
];

test('every variable config.ts reads has bad values in this table (a new variable needs its cases)', (t) => {
  const source = readFileSync(path.join(REPO_ROOT, 'src/config.ts'), 'utf8');
  const schema = source.slice(source.indexOf('export const variablesSchema'), source.indexOf('\n});\n', source.indexOf('export const variablesSchema')));
  const read = new Set([...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]+): /gm)].map((m) => m[1]));
  t.true(read.size > 30, `found ${read.size} variables`);
  t.deepEqual([...read].filter((name) => !BAD.some(([n]) => n === name)), []);
});

test('every bad value is refused with one message naming the variable and the value', (t) => {
  for (const [name, bads, good, base = {}] of BAD) {
    for (const value of bads) {
      const found = problems({ ...base, [name]: value });
      t.is(found.length, 1, `${name}=${value}: ${JSON.stringify(found)}`);
      t.true(found[0]?.startsWith(`${name} `), `${name}=${value}: ${found[0]}`);
      t.true(found[0]?.includes(JSON.stringify(value)), `${name}=${value} quotes the value: ${found[0]}`);
      t.regex(found[0] ?? '', /must/, `${name}=${value} says what is expected: ${found[0]}`);
    }
    t.deepEqual(problems({ ...base, [name]: good }), [], `${name}=${good} is accepted`);
  }
});

test('accepted values are read as typed values, and an empty string means the default', (t) => {
  const config = loadConfig({
    PORT: ' 9090 ',
    MOVE_TOLERANCE: '.5',
    CORS_ORIGINS: ' https://a.example.com , http://b.example.com:8080 ,',
    CONCURRENCY: '',
    GOOGLE_CLOUD_PROJECT: 'example.com:acme-drawings',
  });
  t.is(config.port, 9090);
  t.is(config.moveTolerance, 0.5);
  t.deepEqual(config.corsOrigins, ['https://a.example.com', 'http://b.example.com:8080']);
  t.is(config.concurrency, availableParallelism());
  t.is(config.projectId, 'example.com:acme-drawings');
  // geometry matching is opt-in: by default ids alone pair objects, as in the seed
  t.is(config.matchFallback, 'none');
  t.is(config.matchRadius, 10);
  t.deepEqual([loadConfig({ MATCH_FALLBACK: 'geometry', MATCH_RADIUS: '2.5' })].map((c) => [c.matchFallback, c.matchRadius]), [['geometry', 2.5]]);
});

test('all bad variables are reported at once, in one ConfigError', (t) => {
  const env: Env = {};
  for (const [name, bads] of BAD) if (bads[0] !== undefined) env[name] = bads[0];
  const err = t.throws(() => loadConfig(env), { instanceOf: ConfigError });
  const named = BAD.filter(([, bads]) => bads.length > 0).map(([name]) => name);
  t.is(err?.problems.length, named.length, err?.message);
  for (const name of named) {
    t.is(err?.problems.filter((p) => p.startsWith(`${name} `)).length, 1, `${name} is reported once`);
  }
  t.is(err?.name, 'ConfigError');
  t.true(err?.message.startsWith('Invalid configuration:\n'));
  t.is(err?.message.split('\n').length, named.length + 1, 'one line per problem');
});

test('a bad project with GCP sinks is reported once, as a bad value, not also as missing', (t) => {
  t.deepEqual(problems({ GOOGLE_CLOUD_PROJECT: 'Acme', SINKS: 'gcp' }), [
    'GOOGLE_CLOUD_PROJECT must be a valid project id, got "Acme"',
  ]);
});

test('the built service refuses a bad environment with exit code 2 and every problem on stderr', async (t) => {
  // given a bad port and a bad tolerance (the build exists after `npx tsc -p tsconfig.json`)
  const dataDir = tempDir('buildtrace-config-');
  const child = spawn(process.execPath, [MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: 'eighty', MOVE_TOLERANCE: '-1', CORS_ORIGINS: '*' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  // when it starts
  const [code] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];

  // then it exits 2 before serving, with one line per problem and no stack trace
  t.is(code, 2, stderr);
  t.is(stdout, '');
  t.regex(stderr, /^buildtrace: Invalid configuration:\n/);
  t.regex(stderr, /\n {2}- PORT must be a whole number from 0 to 65535, got "eighty"\n/);
  t.regex(stderr, /\n {2}- MOVE_TOLERANCE .*got "-1"\n/);
  t.regex(stderr, /\n {2}- CORS_ORIGINS .*got "\*"\n/);
  t.is(stderr.trim().split('\n').length, 4);
  t.notRegex(stderr, /\n\s+at /);
});

test('the built service refuses DATA_DIR=/proc/x at once (a recursive mkdir there never returns) with exit 2 and one line', async (t) => {
  // given a data directory under /proc, where Node's mkdir -p loops forever
  const child = spawn(process.execPath, [MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', DATA_DIR: '/proc/x/data' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  // when it starts, then it exits 2 with the one problem, before anything is created or served
  const [code] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  t.is(code, 2, stderr);
  t.is(
    stderr,
    'buildtrace: Invalid configuration:\n  - DATA_DIR must be on an ordinary filesystem: /proc is on /proc, where no directory can be created, got "/proc/x/data"\n',
  );
});
