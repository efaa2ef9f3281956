/**
 * The large-read row (issue 15): `/healthz` p99 while three clients read the largest stored
 * result, ÷ the bare `node:http` peer's p99 at the same time and rate. Before results were paged,
 * three reads of a 200,000-object result stalled `/healthz` for 15 s; now each client follows
 * `GET /changes` and its `next` links page by page, and the embedded store parses on a worker.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { load, processed, startBarePeer, startChild, stopChild, type BarePeer, type LoadResult } from './http-row.js';
import type { BenchLine } from './table.js';

export interface LargeReadRowOptions {
  /** Objects per version of the stored result; every one moves. */
  readonly objects: number;
  readonly seconds: number;
  /** Requests per second to `/healthz` and to the peer. */
  readonly rate: number;
  readonly log?: (text: string) => void;
}

const READERS = 3;
const DRAWING = 'LARGEST';

function version(objects: number, dx: number): string {
  const parts: string[] = [];
  for (let i = 0; i < objects; i++) parts.push(`{"id":"O${i}","type":"door","x":${i + dx},"y":${i % 97},"width":1,"height":2}`);
  return `[${parts.join(',')}]`;
}

/**
 * One client reading the whole result again and again, page by page, until stopped. An answer
 * that is not a 200 (a read past its deadline on a loaded machine) is counted and the read
 * starts over, so the row reports it instead of failing.
 */
function reader(url: string, stop: () => boolean): Promise<{ reads: number; items: number; refused: number }> {
  return (async () => {
    let reads = 0;
    let items = 0;
    let refused = 0;
    const get = async <T>(path: string): Promise<T | null> => {
      const res = await fetch(`${url}${path}`);
      if (res.status === 200) return (await res.json()) as T;
      await res.arrayBuffer();
      refused += 1;
      await new Promise((r) => setTimeout(r, 100));
      return null;
    };
    while (!stop()) {
      const first = await get<{ moved: unknown[]; next?: Record<string, string> }>(`/changes?drawing_id=${DRAWING}`);
      if (!first) continue;
      items += first.moved.length;
      let next = first.next?.moved ?? null;
      let whole = true;
      while (next && !stop()) {
        const page = await get<{ items: unknown[]; next: string | null }>(next);
        if (!page) {
          whole = false;
          break;
        }
        items += page.items.length;
        next = page.next;
      }
      if (whole && !next) reads += 1;
    }
    return { reads, items, refused };
  })();
}

/**
 * @example
 * await largeReadRows({ objects: 200_000, seconds: 10, rate: 100 });
 */
export async function largeReadRows(options: LargeReadRowOptions): Promise<BenchLine[]> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'buildtrace-bench-large-'));
  const folder = path.join(dataDir, 'input', 'large', DRAWING);
  mkdirSync(folder, { recursive: true });
  writeFileSync(path.join(folder, 'version_a.json'), version(options.objects, 0));
  writeFileSync(path.join(folder, 'version_b.json'), version(options.objects, 5));
  options.log?.(`reads: storing a ${options.objects.toLocaleString('en-US')}-object result`);
  const service = await startChild(dataDir);
  let peer: BarePeer | null = null;
  try {
    const res = await fetch(`${service.url}/process`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ storage_path: 'large' }),
    });
    if (res.status !== 202) throw new Error(`POST /process answered ${res.status}: ${await res.text()}`);
    const deadline = Date.now() + 300_000;
    while ((await processed(service.url)) < 1) {
      if (Date.now() > deadline) throw new Error('the large pair was not stored within 300 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const healthzBytes = (await (await fetch(`${service.url}/healthz`)).arrayBuffer()).byteLength;
    // the peer pads its body to the size asked, from 30 bytes up
    peer = await startBarePeer(Math.max(30, healthzBytes));

    options.log?.(`reads: /healthz and the peer at ${options.rate}/s for ${options.seconds} s while ${READERS} clients read the result`);
    let stopped = false;
    const readers = Array.from({ length: READERS }, () => reader(service.url, () => stopped));
    let results: LoadResult[];
    try {
      await new Promise((r) => setTimeout(r, 500));
      results = await Promise.all([`${service.url}/healthz`, peer.url].map((url) => load(url, options.rate, options.seconds)));
    } finally {
      stopped = true;
    }
    const read = await Promise.all(readers);
    const [healthz, bare] = results as [LoadResult, LoadResult];
    const ratio = bare.latency.p99 > 0 ? healthz.latency.p99 / bare.latency.p99 : null;
    const failed = healthz.errors + healthz.timeouts + healthz.non2xx;
    const items = read.reduce((n, r) => n + r.items, 0);
    const whole = read.reduce((n, r) => n + r.reads, 0);
    const refused = read.reduce((n, r) => n + r.refused, 0);
    return [
      {
        group: 'reads',
        what: `/healthz p99 while ${READERS} clients read the largest stored result ÷ the bare peer's p99`,
        measured:
          `a ${options.objects.toLocaleString('en-US')}-object result (every object moved), read whole through GET /changes and its next links by ${READERS} clients at once ` +
          `(${whole} whole reads, ${items.toLocaleString('en-US')} items, ${refused} reads not answered 200); autocannon at ${options.rate} req/s, 4 connections, ${options.seconds} s on /healthz and on the peer; ` +
          `/healthz p99 ${healthz.latency.p99} ms (max ${healthz.latency.max} ms, ${failed} failed), peer p99 ${bare.latency.p99} ms (max ${bare.latency.max} ms)`,
        value: ratio,
        shown: ratio === null ? '—' : ratio.toFixed(2),
        target: '≤ 2 (no stall)',
        met: ratio === null ? null : failed === 0 && ratio <= 2,
        details: { objects: options.objects, healthz: healthz.latency, peer: bare.latency, wholeReads: whole, items, refused, failed },
      },
    ];
  } finally {
    await peer?.stop();
    await stopChild(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
