/**
 * The memory row: RSS of a fresh process over many small pairs and 48 window rotations on a
 * simulated clock, warm-up (the first 24 hours, while retention fills) against the rest. Memory
 * must be bounded by retention, not by traffic.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { MemorySample } from './memory-child.js';
import { siblingScript } from './measure.js';
import type { BenchLine } from './table.js';

export interface MemoryRowOptions {
  readonly pairs: number;
  readonly hours: number;
  readonly log?: (text: string) => void;
}

/** Flat within 10% after warm-up. */
export const RSS_GROWTH_TARGET = 1.1;
/** Windows fill for 24 hours of retention plus the current one: that is the warm-up. */
const WARMUP_HOURS = 25;

const run = promisify(execFile);
const MB = 1024 * 1024;

/**
 * @example
 * await memoryRows({ pairs: 1_000_000, hours: 48 });
 */
export async function memoryRows(options: MemoryRowOptions): Promise<BenchLine[]> {
  options.log?.(`memory: ${options.pairs} pairs over ${options.hours} simulated hours in a child process`);
  const child = siblingScript('memory-child');
  const { stdout } = await run(process.execPath, [...child.execArgv, '--expose-gc', child.file, String(options.pairs), String(options.hours)], {
    maxBuffer: 16 * MB,
    timeout: 600_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { samples: MemorySample[]; seconds: number };
  const samples = result.samples;
  const warm = samples.find((s) => s.hour >= WARMUP_HOURS) ?? samples.at(-1)!;
  const after = samples.filter((s) => s.hour >= warm.hour);
  const final = samples.at(-1)!;
  const peak = after.reduce((m, s) => Math.max(m, s.rss), 0);
  const growth = peak / warm.rss;
  const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;
  return [
    {
      group: 'memory',
      what: `RSS over ${options.pairs.toLocaleString('en-US')} small pairs and ${options.hours} window rotations`,
      measured:
        `fresh process, simulated clock; RSS after warm-up (hour ${warm.hour}) ${mb(warm.rss)}, final ${mb(final.rss)}, ` +
        `peak after warm-up ${mb(peak)}; heap ${mb(warm.heapUsed)} → ${mb(final.heapUsed)}; windows held ${final.windows}; ` +
        `value = peak ÷ warm-up RSS (${result.seconds.toFixed(0)} s)`,
      value: growth,
      shown: growth.toFixed(3),
      target: `≤ ${RSS_GROWTH_TARGET} (flat within 10%)`,
      met: growth <= RSS_GROWTH_TARGET,
      details: { samples, warmupHours: WARMUP_HOURS },
    },
  ];
}
