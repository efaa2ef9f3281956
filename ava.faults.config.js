// `npm run test:faults`: the fault suite alone (test/faults, including test/faults/long, which the
// main `npm test` leaves out), with the same tsx setup as package.json's `ava` section. One file
// at a time: each starts a service process, some an emulator, and they measure memory.
export default {
  files: ['test/faults/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  timeout: '10m',
  workerThreads: false,
  concurrency: 1,
};
