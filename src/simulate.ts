#!/usr/bin/env node
/**
 * `npm run simulate -- …`: the data simulator's entry point (the logic lives in `src/simulate/`),
 * so load and fault tests can drive the service with repeatable traffic and known ground truth.
 */
import { runSimulateCli } from './simulate/cli.js';
import { errorMessage } from './domain/errors.js';

// google-gax rejects a second, unobserved promise when credentials are missing, after the
// failure has been reported; only a rejection nobody has explained yet is an internal error.
process.on('unhandledRejection', (reason) => {
  if (process.exitCode !== undefined && process.exitCode !== 0) return;
  process.stderr.write(`simulate: internal error: ${errorMessage(reason)}\n`);
  process.exitCode = 1;
});

runSimulateCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`simulate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
