/**
 * The outage row: how fast the built service (SOURCE=local SINKS=local) drains a backlog after a
 * sink outage, against its steady rate. The outage is real: this process holds the embedded
 * database's write lock while the backlog waits (the breaker opens, the stream pauses with the
 * held deliveries leased). The drain is measured from its first progress until the queue is
 * empty; the wait from the release to that first progress (the breaker's next probe) is shown
 * beside it.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { enqueueScenario } from '../support/fault-enqueue.js';
import { watchQueue } from '../support/fault-queue.js';
import { sleep, startService, tempDir } from '../support/service-process.js';
import { median } from './measure.js';
import type { BenchLine } from './table.js';

export interface OutageRowOptions {
  /** Tasks per phase (steady, then behind the outage). */
  readonly pairs: number;
  readonly outageMs: number;
  readonly runs: number;
  readonly log?: (text: string) => void;
}

/** A drain this much slower than steady means the breaker's probing is costing throughput. */
export const DRAIN_TARGET = 0.9;

/** Waits until the queue in `dataDir` is empty; returns when, in ms since the epoch. */
async function drained(read: () => { depth: number }, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (read().depth > 0) {
    if (Date.now() > deadline) throw new Error(`the queue did not drain within ${timeoutMs / 1000} s (${read().depth} left)`);
    await sleep(20);
  }
  return Date.now();
}

async function oneRun(options: OutageRowOptions, run: number): Promise<{ steady: number; drain: number; held: number; detectMs: number }> {
  const dataDir = tempDir('buildtrace-bench-outage-');
  const service = await startService(
    { SOURCE: 'local', SINKS: 'local', DATA_DIR: dataDir, CONCURRENCY: '2', SINK_PROBE_INITIAL_MS: '100', SINK_PROBE_MAX_MS: '1000', LOG_LEVEL: 'error' },
    { timeoutMs: 60_000 },
  );
  const queue = watchQueue(dataDir);
  try {
    const scenario = (seed: number) => ({ seed, pairs: options.pairs, objects: 10, modifiedRate: 0.1 });
    // steady: a backlog of `pairs` drained with the sink up
    await enqueueScenario(dataDir, scenario(1_000 + run), `steady-${run}`);
    // (the service consumes while the backlog is enqueued: what is left then is what is timed)
    const steadyFrom = Date.now();
    const steadyLeft = queue.read().depth;
    const steadyMs = Math.max(1, (await drained(() => queue.read(), 300_000)) - steadyFrom);

    // outage: the same backlog arrives while another connection holds the write lock
    const holder = new Database(path.join(dataDir, 'buildtrace.db'));
    await enqueueScenario(dataDir, scenario(2_000 + run), `outage-${run}`);
    holder.exec('BEGIN IMMEDIATE');
    await sleep(options.outageMs);
    const held = queue.read().depth;
    holder.exec('ROLLBACK');
    holder.close();
    const releasedAt = Date.now();
    // The breaker notices the sink is back at its next probe (jittered backoff): that wait is
    // reported apart from the drain's throughput, which is measured from the first progress.
    while (queue.read().depth >= held) await sleep(5);
    const resumedAt = Date.now();
    const left = queue.read().depth;
    const drainMs = Math.max(1, (await drained(() => queue.read(), 300_000)) - resumedAt);
    return { steady: steadyLeft / (steadyMs / 1000), drain: left / (drainMs / 1000), held, detectMs: resumedAt - releasedAt };
  } finally {
    queue.close();
    await service.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * @example
 * await outageRows({ pairs: 5000, outageMs: 5000, runs: 3 });
 */
export async function outageRows(options: OutageRowOptions): Promise<BenchLine[]> {
  const steady: number[] = [];
  const drain: number[] = [];
  const held: number[] = [];
  const detect: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    const r = await oneRun(options, run);
    steady.push(r.steady);
    drain.push(r.drain);
    held.push(r.held);
    detect.push(r.detectMs);
    options.log?.(
      `outage: run ${run + 1}: steady ${r.steady.toFixed(0)} pairs/s, drain after the outage ${r.drain.toFixed(0)} pairs/s ` +
        `(${r.held} waiting; first progress ${r.detectMs} ms after the release)`,
    );
  }
  const ratios = drain.map((d, i) => d / steady[i]!);
  const ratio = median(ratios);
  return [
    {
      group: 'outage',
      what: 'backlog drain after a sink outage ÷ steady rate',
      measured:
        `${options.pairs.toLocaleString('en-US')} 10-object pairs drained with the sink up (${median(steady).toFixed(0)} pairs/s), then ` +
        `a backlog held ${options.outageMs / 1000} s behind a SQLite write lock taken by another connection, drained from its first ` +
        `progress (${median(drain).toFixed(0)} pairs/s), which came ${median(detect).toFixed(0)} ms after the release (the breaker's next ` +
        `probe, SINK_PROBE_MAX_MS=1000 here); median of ${options.runs} run(s)`,
      value: ratio,
      shown: ratio.toFixed(2),
      target: `≥ ${DRAIN_TARGET}`,
      met: ratio >= DRAIN_TARGET,
      details: { steadyPairsPerSecond: steady, drainPairsPerSecond: drain, waitingAtRelease: held, firstProgressAfterReleaseMs: detect, ratios },
    },
  ];
}
