/**
 * `npm start` exactly as a new user runs it: no configuration, port 8080, data in ./data; SIGTERM
 * to npm reaches the service, which exits 0, and a killed npm does not leave an orphan on the port.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { REPO_ROOT, getJson, sleep, waitFor } from '../support/service-process.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function startNpm() {
  // No PORT, DATA_DIR or anything else: only what a shell has.
  const child = spawn(npm, ['start'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, output: () => output };
}

const healthy = async () => ((await getJson('http://127.0.0.1:8080/healthz')).status === 200 ? true : undefined);
const down = async () => {
  try {
    await fetch('http://127.0.0.1:8080/healthz');
    return undefined;
  } catch {
    return true;
  }
};

test.serial('npm start serves on 8080 with no configuration and exits 0 on SIGTERM', async (t) => {
  const run = startNpm();
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitFor(healthy, 90_000, `npm start to serve on 8080:\n${run.output()}`);
  const ready = await getJson('http://127.0.0.1:8080/readyz');
  t.is(ready.status, 200);
  const metrics = await getJson('http://127.0.0.1:8080/metrics');
  t.is(metrics.status, 200);
  t.true('hourly_stats' in metrics.body);

  run.child.kill('SIGTERM');
  const [code, signal] = await run.exited;
  t.deepEqual({ code, signal }, { code: 0, signal: null }, run.output());
  t.true(await waitFor(down, 10_000, 'the port to be released'));
});

test.serial('a SIGKILLed npm leaves no orphan holding the port', async (t) => {
  const run = startNpm();
  t.teardown(() => run.child.kill('SIGKILL'));
  await waitFor(healthy, 90_000, `npm start to serve on 8080:\n${run.output()}`);
  run.child.kill('SIGKILL');
  await run.exited;
  t.true(await waitFor(down, 15_000, 'the orphaned service to exit'));
  await sleep(0);
});
