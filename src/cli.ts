#!/usr/bin/env node
/**
 * `buildtrace`: the command line. Each subcommand lives in `src/cli/` and is registered in one
 * table here, so adding a command never touches another's parsing.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MalformedInputError, errorMessage } from './domain/errors.js';
import { deadLettersCommand } from './cli/dead-letters.js';
import { diffCommand, DIFF_USAGE } from './cli/diff.js';
import { setupCommand } from './cli/setup.js';
import { type CliCommand, type CliIo, UsageError } from './cli/io.js';

export { UsageError, type CliIo } from './cli/io.js';
export { formatText } from './cli/diff.js';

/** Every subcommand, by name. */
const COMMANDS: Readonly<Record<string, CliCommand>> = {
  diff: diffCommand,
  setup: setupCommand,
  'dead-letters': deadLettersCommand,
};

export const USAGE = `${DIFF_USAGE}
Commands:
${Object.entries(COMMANDS)
  .map(([, c]) => `  buildtrace ${c.synopsis}`)
  .join('\n')}
`;

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/**
 * Runs the command line and returns the exit status (never calls `process.exit`, so output is
 * flushed and tests can run it in process).
 *
 * @example
 * process.exitCode = await runCli(['diff', 'a.json', 'b.json', '--json']);
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  try {
    const at = argv.findIndex((arg) => !arg.startsWith('-'));
    if (at === -1) {
      if (argv.includes('-h') || argv.includes('--help')) {
        io.out(USAGE);
        return 0;
      }
      throw new UsageError(`missing command: expected "diff A.json B.json" (see --help)`);
    }
    const name = argv[at]!;
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command === undefined) {
      const known = Object.keys(COMMANDS).map((n) => JSON.stringify(n)).join(', ');
      throw new UsageError(`unknown command ${JSON.stringify(name)}: expected ${known} (see --help)`);
    }
    return await command.run([...argv.slice(0, at), ...argv.slice(at + 1)], io);
  } catch (err) {
    if (err instanceof UsageError || err instanceof MalformedInputError) {
      io.err(`buildtrace: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // The npm bin is a symlink to this file, so compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`buildtrace: internal error: ${errorMessage(err)}\n`);
      process.exitCode = 1;
    },
  );
}
