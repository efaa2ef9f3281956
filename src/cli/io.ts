/** What every `buildtrace` subcommand shares: its output streams and the one-line usage error. */

/** A problem the user can fix: printed as one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** One subcommand: `run` gets the arguments after its name and returns the exit status. */
export interface CliCommand {
  /** One line for the top-level help. */
  readonly synopsis: string;
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

/** parseArgs explains at length; the first sentence is the one-line error we want. */
export function usageErrorFrom(err: unknown): UsageError {
  const first = (err as Error).message.split(/\.(?:\s|$)|\n/)[0] || 'bad arguments';
  return new UsageError(`${first} (see --help)`);
}
