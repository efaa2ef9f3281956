/**
 * `buildtrace setup`: plans (and with `--apply` converges) the cloud resources BuildTrace needs,
 * with the Google client libraries; honours PUBSUB_EMULATOR_HOST and the *_API_ENDPOINT settings.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { createSetupClients, setupTarget, type SetupClients } from '../setup/context.js';
import { SETUP_PARTS, type SetupPart } from '../setup/plan.js';
import { runSetup } from '../setup/run.js';
import { type CliCommand, type CliIo, UsageError, usageErrorFrom } from './io.js';
import { errorMessage } from '../domain/errors.js';

export const SETUP_USAGE = `Usage: buildtrace setup [--apply] [--only PARTS] [--project P] [--region R]

Brings a Google Cloud project to the state BuildTrace needs. Without --apply it only reads and
prints the plan: one line per resource with its action (create, update <what>, ok) and a total.

Options:
  --apply                     make the changes (a second run then plans nothing)
  --only PARTS                comma-separated subset of ${SETUP_PARTS.join(',')}
  --project P                 project id (default GOOGLE_CLOUD_PROJECT)
  --region R                  region of the buckets (default GOOGLE_CLOUD_REGION)
  --input-retention-days N    input objects are deleted after N days (default 90)
  --output-retention-days N   result objects are deleted after N days (default 90)
  --namespace NS              Kubernetes namespace for Workload Identity (default buildtrace)
  --notify-email ADDRESS      alert policies also notify this address (an e-mail channel)
  -h, --help                  show this help

Names come from the configuration (PUBSUB_TOPIC, INPUT_BUCKET, BIGQUERY_DATASET,
BIGQUERY_LOCATION, ...). Exit status: 0 done, 1 a Google API refused or failed, 2 bad usage.
`;

interface SetupArgs {
  readonly apply: boolean;
  readonly parts: ReadonlySet<SetupPart>;
  readonly project: string | undefined;
  readonly region: string | undefined;
  readonly inputRetentionDays: number;
  readonly outputRetentionDays: number;
  readonly namespace: string;
  readonly notifyEmail: string | null;
}

function parse(argv: readonly string[]): SetupArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        apply: { type: 'boolean', default: false },
        only: { type: 'string' },
        project: { type: 'string' },
        region: { type: 'string' },
        'input-retention-days': { type: 'string' },
        'output-retention-days': { type: 'string' },
        namespace: { type: 'string' },
        'notify-email': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw usageErrorFrom(err);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  let parts: Set<SetupPart> = new Set(SETUP_PARTS);
  if (v.only !== undefined) {
    const names = v.only.split(',').map((p) => p.trim());
    const unknown = names.filter((n) => !(SETUP_PARTS as readonly string[]).includes(n));
    if (names.length === 0 || unknown.length > 0 || names.includes('')) {
      throw new UsageError(`--only takes a comma-separated list of ${SETUP_PARTS.join(', ')}; got ${JSON.stringify(v.only)}`);
    }
    parts = new Set(names as SetupPart[]);
  }
  const days = (flag: string, raw: string | undefined): number => {
    if (raw === undefined) return 90;
    if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > 36_500) throw new UsageError(`--${flag} must be a whole number of days from 1 to 36500, got ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const namespace = v.namespace ?? 'buildtrace';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace must be a Kubernetes namespace name, got ${JSON.stringify(namespace)}`);
  const notifyEmail = v['notify-email'] ?? null;
  // The shape Monitoring's e-mail channels take; anything else would fail only at --apply.
  if (notifyEmail !== null && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(notifyEmail)) {
    throw new UsageError(`--notify-email must be an e-mail address, got ${JSON.stringify(notifyEmail.slice(0, 100))}`);
  }
  return {
    apply: v.apply,
    parts,
    project: v.project,
    region: v.region,
    inputRetentionDays: days('input-retention-days', v['input-retention-days']),
    outputRetentionDays: days('output-retention-days', v['output-retention-days']),
    namespace,
    notifyEmail,
  };
}

/**
 * Runs `setup` with an explicit environment (tests point it at the emulator and local servers).
 *
 * @example
 * await setupWith(['--only', 'pubsub'], io, { ...process.env, PUBSUB_EMULATOR_HOST: 'localhost:8085' });
 */
export async function setupWith(
  argv: readonly string[],
  io: CliIo,
  env: Readonly<Record<string, string | undefined>>,
  clients?: SetupClients,
): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    io.out(SETUP_USAGE);
    return 0;
  }
  const overrides = {
    ...(args.project !== undefined ? { GOOGLE_CLOUD_PROJECT: args.project } : {}),
    ...(args.region !== undefined ? { GOOGLE_CLOUD_REGION: args.region } : {}),
  };
  let config;
  try {
    config = loadConfig({ ...env, ...overrides });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.problems.join('; '));
    throw err;
  }
  if (!config.projectId) throw new UsageError('no project: pass --project or set GOOGLE_CLOUD_PROJECT');
  const region = config.gcp.region;
  if (!region && args.parts.has('storage')) throw new UsageError('no region for the buckets: pass --region or set GOOGLE_CLOUD_REGION');
  const target = setupTarget(
    { ...config, projectId: config.projectId },
    { region, inputRetentionDays: args.inputRetentionDays, outputRetentionDays: args.outputRetentionDays, namespace: args.namespace, notifyEmail: args.notifyEmail },
  );
  const owned = clients ?? createSetupClients(config);
  try {
    await runSetup({ target, clients: owned }, { parts: args.parts, apply: args.apply, print: (line) => io.out(`${line}\n`) });
    return 0;
  } catch (err) {
    io.err(`buildtrace: setup failed: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    if (!clients) await Promise.allSettled([owned.pubsub.close(), owned.monitoring.close(), owned.monitoringConfig.close()]);
  }
}

export const setupCommand: CliCommand = {
  synopsis: 'setup [--apply] [--only pubsub,storage,bigquery,monitoring,iam] [--project P] [--region R] [--notify-email A]',
  run: (argv, io) => setupWith(argv, io, process.env),
};
