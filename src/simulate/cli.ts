/**
 * `npm run simulate -- …`: parses and checks the flags (one clear line and exit status 2 for any
 * mistake), builds the chosen target from flags and environment, runs the simulation with a
 * progress display, prints the summary and writes the ground truth.
 */
import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { DEFAULT_TOLERANCE } from '../domain/diff.js';
import { DRAWING_ID_PATTERN } from '../domain/task.js';
import { Progress, type ProgressStream } from './progress.js';
import { runSimulation } from './run.js';
import { drawingIdOf, type ScenarioOptions } from './scenario.js';
import { SimulateError, type Target } from './target.js';
import { filesTarget } from './target-files.js';
import { gcsTarget, parseGcsUri, type GcsLocation } from './target-gcs.js';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PAIRS, httpTarget } from './target-http.js';
import { pubsubTarget } from './target-pubsub.js';
import { formatSummary } from './truth.js';
import { PUBSUB_ID_PATTERN } from '../infra/pubsub.js';

export const USAGE = `Usage: npm run simulate -- [options] (--out DIR | --out gs://BUCKET/PREFIX | --pubsub TOPIC | --url URL)

Generates pairs of drawing versions with the seed's change pattern (about 30% of objects moved,
a few added and removed), optionally with malformed versions, half pairs and a spike, and sends
them to one target. Prints a summary with the ground truth (our own diff of the good pairs).

Target (exactly one):
  --out DIR               write <DIR>/<drawing_id>/version_a.json + version_b.json (the seed layout);
                          with several revisions per drawing, <DIR>/rev-NNN/<drawing_id>/…
  --out gs://BUCKET/PFX   the same layout in Cloud Storage (honours STORAGE_API_ENDPOINT and
                          GOOGLE_CLOUD_PROJECT)
  --pubsub TOPIC          publish inline tasks (needs GOOGLE_CLOUD_PROJECT; honours PUBSUB_EMULATOR_HOST)
  --url URL               POST /process with inline version_pairs, e.g. http://127.0.0.1:8080

Pairs:
  --pairs N               pairs to generate (default 100)
  --objects N             objects per version, 10 to 100000 (default 10)
  --drawings N            distinct drawings; pair i revises drawing i mod N (default: one per pair)
  --malformed-rate R      share of pairs with a malformed version, 0 to 1 (default 0); the kinds
                          rotate: not_array, not_object, missing_field, bad_number, empty_id,
                          duplicate_id
  --half-rate R           share of pairs missing one version (a missing upload), 0 to 1 (default 0)
  --modified-rate R       probability an unmoved object changes type or size (default 0, as the seed)
  --spike                 the last revision of the first drawing gets 10x its usual changes
  --seed N                0 to 4294967295; the same seed and options repeat a run exactly
                          (default: random, printed in the summary)
  --tolerance N           move tolerance for the ground truth (default ${DEFAULT_TOLERANCE}, as MOVE_TOLERANCE)
  --prefix P              drawing ids are <P>0000, <P>0001, … (default drawing_)

Output:
  --truth FILE            write the ground truth and what was sent as JSON
  --quiet                 no progress display
  --concurrency N         writes, uploads or requests in flight, 1 to 256 (default: per target)

--url only:
  --batch N               pairs per request, at most the server's MAX_PAIRS_PER_REQUEST (default ${DEFAULT_MAX_PAIRS});
                          a 413 answer halves it
  --max-body-bytes N      bytes per request, the server's MAX_BODY_BYTES (default ${DEFAULT_MAX_BODY_BYTES})
  --wait                  after sending, wait until every job has no pending task
  --wait-timeout S        give up waiting after S seconds (default 600)

--pubsub only:
  --run-id ID             job_id of the tasks and prefix of their task_id (default sim-<seed>);
                          the same id makes a repeated run a duplicate the service counts once

  -h, --help              show this help

Exit status: 0 when every pair was sent, 1 when the target failed, 2 for bad usage.
`;

/** A mistake in the command line: one line on stderr, exit status 2. */
export class SimulateUsageError extends Error {
  override readonly name = 'SimulateUsageError';
  readonly code = 'usage' as const;
  readonly exitCode = 2;
}

