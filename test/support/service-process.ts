/**
 * Runs the built service as a real child process (`node dist/src/main.js`, what `npm start` runs)
 * for end-to-end tests: a free port, a temporary DATA_DIR, readiness polling, and kill helpers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort, REPO_ROOT, sleep } from './in-process.js';

// The helpers that start no process live in in-process.ts, so the unit tier can use them without
// importing child_process; they are re-exported here for the tests that start the service.
export { freePort, getJson, postJson, REPO_ROOT, sleep, tempDir, waitFor } from './in-process.js';

export const MAIN = path.join(REPO_ROOT, 'dist/src/main.js');

export interface ServiceProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (null if killed by a signal) and the signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the built service and waits until `/readyz` answers 200. */
export async function startService(env: Record<string, string>, options: { ready?: boolean; timeoutMs?: number } = {}): Promise<ServiceProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const child = spawn(process.execPath, [MAIN], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    url,
    child,
    output: () => out,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  if (options.ready === false) return service;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  while (Date.now() < deadline) {
    if (exitedEarly) throw new Error(`service exited before it was ready:\n${out}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.status === 200) return service;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`service not ready after ${options.timeoutMs ?? 30_000} ms:\n${out}`);
}
