// `npm run test:unit`: the quick tier, every test that runs in ava's own process (no Pub/Sub
// emulator, no Java, no browser, no child process, no benchmark). A new test in these folders
// joins the tier by itself; test/tiers.test.ts (in both tiers) fails if a test here reaches
// child_process, the emulator or service-process fixtures, playwright or the bench through its
// imports, and if a test left out no longer needs to be. `npm test` still runs everything, these
// included, from the TypeScript through tsx.
//
// The tier runs the JavaScript that `tsc -p tsconfig.json` compiles into dist/test, in ava's worker
// threads: a fresh node process loading tsx costs about 1.2 s of CPU per test file, which was most
// of the tier's time; a worker thread on compiled code costs a small part of that.
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';

/** Where the tests that run in process are (as TypeScript sources), less the files below. */
export const UNIT_GLOBS = [
  'test/*.test.ts',
  'test/deploy/**/*.test.ts',
  'test/domain/**/*.test.ts',
  'test/overlay/**/*.test.ts',
  'test/server/**/*.test.ts',
  'test/setup/**/*.test.ts',
  'test/simulate/**/*.test.ts',
  'test/sinks/**/*.test.ts',
  'test/streams/**/*.test.ts',
  // The fault suite's other files each start a service process.
  'test/faults/local-endpoints.test.ts',
];

/** Tests matched above that need what the unit tier leaves out, and what that is. */
export const NOT_UNIT = {
  'test/cli.test.ts': 'runs the CLI as a child process',
  'test/config.test.ts': 'starts the built service as a child process',
  'test/deploy/alerts-fire.test.ts': 'starts the built service with SINKS=gcp on the local fakes',
  'test/dockerfile.test.ts': "replays the Dockerfile's build stage in a child process",
  'test/domain/drawing.test.ts': "runs the seed's Python oracle",
  'test/domain/python-format.test.ts': "runs the seed's Python oracle",
  'test/domain/seed-oracle.test.ts': "runs the seed's Python oracle",
  'test/server/overlay.test.ts': 'runs the CLI as a child process',
  'test/setup/setup.test.ts': 'starts the Pub/Sub emulator',
  'test/simulate/cli.test.ts': 'runs the simulator as a child process',
  'test/simulate/targets.test.ts': 'starts the Pub/Sub emulator and the built service',
  'test/sinks/local-store.test.ts': 'opens the store from several child processes at once',
  'test/streams/diff/worker-match.test.ts': "uses the bench's re-exported drawing pairs",
  'test/streams/load/local-files.test.ts': 'makes a FIFO with mkfifo',
  'test/streams/sources/local-queue.test.ts': 'kills child processes mid-publish',
  'test/streams/sources/pubsub-publisher.test.ts': 'starts the Pub/Sub emulator',
  'test/streams/sources/pubsub.test.ts': 'starts the Pub/Sub emulator',
};

/** `test/a/b.test.ts` as the file tsc compiles it to, `dist/test/a/b.test.js` (globs too). */
export const compiled = (source) => `dist/${source.replace(/\.ts$/, '.js')}`;

/**
 * Compiled tests whose TypeScript is gone: tsc never deletes its output, so a test removed or
 * renamed would otherwise still run from dist/test.
 */
function staleCompiledTests() {
  if (!existsSync('dist/test')) return [];
  return readdirSync('dist/test', { recursive: true, encoding: 'utf8' })
    .map((f) => `test/${f.split(path.sep).join('/')}`)
    .filter((f) => f.endsWith('.test.js') && !existsSync(f.replace(/\.js$/, '.ts')))
    .map((f) => `dist/${f}`);
}

/**
 * The files that take longest, in wall time each, alone, with temporary folders in memory
 * (seconds: listing-sizes 14–20, whose tests run serially; gcp 7–8.5; local-change-pages 7 and
 * result-object-deadline 6, mostly waiting out a busy timeout or a deadline; render 6.5; fuzz 5;
 * hostile 4.5; the Cloud Storage input's retries 4.5; bigquery-deadline and readiness 4).
 * Started first, so no long file begins as the last short ones end, and the waiting ones overlap
 * the busy ones; the rest keep ava's order. Only a schedule: a name missing here costs time, never
 * a test.
 */
const SLOWEST_FIRST = [
  'test/streams/load/listing-sizes.test.ts',
  'test/sinks/gcp.test.ts',
  'test/sinks/local-change-pages.test.ts',
  'test/overlay/render.test.ts',
  'test/sinks/result-object-deadline.test.ts',
  'test/server/fuzz.test.ts',
  'test/server/hostile.test.ts',
  'test/streams/load/cloud-storage.test.ts',
  'test/sinks/bigquery-deadline.test.ts',
  'test/server/readiness.test.ts',
].map(compiled);

const rank = (file) => {
  const i = SLOWEST_FIRST.findIndex((slow) => file.endsWith(slow));
  return i === -1 ? SLOWEST_FIRST.length : i;
};

/**
 * The tests' temporary folders (stores, queues, input trees of 5,000 folders) in memory where
 * Linux offers it: on disk, file creation and SQLite's fsyncs were half the tier's system time.
 * A TMPDIR the user set is kept.
 */
function memoryTmpdir() {
  if (process.env.TMPDIR) return {};
  try {
    accessSync('/dev/shm', constants.W_OK);
    return { TMPDIR: '/dev/shm' };
  } catch {
    return {};
  }
}

export default {
  files: [
    ...UNIT_GLOBS.map(compiled),
    ...Object.keys(NOT_UNIT).map((file) => `!${compiled(file)}`),
    ...staleCompiledTests().map((file) => `!${file}`),
  ],
  sortTestFiles: (a, b) => rank(a) - rank(b) || a.localeCompare(b),
  environmentVariables: memoryTmpdir(),
  timeout: '1m',
  workerThreads: true,
  // One file more than there are cores: a good part of the tier waits (on timers, busy timeouts,
  // the local fakes), and the extra file fills those waits; more than one extra only made the
  // CPU-bound files contend (measured on 2 cores: 2 files at once 57–65 s, 3 files 51–58 s, 4 no
  // better).
  concurrency: availableParallelism() + 1,
};