export type TargetChoice =
  | { readonly kind: 'files'; readonly dir: string }
  | { readonly kind: 'gcs'; readonly location: GcsLocation }
  | { readonly kind: 'pubsub'; readonly topic: string; readonly projectId: string; readonly runId: string }
  | { readonly kind: 'http'; readonly url: string; readonly batch: number; readonly maxBodyBytes: number; readonly waitMs: number | null };

export interface SimulateArgs {
  readonly scenario: ScenarioOptions & { readonly drawings: number };
  readonly target: TargetChoice;
  readonly truthFile: string | null;
  readonly quiet: boolean;
  readonly concurrency: number | null;
}

export interface SimulateIo {
  out(text: string): void;
  err(text: string): void;
  /** Where the progress display goes (stderr). */
  readonly progress: ProgressStream;
}

const processIo: SimulateIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  progress: process.stderr,
};

/** Clients a test may hand in instead of the ones built from the environment. */
export interface SimulateClients {
  readonly storage?: Pick<Storage, 'bucket'>;
  readonly pubsub?: Pick<PubSub, 'topic' | 'close'>;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Runs the command line; returns the exit status (never calls `process.exit`).
 *
 * @example
 * process.exitCode = await runSimulateCli(process.argv.slice(2));
 */
export async function runSimulateCli(
  argv: readonly string[],
  io: SimulateIo = processIo,
  env: Env = process.env,
  clients: SimulateClients = {},
): Promise<number> {
  let args: SimulateArgs | 'help';
  try {
    args = parseSimulateArgs(argv, env);
  } catch (err) {
    if (err instanceof SimulateUsageError) {
      io.err(`simulate: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args === 'help') {
    io.out(USAGE);
    return 0;
  }

  const progress = args.quiet ? null : new Progress({ total: args.scenario.pairs, stream: io.progress });
  const onWritten = (pairs: number, bytes: number) => progress?.advance(pairs, bytes);
  let ownPubSub: PubSub | null = null;
  try {
    let target: Target;
    const revisions = Math.ceil(args.scenario.pairs / args.scenario.drawings);
    const concurrency = args.concurrency ?? undefined;
    const t = args.target;
    switch (t.kind) {
      case 'files':
        target = filesTarget({ dir: t.dir, revisions, concurrency, onWritten });
        break;
      case 'gcs':
        target = gcsTarget({ location: t.location, storage: clients.storage ?? storageFromEnv(env), revisions, concurrency, onWritten });
        break;
      case 'pubsub': {
        const emulator = env.PUBSUB_EMULATOR_HOST;
        // The emulator needs no credentials; without a metadata probe the client does not warn.
        if (emulator) process.env.METADATA_SERVER_DETECTION ??= 'none';
        const client = clients.pubsub ?? (ownPubSub = new PubSub({ projectId: t.projectId, ...(emulator ? { apiEndpoint: emulator } : {}) }));
        target = await pubsubTarget({ client, topic: t.topic, runId: t.runId, concurrency, onWritten });
        break;
      }
      case 'http':
        target = httpTarget({ url: t.url, maxPairs: t.batch, maxBodyBytes: t.maxBodyBytes, concurrency, onWritten });
        break;
    }
    const { truth, report } = await runSimulation({
      scenario: args.scenario,
      target,
      ...(t.kind === 'http' && t.waitMs !== null ? { waitMs: t.waitMs } : {}),
      recordedOptions: recorded(args),
    });
    progress?.finish();
    io.out(formatSummary(truth, report.description));
    if (args.truthFile) await writeFile(args.truthFile, `${JSON.stringify(truth, null, 2)}\n`);
    return 0;
  } catch (err) {
    progress?.finish();
    if (err instanceof SimulateError) {
      io.err(`simulate: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    await ownPubSub?.close().catch(() => undefined);
  }
}

function recorded(args: SimulateArgs): Record<string, unknown> {
  const { scenario, target } = args;
  const where =
    target.kind === 'files' ? target.dir
    : target.kind === 'gcs' ? `gs://${target.location.bucket}/${target.location.prefix}`
    : target.kind === 'pubsub' ? target.topic
    : target.url;
  return { ...scenario, target: target.kind, destination: where };
}

/** The Storage client as the service builds it: STORAGE_API_ENDPOINT, no auth for a local http fake. */
function storageFromEnv(env: Env): Storage {
  const endpoint = env.STORAGE_API_ENDPOINT;
  return new Storage({
    ...(env.GOOGLE_CLOUD_PROJECT ? { projectId: env.GOOGLE_CLOUD_PROJECT } : {}),
    ...(endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: endpoint.startsWith('https://') } : {}),
  });
}

/**
 * Parses and checks the flags.
 *
 * @throws SimulateUsageError naming the flag and the value.
 */
export function parseSimulateArgs(argv: readonly string[], env: Env = process.env): SimulateArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        out: { type: 'string' },
        pubsub: { type: 'string' },
        url: { type: 'string' },
        pairs: { type: 'string' },
        objects: { type: 'string' },
        drawings: { type: 'string' },
        'malformed-rate': { type: 'string' },
        'half-rate': { type: 'string' },
        'modified-rate': { type: 'string' },
        spike: { type: 'boolean', default: false },
        seed: { type: 'string' },
        tolerance: { type: 'string' },
        prefix: { type: 'string' },
        truth: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        concurrency: { type: 'string' },
        batch: { type: 'string' },
        'max-body-bytes': { type: 'string' },
        wait: { type: 'boolean', default: false },
        'wait-timeout': { type: 'string' },
        'run-id': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    const message = (err as Error).message;
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    if (ambiguous) {
      throw new SimulateUsageError(`${ambiguous[1]} needs a value; write one that starts with a dash as ${ambiguous[1]}=VALUE (see --help)`);
    }
    // parseArgs explains at length; its first sentence is the one line we want.
    throw new SimulateUsageError(`${(message.split(/\.\s/)[0] ?? 'bad arguments').replace(/\.$/, '')} (see --help)`);
  }
  const v = parsed.values;
  if (v.help) return 'help';

