/**
 * `buildtrace dead-letters list|replay`: shows the dead letters of the task source the service is
 * configured with (SOURCE, PUBSUB_*, DATA_DIR), and puts them back in the tasks queue with their
 * `task_id`, so a replayed task that had in fact completed yields no second result and is not
 * counted twice.
 */
import { PubSub } from '@google-cloud/pubsub';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { DeadLetterAccessError, type DeadLetterAction, type DeadLetterMode, type DeadLetterOutcome, type DeadLetterQueue } from '../../streams/sources/dead-letters/entry.js';
import { LocalDeadLetters } from '../../streams/sources/dead-letters/local.js';
import { PubSubDeadLetters, type PubSubDeadLetterOptions } from '../../streams/sources/dead-letters/pubsub.js';
import { type CliCommand, type CliIo, UsageError } from './io.js';

export const DEAD_LETTERS_USAGE = `Usage: buildtrace dead-letters list [--limit N]
       buildtrace dead-letters replay [--limit N] [--dry-run]

Reads the dead letters of the configured task source: Pub/Sub's dead-letter subscription
(<PUBSUB_DLQ_TOPIC>-sub) when SOURCE is pubsub, else the local queue's dead_letters table in
DATA_DIR. list leaves them where they are; replay puts them back in the tasks queue (the
PUBSUB_TOPIC topic, or the local queue) with their body and task_id, and removes each only once
it is back. Prints one line per task and a total.

Options:
  --limit N    at most N dead letters (default: all); the local queue takes the oldest first
  --dry-run    replay only: print what would be replayed, change nothing
  -h, --help   show this help

Exit status: 0 done, 1 the queue could not be reached or refused, 2 bad usage.
`;

interface DeadLettersArgs {
  readonly mode: DeadLetterMode;
  readonly limit: number | null;
}

const SUBCOMMANDS = ['list', 'replay'] as const;

