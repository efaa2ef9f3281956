// `npm run test:unit`: the quick tier, every test that runs in ava's own process (no Pub/Sub
// emulator, no Java, no browser, no child process, no benchmark), with the same tsx setup as
// package.json's `ava` section. A new test in these folders joins the tier by itself;
// test/tiers.test.ts (in both tiers) fails if a test here reaches child_process, the emulator or
// service-process fixtures, playwright or the bench through its imports, and if a test left out
// no longer needs to be. `npm test` still runs everything, these included.

/** Where the tests that run in process are, less the files below. */
const UNIT_GLOBS = [
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

export default {
  files: [...UNIT_GLOBS, ...Object.keys(NOT_UNIT).map((file) => `!${file}`)],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  timeout: '1m',
  workerThreads: false,
  concurrency: 2,
};
