/**
 * The event-loop row: the longest stall of the main thread while one 100,000-object pair goes
 * through the service's diff stage (the same routing: pairs above WORKER_THRESHOLD_OBJECTS go to
 * the worker pool), measured with `monitorEventLoopDelay`, and the same pair diffed inline for
 * contrast.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config.js';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { diffPair, estimatedObjects, type DiffRequest } from '../../streams/diff/diff-pair.js';
import { DiffWorkerPool } from '../../streams/diff/worker-pool.js';
import { reexportedPair } from './match-row.js';
import { formatMs, median, nowMs } from './measure.js';
import type { BenchLine } from './table.js';

export interface StallRowOptions {
  readonly objects: number;
  readonly runs: number;
  readonly log?: (text: string) => void;
}

export const STALL_TARGET_MS = 50;

/** Longest event-loop delay (ms) while `work` runs, sampled every ms. */
export async function longestStall(work: () => Promise<unknown>): Promise<{ maxMs: number; elapsedMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  // The sampler records the gap between two of its ticks: it must have ticked before the work
  // starts, or a stall right at the start goes unseen (and reset() would forget that tick).
  await new Promise((r) => setTimeout(r, 20));
  const start = nowMs();
  await work();
  const elapsedMs = nowMs() - start;
  // One more turn so a stall at the very end is sampled.
  await new Promise((r) => setTimeout(r, 20));
  h.disable();
  // The histogram holds delays beyond the sampling interval, in ns.
  return { maxMs: h.max / 1e6, elapsedMs };
}

/**
 * @example
 * await stallRows({ objects: 100_000, runs: 3 });
 */
export async function stallRows(options: StallRowOptions): Promise<BenchLine[]> {
  options.log?.(`stall: one ${options.objects}-object pair through the diff stage`);
  const config = loadConfig({});
  const [a, b] = generatePair(createRandom(100), { objects: options.objects });
  const request: DiffRequest = {
    drawingId: 'bench-large',
    tolerance: config.moveTolerance,
    pair: { a: { kind: 'bytes', bytes: Buffer.from(JSON.stringify(a)) }, b: { kind: 'bytes', bytes: Buffer.from(JSON.stringify(b)) } },
  };
  // The routing of src/service.ts: large pairs go to the worker pool.
  const pool = new DiffWorkerPool(1);
  const viaWorker = estimatedObjects(request.pair) > config.workerThreshold;
  const stage = (r: DiffRequest) => (viaWorker ? pool.run(r) : Promise.resolve(diffPair(r)));
  // A re-export with every id regenerated, matched by geometry (MATCH_FALLBACK=auto) on the same route.
  const reexport = reexportedPair(options.objects);
  const matched: DiffRequest = {
    drawingId: 'bench-reexport',
    tolerance: config.moveTolerance,
    match: 'auto',
    radius: config.matchRadius,
    pair: { a: { kind: 'bytes', bytes: Buffer.from(JSON.stringify(reexport.a)) }, b: { kind: 'bytes', bytes: Buffer.from(JSON.stringify(reexport.b)) } },
  };
  const stalls: number[] = [];
  const times: number[] = [];
  const inline: number[] = [];
  const matchedStalls: number[] = [];
  const matchedTimes: number[] = [];
  try {
    await stage(request); // warm-up: worker start-up and JIT
    for (let run = 0; run < options.runs; run++) {
      const { maxMs, elapsedMs } = await longestStall(() => stage(request));
      stalls.push(maxMs);
      times.push(elapsedMs);
    }
    await stage(matched);
    for (let run = 0; run < options.runs; run++) {
      const { maxMs, elapsedMs } = await longestStall(() => stage(matched));
      matchedStalls.push(maxMs);
      matchedTimes.push(elapsedMs);
    }
    for (let run = 0; run < Math.min(2, options.runs); run++) {
      inline.push((await longestStall(async () => diffPair(request))).maxMs);
    }
  } finally {
    await pool.close();
  }
  const stall = median(stalls);
  const label = options.objects.toLocaleString('en-US');
  return [
    {
      group: 'stall',
      what: `a ${label}-object pair: longest event-loop stall`,
      measured:
        `monitorEventLoopDelay max while the diff stage (${viaWorker ? 'worker pool' : 'inline: below WORKER_THRESHOLD_OBJECTS'}) ` +
        `parses, validates and diffs it in ${formatMs(median(times))}; median of ${options.runs} runs`,
      value: stall,
      shown: formatMs(stall),
      target: `< ${STALL_TARGET_MS} ms`,
      met: stall < STALL_TARGET_MS,
      details: { objects: options.objects, viaWorker, stallsMs: stalls, elapsedMs: times, bytes: request.pair.a.kind === 'bytes' ? request.pair.a.bytes.length * 2 : null },
    },
    {
      group: 'stall',
      what: `a re-exported ${label}-object pair matched by geometry: longest event-loop stall`,
      measured: `the same stage with MATCH_FALLBACK=auto, every id regenerated, 1% moved, done in ${formatMs(median(matchedTimes))}; median of ${options.runs} runs`,
      value: median(matchedStalls),
      shown: formatMs(median(matchedStalls)),
      target: `< ${STALL_TARGET_MS} ms`,
      met: median(matchedStalls) < STALL_TARGET_MS,
      details: { objects: options.objects, viaWorker: estimatedObjects(matched.pair) > config.workerThreshold, stallsMs: matchedStalls, elapsedMs: matchedTimes },
    },
    {
      group: 'stall',
      what: `the same pair diffed on the main thread (contrast)`,
      measured: 'diffPair inline: the stall the worker pool avoids',
      value: median(inline),
      shown: formatMs(median(inline)),
      target: '—',
      met: null,
      details: { stallsMs: inline },
    },
  ];
}