function parse(argv: readonly string[]): DeadLettersArgs | 'help' {
  if (argv.includes('-h') || argv.includes('--help')) return 'help';
  let subcommand: string | null = null;
  let limit: number | null = null;
  let dryRun = false;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--dry-run') {
      dryRun = true;
    } else if (arg === '--limit' || arg.startsWith('--limit=')) {
      const raw = arg === '--limit' ? argv[++i] : arg.slice('--limit='.length);
      if (raw === undefined) throw new UsageError('--limit needs a value: a whole number from 1 up (see --help)');
      if (!/^[1-9]\d{0,8}$/.test(raw)) throw new UsageError(`--limit must be a whole number from 1 to 999999999, got ${JSON.stringify(raw.slice(0, 40))}`);
      limit = Number(raw);
    } else if (arg.startsWith('-')) {
      throw new UsageError(`unknown option ${JSON.stringify(arg.slice(0, 40))} (see --help)`);
    } else if (subcommand === null) {
      subcommand = arg;
    } else {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg.slice(0, 40))}: expected "list" or "replay" once (see --help)`);
    }
  }
  if (subcommand === null) throw new UsageError('missing subcommand: expected "dead-letters list" or "dead-letters replay" (see --help)');
  if (!(SUBCOMMANDS as readonly string[]).includes(subcommand)) {
    throw new UsageError(`unknown subcommand ${JSON.stringify(subcommand.slice(0, 40))}: expected "list" or "replay" (see --help)`);
  }
  if (dryRun && subcommand === 'list') throw new UsageError('--dry-run applies to "replay" only: "list" never changes anything (see --help)');
  return { mode: subcommand === 'list' ? 'list' : dryRun ? 'dry-run' : 'replay', limit };
}

/** The dead-letter queue of the source `config` selects, as the service would read it. */
function openQueue(config: Config, pubsubOptions: PubSubDeadLetterOptions): DeadLetterQueue {
  if (config.source === 'local') return LocalDeadLetters.open(config.dataDir);
  if (!config.projectId) throw new UsageError('no project: set GOOGLE_CLOUD_PROJECT');
  const emulator = config.pubsub.emulatorHost;
  const pubsub = new PubSub({
    projectId: config.projectId,
    ...(emulator ? { apiEndpoint: emulator, emulatorMode: true } : {}),
  });
  return new PubSubDeadLetters(
    pubsub,
    {
      dlqSubscription: `${config.pubsub.dlqTopic}-sub`,
      topic: config.pubsub.topic,
      endpoint: emulator ? `${emulator} (PUBSUB_EMULATOR_HOST)` : 'pubsub.googleapis.com',
    },
    pubsubOptions,
  );
}

const DONE: Readonly<Record<DeadLetterAction, string>> = {
  listed: 'listed',
  'would replay': 'would replay',
  replayed: 'replayed',
  failed: 'failed',
};

/** One line per task: what was done, then the task and its reason as `key=value` (values with spaces or quotes JSON-quoted). */
export function formatOutcome(o: DeadLetterOutcome): string {
  const value = (v: string | null): string => (v === null ? '-' : /^[\w.:/@+-]+$/.test(v) ? v : JSON.stringify(v));
  const e = o.entry;
  return [
    DONE[o.action].padEnd(12),
    `task_id=${value(e.taskId)}`,
    `job_id=${value(e.jobId)}`,
    `drawing_id=${value(e.drawingId)}`,
    `error_code=${value(e.errorCode)}`,
    `error_message=${JSON.stringify(e.errorMessage)}`,
    ...(o.detail ? [`(${o.detail})`] : []),
  ].join(' ');
}

function totalLine(mode: DeadLetterMode, counts: Readonly<Record<DeadLetterAction, number>>, where: string): string {
  switch (mode) {
    case 'list':
      return `Total: ${counts.listed} dead letter(s) on ${where}, left in place`;
    case 'dry-run':
      return `Total: ${counts['would replay']} dead letter(s) would be replayed from ${where} (dry run: nothing changed)`;
    case 'replay':
      return `Total: ${counts.replayed} replayed, ${counts.failed} failed, from ${where}`;
  }
}

/**
 * Runs `dead-letters` with an explicit environment (tests point it at the emulator or a DATA_DIR).
 *
 * @example
 * await deadLettersWith(['replay', '--limit', '10'], io, { ...process.env, DATA_DIR: '/var/lib/buildtrace' });
 */
export async function deadLettersWith(
  argv: readonly string[],
  io: CliIo,
  env: Readonly<Record<string, string | undefined>>,
  pubsubOptions: PubSubDeadLetterOptions = {},
): Promise<number> {
  const args = parse(argv);
  if (args === 'help') {
    io.out(DEAD_LETTERS_USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.problems.join('; '));
    throw err;
  }
  const counts: Record<DeadLetterAction, number> = { listed: 0, 'would replay': 0, replayed: 0, failed: 0 };
  let queue: DeadLetterQueue | null = null;
  try {
    queue = openQueue(config, pubsubOptions);
    await queue.run(args.mode, args.limit, (outcome) => {
      counts[outcome.action] += 1;
      io.out(`${formatOutcome(outcome)}\n`);
    });
    io.out(`${totalLine(args.mode, counts, queue.description)}\n`);
    return counts.failed > 0 ? 1 : 0;
  } catch (err) {
    if (!(err instanceof DeadLetterAccessError)) throw err;
    if (queue) io.out(`${totalLine(args.mode, counts, queue.description)}\n`);
    io.err(`buildtrace: dead-letters ${args.mode === 'dry-run' ? 'replay --dry-run' : args.mode}: ${err.message}\n`);
    return 1;
  } finally {
    await queue?.close();
  }
}

export const deadLettersCommand: CliCommand = {
  synopsis: 'dead-letters list [--limit N] | dead-letters replay [--limit N] [--dry-run]',
  run: (argv, io) => deadLettersWith(argv, io, process.env),
};
