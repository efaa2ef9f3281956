/**
 * Runs the real embedded service in the test's own process (real local queue, real SQLite store,
 * real Koa server on a free port) and gives the API tests small helpers to talk to it, so each
 * test file states behaviour instead of plumbing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type Service } from '../../src/service.js';
import { DATABASE_FILE } from '../../src/infra/sqlite/database.js';
import { REPO_ROOT, waitFor } from './in-process.js';

export interface ApiService {
  readonly url: string;
  readonly dataDir: string;
  readonly inputDir: string;
  readonly config: Config;
  readonly service: Service;
}

/**
 * Starts the service on 127.0.0.1, port 0, with a fresh DATA_DIR (and its `input` folder), and
 * stops it and removes the directory when the test ends. `env` overrides or adds variables.
 *
 * @example
 * const api = await startApi(t, { MAX_BODY_BYTES: '2048' });
 * const res = await call(`${api.url}/healthz`);
 */
export async function startApi(t: ExecutionContext, env: Record<string, string> = {}): Promise<ApiService> {
  const api = await launchApi(env);
  t.teardown(() => api.close());
  return api;
}

/**
 * Like `startApi`, for a service shared by a whole file (`test.before` / `test.after.always`):
 * the caller must `close()` it.
 */
export async function launchApi(env: Record<string, string> = {}): Promise<ApiService & { close(): Promise<void> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'buildtrace-api-'));
  const inputDir = path.join(dataDir, 'input');
  mkdirSync(inputDir, { recursive: true });
  let service: Service;
  let config: Config;
  try {
    config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', CONCURRENCY: '2', LOG_LEVEL: 'silent', ...env });
    service = await startService(config, silentLogger);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: service.url,
    dataDir,
    inputDir,
    config,
    service,
    async close() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The raw body, for checks that must not depend on parsing (stack traces, paths). */
  readonly text: string;
  /** The parsed body, or undefined when it is not JSON. */
  readonly body: any;
}

/** `fetch` that always reads the body, so the connection is released before the next request. */
export async function call(url: string, init: RequestInit = {}): Promise<ApiResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** POSTs `body` as JSON (a string is sent as is, so tests can send broken or non-finite JSON). */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse> {
  return call(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/**
 * Frames and source locations that would betray a stack trace or the server's code layout (a
 * message may echo the client's own input, so a path the client sent is not a leak).
 */
const LEAKS = [
  /\n\s*at /,
  /\bat [\w.<>]+ \(/,
  /node_modules/,
  /\.[cm]?[jt]s:\d+/,
  new RegExp(REPO_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
];

/**
 * Asserts an error answer: the status, a body that is exactly `{"error": {"code", "message"}}`
 * with non-empty strings, the expected code when given, and no stack trace or source path.
 */
export function assertError(t: ExecutionContext, res: ApiResponse, status: number, code?: string, message?: RegExp): void {
  t.is(res.status, status, `status for ${res.text}`);
  t.regex(res.headers.get('content-type') ?? '', /^application\/json/);
  t.deepEqual(Object.keys(res.body ?? {}), ['error'], res.text);
  t.deepEqual(Object.keys(res.body?.error ?? {}).sort(), ['code', 'message'], res.text);
  t.is(typeof res.body?.error?.code, 'string');
  t.is(typeof res.body?.error?.message, 'string');
  t.true((res.body?.error?.message ?? '').length > 0);
  if (code !== undefined) t.is(res.body?.error?.code, code, res.text);
  if (message !== undefined) t.regex(res.body?.error?.message ?? '', message);
  for (const leak of LEAKS) t.notRegex(res.text, leak, `error body leaks ${leak}`);
}

export interface JobStatusBody {
  readonly job_id: string;
  readonly tasks_created: number;
  readonly completed: number;
  readonly failed: number;
  readonly pending: number;
}

/** Polls `GET /jobs/:id` until nothing is pending, and returns the final status. */
export async function waitForJob(url: string, jobId: string, timeoutMs = 30_000): Promise<JobStatusBody> {
  return waitFor(
    async () => {
      const res = await call(`${url}/jobs/${encodeURIComponent(jobId)}`);
      if (res.status !== 200) throw new Error(`GET /jobs/${jobId} answered ${res.status}: ${res.text}`);
      const job = res.body as JobStatusBody;
      return job.pending === 0 ? job : undefined;
    },
    timeoutMs,
    `job ${jobId} to finish`,
  );
}

/** Writes `<inputDir>/<folder>/<drawingId>/version_a.json` (and `version_b.json` unless b is undefined). */
export function writePair(inputDir: string, folder: string, drawingId: string, a: unknown, b?: unknown): string {
  const dir = path.join(inputDir, folder, drawingId);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'version_a.json'), typeof a === 'string' ? a : JSON.stringify(a));
  if (b !== undefined) writeFileSync(path.join(dir, 'version_b.json'), typeof b === 'string' ? b : JSON.stringify(b));
  return path.posix.join(folder, drawingId);
}

export interface DeadLetterRow {
  readonly message_id: string;
  readonly data: string;
  readonly reason_code: string;
  readonly reason_message: string;
  readonly drawing_id: string | null;
}

/** The local dead-letter table as operators see it, read through a separate read-only connection. */
export function deadLetters(dataDir: string): DeadLetterRow[] {
  const db = new Database(path.join(dataDir, DATABASE_FILE), { readonly: true });
  try {
    return db
      .prepare<[], DeadLetterRow>(
        `SELECT message_id, CAST(data AS TEXT) AS data, reason_code, reason_message, drawing_id
         FROM dead_letters ORDER BY created_at, rowid`,
      )
      .all();
  } finally {
    db.close();
  }
}

/** One drawing object in the design's shape. */
export const obj = (id: string, type: string, x: number, y: number, width = 1, height = 1) => ({ id, type, x, y, width, height });