  const pairs = whole('--pairs', v.pairs, 1, 10_000_000, 100);
  const objects = whole('--objects', v.objects, 10, 100_000, 10);
  const drawings = whole('--drawings', v.drawings, 1, pairs, pairs);
  const malformedRate = rate('--malformed-rate', v['malformed-rate']);
  const halfRate = rate('--half-rate', v['half-rate']);
  const modifiedRate = rate('--modified-rate', v['modified-rate']);
  if (malformedRate + halfRate > 1) {
    throw new SimulateUsageError(`--malformed-rate and --half-rate add up to ${malformedRate + halfRate}; together they must be at most 1`);
  }
  const seed = v.seed === undefined ? randomInt(0, 2 ** 32) : whole('--seed', v.seed, 0, 0xffffffff, 0);
  const tolerance = v.tolerance === undefined ? DEFAULT_TOLERANCE : number('--tolerance', v.tolerance, 0, 1e9);
  const prefix = v.prefix ?? 'drawing_';
  const sample = drawingIdOf(drawings - 1, drawings, prefix);
  if (!DRAWING_ID_PATTERN.test(sample)) {
    throw new SimulateUsageError(
      `--prefix ${JSON.stringify(prefix)} makes drawing ids such as ${JSON.stringify(sample)}, which are not 1 to 128 letters, digits, ".", "_" or "-" starting with a letter or digit`,
    );
  }

