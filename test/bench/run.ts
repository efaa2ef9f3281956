/**
 * Entry point of `npm run bench` (`node dist/test/bench/run.js [--quick] [--only ROW,…] [--json FILE]`):
 * prints the table and writes bench-results.json. Exit status 2 for bad arguments, else 0:
 * a benchmark reports, it does not gate.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GROUPS, renderReport, runBench, type Group } from './bench.js';

const USAGE = `Usage: npm run bench -- [--quick] [--only ROW[,ROW…]] [--json FILE]

Rows: ${GROUPS.join(', ')} (default: all, two to three minutes on two cores).
  --quick      small sizes and few runs, for a smoke run
  --only ROW   run only these rows (repeat the flag or separate with commas)
  --json FILE  where to write the results (default bench-results.json)
`;

function parse(argv: string[]): { quick: boolean; only: Set<Group> | null; json: string } | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string', multiple: true },
      json: { type: 'string', default: 'bench-results.json' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  let only: Set<Group> | null = null;
  if (values.only) {
    only = new Set();
    for (const name of values.only.flatMap((o) => o.split(',')).map((o) => o.trim()).filter(Boolean)) {
      if (!(GROUPS as readonly string[]).includes(name)) throw new Error(`--only ${JSON.stringify(name)} is not a row; rows are ${GROUPS.join(', ')}`);
      only.add(name as Group);
    }
  }
  return { quick: values.quick, only, json: values.json };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message.split('\n')[0]}\n`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const report = await runBench({ quick: args.quick, only: args.only, log: (text) => process.stderr.write(`bench: ${text}\n`) });
  process.stdout.write(renderReport(report));
  writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`bench: results written to ${args.json}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
