/**
 * Starts and stops the official Pub/Sub emulator (shipped with the Google Cloud CLI) so tests run
 * the real client against a real broker; it fails loudly when the emulator is missing, never skips.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PubSub, type Message } from '@google-cloud/pubsub';

export interface RunningEmulator {
  /** `127.0.0.1:PORT`, the value for `PUBSUB_EMULATOR_HOST` or the client's `apiEndpoint`. */
  readonly host: string;
  readonly projectId: string;
  stop(): Promise<void>;
}

export class EmulatorUnavailableError extends Error {
  override readonly name = 'EmulatorUnavailableError';
  readonly code = 'pubsub_emulator_unavailable' as const;
}

const PROJECT_ID = 'buildtrace-test';
/** A cold JVM on a busy 2-core machine can take a while; CI must not flake on start-up. */
const START_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 5_000;

/** Process groups we started and have not yet reaped, killed on exit if a test run crashes. */
const liveGroups = new Set<number>();
/** Data dirs not yet removed, removed on exit for the same reason. */
const liveDirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Starts a fresh emulator on a free port of 127.0.0.1 and waits until it answers.
 *
 * @example
 * test.before(async (t) => { t.context.emulator = await startEmulator(); });
 * test.after.always(async (t) => { await t.context.emulator.stop(); });
 */
export async function startEmulator(): Promise<RunningEmulator> {
  const port = await freePort();
  installExitHook();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'buildtrace-pubsub-'));
  liveDirs.add(dataDir);
  let command: Command;
  try {
    command = emulatorCommand(port, dataDir);
  } catch (err) {
    removeDir(dataDir);
    throw err;
  }

  // detached: the emulator is a java process (under gcloud, a grandchild) that outlives its
  // parent; its own process group lets stop() signal the whole tree at once.
  const child = spawn(command.file, command.args, {
    cwd: dataDir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PUBSUB_EMULATOR_HOST: '' },
  });
  const pid = child.pid;
  if (pid === undefined) {
    removeDir(dataDir);
    throw new EmulatorUnavailableError(`could not spawn ${command.file}`);
  }
  liveGroups.add(pid);
  const output = captureTail(child);

  const host = `127.0.0.1:${port}`;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= stopGroup(pid, child).finally(() => removeDir(dataDir));
    return stopped;
  };

  try {
    await waitUntilAnswering(port, child, output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, projectId: PROJECT_ID, stop };
}

interface Command {
  readonly file: string;
  readonly args: string[];
}

/** The emulator binary directly (fast, one process) if we can find it, else `gcloud beta`. */
function emulatorCommand(port: number, dataDir: string): Command {
  const binary = findEmulatorBinary();
  if (binary) return { file: binary, args: [`--host=127.0.0.1`, `--port=${port}`] };
  if (onPath('gcloud')) {
    return {
      file: 'gcloud',
      args: ['beta', 'emulators', 'pubsub', 'start', `--host-port=127.0.0.1:${port}`, `--data-dir=${dataDir}`, '--quiet'],
    };
  }
  throw new EmulatorUnavailableError(
    'The Pub/Sub emulator is not installed: install the Google Cloud CLI with its ' +
      '"pubsub-emulator" component (`gcloud components install pubsub-emulator beta`, or the ' +
      '`google-cloud-cli-pubsub-emulator` apt package) and Java 17+, then rerun the tests.',
  );
}

function findEmulatorBinary(): string | null {
  const roots = [
    process.env.CLOUDSDK_ROOT_DIR,
    '/usr/lib/google-cloud-sdk',
    '/usr/share/google-cloud-sdk',
    '/opt/google-cloud-sdk',
    path.join(os.homedir(), 'google-cloud-sdk'),
  ].filter((r): r is string => Boolean(r));
  if (onPath('gcloud')) {
    try {
      const root = execFileSync('gcloud', ['info', '--format=value(installation.sdk_root)'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 30_000,
      }).trim();
      if (root) roots.push(root);
    } catch {
      // gcloud is present but broken: fall through to the known locations and the gcloud command.
    }
  }
  for (const root of roots) {
    const candidate = path.join(root, 'platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function onPath(file: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, file)));
}

/** Binds port 0 to let the kernel choose, then releases it for the emulator. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/** Keeps the last few KB of the emulator's output for the error message when it fails to start. */
function captureTail(child: ChildProcess): { text(): string } {
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { text: () => tail };
}

/** The emulator's REST root answers `Ok` once the server is up; poll until then. */
async function waitUntilAnswering(port: number, child: ChildProcess, output: { text(): string }): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited: string | null = null;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  while (Date.now() < deadline) {
    if (exited) {
      throw new EmulatorUnavailableError(`Pub/Sub emulator ${exited} before answering:\n${output.text()}`);
    }
    if (await answers(port)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new EmulatorUnavailableError(
    `Pub/Sub emulator did not answer on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${output.text()}`,
  );
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'GET', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** SIGTERM the group, SIGKILL it after a grace, and resolve once the direct child has exited. */
async function stopGroup(pid: number, child: ChildProcess): Promise<void> {
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  signalGroup(pid, 'SIGTERM');
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), STOP_GRACE_MS).unref());
  if ((await Promise.race([exited, timer])) === 'timeout') {
    signalGroup(pid, 'SIGKILL');
    await exited;
  }
  // The java grandchild under gcloud may linger after gcloud itself exits.
  signalGroup(pid, 'SIGKILL');
  liveGroups.delete(pid);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveGroups) signalGroup(pid, 'SIGKILL');
    for (const dir of liveDirs) removeDir(dir);
  });
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/**
 * A real client pointed at the emulator. The emulator needs no credentials; turning off the GCE
 * metadata probe keeps the client from warning that it found no metadata server.
 */
export function emulatorClient(emulator: Pick<RunningEmulator, 'host' | 'projectId'>): PubSub {
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  return new PubSub({ projectId: emulator.projectId, apiEndpoint: emulator.host });
}

/** A Pub/Sub id no other test uses (ids need at least 3 characters and must start with a letter). */
export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Receives and acks messages from a subscription until `count` have arrived, or rejects after
 * `timeoutMs` naming how many did; `settleMs` then keeps listening to catch unexpected extras.
 */
export async function receiveMessages(
  pubsub: PubSub,
  subscription: string,
  count: number,
  { timeoutMs = 30_000, settleMs = 0 }: { timeoutMs?: number; settleMs?: number } = {},
): Promise<Message[]> {
  const received: Message[] = [];
  const sub = pubsub.subscription(subscription);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`received ${received.length} of ${count} messages on ${subscription} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      sub.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sub.on('message', (message: Message) => {
        message.ack();
        received.push(message);
        if (received.length === count) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    await sub.close();
  }
  return received;
}
