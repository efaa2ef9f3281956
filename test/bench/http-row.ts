/**
 * The API-under-load row: the built service runs as its own process (as `npm start` does) while
 * the pipeline is kept busy by a steady feed of pairs through `POST /process`, and autocannon
 * loads `GET /metrics` and `GET /changes` at a fixed rate, each from a process of its own. At the
 * same time and rate a third autocannon loads the peer, a bare `node:http` server answering a
 * body of the same size: its p99 is the floor this machine sets, and each route's p99 is shown
 * against it as well as against the 5 ms target.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inlineTaskJson } from '../../src/simulate/inline-task.js';
import { scenarioItems } from '../../src/simulate/scenario.js';
import { freePort } from '../support/in-process.js';
import { siblingScript } from './measure.js';
import type { BenchLine } from './table.js';

export interface HttpRowOptions {
  /** Seconds each route is loaded. */
  readonly seconds: number;
  /** Requests per second to each route (fixed: autocannon's overallRate). */
  readonly rate: number;
  /** Pairs per second fed to the pipeline meanwhile. */
  readonly pairsPerSecond: number;
  readonly log?: (text: string) => void;
}

export const P99_TARGET_MS = 5;
const CONNECTIONS = 4;
const DRAWINGS = 200;

/**
 * The service as `npm start` runs it: the build's main.js, or main.ts through tsx. With
 * BENCH_PROFILE_DIR set, the service writes a V8 CPU profile there when it stops.
 */
function mainScript(): string[] {
  const ts = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`../../src/main.${ts ? 'ts' : 'js'}`, import.meta.url));
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  return [...profile, ...(ts ? ['--import', 'tsx'] : []), file];
}

export interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

export async function startChild(dataDir: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(process.execPath, mainScript(), {
    env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`service exited before it was ready: ${out}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) return { url, child, output: () => out };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`service not ready within 60 s: ${out}`);
}

export async function stopChild(running: Running): Promise<void> {
  if (running.child.exitCode !== null) return;
  const exited = once(running.child, 'exit');
  running.child.kill('SIGTERM');
  const timer = setTimeout(() => running.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function post(url: string, pairs: string[]): Promise<void> {
  const res = await fetch(`${url}/process`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: `{"version_pairs":[${pairs.join(',')}]}`,
  });
  await res.text();
  if (res.status !== 202) throw new Error(`POST /process answered ${res.status}`);
}

export async function processed(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  const body = (await res.json()) as { hourly_stats?: Record<string, { pairs?: number }> };
  return Object.values(body.hourly_stats ?? {}).reduce((n, h) => n + (h.pairs ?? 0), 0);
}

/** The first line `child` prints, parsed as JSON. */
function firstLine<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(out.slice(0, newline)) as T);
    });
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code} before answering: ${err}`)));
  });
}

