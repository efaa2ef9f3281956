/**
 * The API-under-load row: the built service runs as its own process (as `npm start` does) while
 * the pipeline is kept busy by a steady feed of pairs through `POST /process`, and autocannon
 * sends `GET /metrics`, `GET /changes` and (as the floor) `GET /healthz` at a fixed rate from this
 * process, all three at once; the row is each route's p99 latency.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { inlineTaskJson } from '../../src/simulate/inline-task.js';
import { scenarioItems } from '../../src/simulate/scenario.js';
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

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  output(): string;
}

async function startChild(dataDir: string): Promise<Running> {
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

async function stopChild(running: Running): Promise<void> {
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

async function processed(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  const body = (await res.json()) as { hourly_stats?: Record<string, { pairs?: number }> };
  return Object.values(body.hourly_stats ?? {}).reduce((n, h) => n + (h.pairs ?? 0), 0);
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
  options.log?.('http: starting the service');
  const service = await startChild(dataDir);
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

    // All three routes are loaded at once, side by side: /healthz does no work, so its p99 under
    // the very same load is the floor the machine and the pipeline set.
    const routes = ['/metrics', '/changes?drawing_id=drawing_0007', '/healthz'] as const;
    options.log?.(`http: ${routes.join(', ')} at ${options.rate}/s each for ${options.seconds} s while feeding ${options.pairsPerSecond} pairs/s`);
    const before = await processed(service.url);
    const feeder = feed(service.url, options.pairsPerSecond, items);
    let results;
    try {
      results = await Promise.all(
        routes.map((route) =>
          autocannon({ url: `${service.url}${route}`, connections: CONNECTIONS, duration: options.seconds, overallRate: options.rate, timeout: 10 }),
        ),
      );
    } finally {
      await feeder.stop();
    }
    const during = (await processed(service.url)) - before;
    routes.forEach((route, i) => {
      const result = results[i]!;
      const floor = route === '/healthz';
      const bad = result.errors + result.timeouts + result.non2xx;
      const p99 = result.latency.p99;
      lines.push({
        group: 'http',
        what: floor ? 'GET /healthz p99, same load, same time (the floor: a route that does no work)' : `GET ${route.split('?')[0]} p99 under load`,
        measured:
          `autocannon on 127.0.0.1, ${options.rate} req/s fixed rate, ${CONNECTIONS} connections, ${options.seconds} s, the three routes at once; ` +
          `${result.requests.total} requests (p50 ${result.latency.p50} ms, p90 ${result.latency.p90} ms, max ${result.latency.max} ms, ${bad} failed); ` +
          `the pipeline stored ${during} pairs meanwhile`,
        value: p99,
        shown: `${p99} ms`,
        target: floor ? '—' : `< ${P99_TARGET_MS} ms`,
        met: floor ? null : bad === 0 && p99 < P99_TARGET_MS,
        details: { route, latency: result.latency, requests: result.requests.total, errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, pipelinePairs: during },
      });
    });
  } finally {
    await stopChild(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return lines;
}