  const targets = [v.out !== undefined && '--out', v.pubsub !== undefined && '--pubsub', v.url !== undefined && '--url'].filter(Boolean);
  if (targets.length !== 1) {
    throw new SimulateUsageError(
      targets.length === 0
        ? 'no target: give one of --out DIR, --out gs://BUCKET/PREFIX, --pubsub TOPIC or --url URL (see --help)'
        : `${targets.join(' and ')} cannot be combined: give exactly one target`,
    );
  }
  const target = targetOf(v, env, seed);
  const only = (flag: string, given: unknown, kind: TargetChoice['kind'], with_: string) => {
    if (given !== undefined && given !== false && target.kind !== kind) throw new SimulateUsageError(`${flag} applies only with ${with_}`);
  };
  only('--batch', v.batch, 'http', '--url');
  only('--max-body-bytes', v['max-body-bytes'], 'http', '--url');
  only('--wait', v.wait, 'http', '--url');
  only('--wait-timeout', v['wait-timeout'], 'http', '--url');
  only('--run-id', v['run-id'], 'pubsub', '--pubsub');

  return {
    scenario: { seed, pairs, objects, drawings, malformedRate, halfRate, modifiedRate, spike: v.spike, tolerance, drawingPrefix: prefix },
    target,
    truthFile: v.truth ?? null,
    quiet: v.quiet,
    concurrency: v.concurrency === undefined ? null : whole('--concurrency', v.concurrency, 1, 256, 1),
  };
}

function targetOf(v: Record<string, string | boolean | undefined>, env: Env, seed: number): TargetChoice {
  if (typeof v.out === 'string') {
    if (v.out.trim() === '') throw new SimulateUsageError('--out needs a directory or gs://BUCKET/PREFIX');
    if (v.out.startsWith('gs://')) {
      const location = parseGcsUri(v.out);
      if (!location) {
        throw new SimulateUsageError(`--out ${JSON.stringify(v.out)} is not gs://BUCKET/PREFIX with a valid bucket name (3 to 63 lowercase letters, digits, - _ .)`);
      }
      return { kind: 'gcs', location };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v.out)) throw new SimulateUsageError(`--out ${JSON.stringify(v.out)}: only local directories and gs:// are supported`);
    return { kind: 'files', dir: v.out };
  }
  if (typeof v.pubsub === 'string') {
    if (!PUBSUB_ID_PATTERN.test(v.pubsub)) {
      throw new SimulateUsageError(`--pubsub ${JSON.stringify(v.pubsub)} is not a topic id (3 to 255 characters, starting with a letter)`);
    }
    const projectId = env.GOOGLE_CLOUD_PROJECT;
    if (!projectId) throw new SimulateUsageError('--pubsub needs GOOGLE_CLOUD_PROJECT (and PUBSUB_EMULATOR_HOST for the emulator)');
    const runId = typeof v['run-id'] === 'string' ? v['run-id'] : `sim-${seed}`;
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(runId)) throw new SimulateUsageError(`--run-id must be 1 to 100 letters, digits, . _ -, got ${JSON.stringify(runId)}`);
    return { kind: 'pubsub', topic: v.pubsub, projectId, runId };
  }
  const url = String(v.url);
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new SimulateUsageError(`--url ${JSON.stringify(url)} is not a URL such as http://127.0.0.1:8080`);
  }
  if (parsedUrl.protocol !== 'http:' && parsedUrl.protocol !== 'https:') {
    throw new SimulateUsageError(`--url ${JSON.stringify(url)} must be http:// or https://`);
  }
  const waitSeconds = whole('--wait-timeout', v['wait-timeout'] as string | undefined, 1, 86_400, 600);
  return {
    kind: 'http',
    url: `${parsedUrl.origin}${parsedUrl.pathname.replace(/\/+$/, '')}`,
    batch: whole('--batch', v.batch as string | undefined, 1, 1_000_000, DEFAULT_MAX_PAIRS),
    maxBodyBytes: whole('--max-body-bytes', v['max-body-bytes'] as string | undefined, 1024, 2 ** 31, DEFAULT_MAX_BODY_BYTES),
    waitMs: v.wait ? waitSeconds * 1000 : null,
  };
}

function whole(flag: string, raw: string | undefined, min: number, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const text = raw.trim().replaceAll('_', '');
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new SimulateUsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function number(flag: string, raw: string, min: number, max: number): number {
  const n = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= min && n <= max)) throw new SimulateUsageError(`${flag} must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function rate(flag: string, raw: string | undefined): number {
  return raw === undefined ? 0 : number(flag, raw, 0, 1);
}