/** What load-child prints: autocannon's latency percentiles (ms) and failure counts. */
export interface LoadResult {
  readonly latency: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly requests: { readonly total: number };
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

/** One autocannon run at a fixed rate, in a process of its own (load-child). */
export function load(url: string, rate: number, seconds: number): Promise<LoadResult> {
  const script = siblingScript('load-child');
  const child = spawn(process.execPath, [...script.execArgv, script.file, url, String(rate), String(CONNECTIONS), String(seconds)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return firstLine<LoadResult>(child, `autocannon on ${url}`);
}

export interface BarePeer {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBarePeer(bodyBytes: number): Promise<BarePeer> {
  const script = siblingScript('bare-http-server');
  const child = spawn(process.execPath, [...script.execArgv, script.file, String(bodyBytes)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { port } = await firstLine<{ port: number }>(child, 'the bare HTTP server');
  return {
    url: `http://127.0.0.1:${port}/`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Sends each URL `count` requests, one at a time: lazy loading and the JIT are done before timing. */
async function warmUp(urls: readonly string[], count: number): Promise<void> {
  for (const url of urls) {
    for (let i = 0; i < count; i++) await (await fetch(url)).arrayBuffer();
  }
}

/** Posts `perSecond` pairs a second in ten slices until stopped; returns how many it posted. */
function feed(url: string, perSecond: number, items: Iterator<string>): { stop(): Promise<number> } {
  let posted = 0;
  let stopped = false;
  const slice = Math.max(1, Math.round(perSecond / 10));
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      const batch: string[] = [];
      for (let i = 0; i < slice; i++) batch.push(items.next().value as string);
      await post(url, batch);
      posted += batch.length;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return posted;
    },
  };
}

/**
 * @example
 * await httpRows({ seconds: 10, rate: 100, pairsPerSecond: 200 });
 */
export async function httpRows(options: HttpRowOptions): Promise<BenchLine[]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'buildtrace-bench-'));
  options.log?.('http: starting the service and the bare node:http peer');
  const service = await startChild(dataDir);
  let peer: BarePeer | null = null;
  const lines: BenchLine[] = [];
  try {
    // A history to answer from: every drawing has results before the load starts.
    const items = (function* () {
      for (const item of scenarioItems({ seed: 8080, pairs: 10_000_000, objects: 10, drawings: DRAWINGS })) yield inlineTaskJson(item);
    })();
    const initial: string[] = [];
    for (let i = 0; i < DRAWINGS; i++) initial.push(items.next().value as string);
    await post(service.url, initial);
    const deadline = Date.now() + 60_000;
    while ((await processed(service.url)) < DRAWINGS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    const routes = ['/metrics', '/changes?drawing_id=drawing_0007'] as const;
    const metricsBytes = (await (await fetch(`${service.url}/metrics`)).arrayBuffer()).byteLength;
    peer = await startBarePeer(metricsBytes);
    await warmUp([...routes.map((r) => `${service.url}${r}`), peer.url], 200);

    options.log?.(
      `http: ${routes.join(', ')} and the bare peer at ${options.rate}/s each for ${options.seconds} s while feeding ${options.pairsPerSecond} pairs/s`,
    );
    const before = await processed(service.url);
    const feeder = feed(service.url, options.pairsPerSecond, items);
    let results: LoadResult[];
    try {
      // The feed runs a second first, so the pipeline is busy when timing starts.
      await new Promise((r) => setTimeout(r, 1_000));
      results = await Promise.all([...routes.map((r) => `${service.url}${r}`), peer.url].map((url) => load(url, options.rate, options.seconds)));
    } finally {
      await feeder.stop();
    }
    const during = (await processed(service.url)) - before;
    const bare = results[routes.length]!;
    const setup =
      `autocannon at ${options.rate} req/s fixed rate, ${CONNECTIONS} connections, ${options.seconds} s, one process per target, ` +
      `the two routes and the peer at once while the pipeline stored ${during} pairs`;
    const failedOf = (r: LoadResult) => r.errors + r.timeouts + r.non2xx;
    const shape = (r: LoadResult) => `${r.requests.total} requests (p50 ${r.latency.p50} ms, p90 ${r.latency.p90} ms, max ${r.latency.max} ms, ${failedOf(r)} failed)`;
    routes.forEach((route, i) => {
      const result = results[i]!;
      const p99 = result.latency.p99;
      const ratio = bare.latency.p99 > 0 ? p99 / bare.latency.p99 : null;
      lines.push({
        group: 'http',
        what: `GET ${route.split('?')[0]} p99 under load`,
        measured: `${setup}; ${shape(result)}; ${ratio === null ? 'the peer p99 was 0 ms' : `${ratio.toFixed(2)}× the bare peer's p99`}`,
        value: p99,
        shown: `${p99} ms`,
        target: `< ${P99_TARGET_MS} ms`,
        met: failedOf(result) === 0 && p99 < P99_TARGET_MS,
        details: { route, latency: result.latency, requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, pipelinePairs: during, ratioToPeer: ratio },
      });
    });
    lines.push({
      group: 'http',
      what: `the peer: a bare node:http server, ${metricsBytes}-byte body, p99 at the same time (the machine's floor)`,
      measured: `${setup}; ${shape(bare)}`,
      value: bare.latency.p99,
      shown: `${bare.latency.p99} ms`,
      target: '—',
      met: null,
      details: { bodyBytes: metricsBytes, latency: bare.latency, requests: bare.requests.total, errors: bare.errors, timeouts: bare.timeouts, non2xx: bare.non2xx },
    });
  } finally {
    await peer?.stop();
    await stopChild(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return lines;
}
