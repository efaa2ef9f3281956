/**
 * Timing helpers for benchmarks that compare rather than assert: interleaved side-by-side runs
 * so the machine's noise hits both sides of a ratio alike, medians over runs, and warm-ups so
 * the JIT has settled before anything counts.
 */
import { fileURLToPath } from 'node:url';

/** A script of this folder, as `.ts` under tsx or `.js` in the build, with the loader it needs. */
export function siblingScript(name: string): { file: string; execArgv: string[] } {
  const ts = import.meta.url.endsWith('.ts');
  return {
    file: fileURLToPath(new URL(`./${name}.${ts ? 'ts' : 'js'}`, import.meta.url)),
    execArgv: ts ? ['--import', 'tsx'] : [],
  };
}

/** High-resolution now, in ms. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Median of a non-empty list (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `fn` `iterations` times and returns ms per call. */
export function timeBatch(fn: () => unknown, iterations: number): number {
  let sink: unknown;
  const start = nowMs();
  for (let i = 0; i < iterations; i++) sink = fn();
  const elapsed = nowMs() - start;
  keep(sink);
  return elapsed / iterations;
}

/** Calls `fn` for about `ms` (twice at least), so the JIT has settled before anything counts. */
export function warm(fn: () => unknown, ms: number): void {
  const end = nowMs() + ms;
  let calls = 0;
  do {
    keep(fn());
    calls += 1;
  } while (calls < 2 || nowMs() < end);
}

/** How many calls of `fn` fill about `targetMs` (at least 1), measured after one call. */
export function calibrate(fn: () => unknown, targetMs: number): number {
  const one = Math.max(1e-4, timeBatch(fn, 1));
  const rough = Math.max(1, Math.floor(targetMs / one));
  // A second look with more calls: the first call is the slowest (cold caches, lazy compiles).
  const again = Math.max(1e-4, timeBatch(fn, Math.min(rough, 1000)));
  return Math.max(1, Math.round(targetMs / again));
}

export interface SideBySideOptions {
  /** Measured runs; each figure is the median over them. */
  readonly runs: number;
  /** Each side of each run lasts about this long. */
  readonly batchMs: number;
  /** Warm-up time per side before the first run. */
  readonly warmupMs: number;
}

/**
 * Times several functions in interleaved runs (run 1: a, b, c; run 2: b, c, a; …), so each run
 * sees the same machine for all of them, and returns per function the median ms per call and
 * the median over runs of its ratio to the first function.
 *
 * @example
 * const [parse, diff] = sideBySide([() => parseBoth(), () => validateAndDiff(a, b, 'D')], { runs: 7, batchMs: 50, warmupMs: 200 });
 * diff.ratio; // diff time ÷ parse time, median over the 7 runs
 */
export function sideBySide(fns: readonly (() => unknown)[], options: SideBySideOptions): { ms: number; ratio: number; runs: number[] }[] {
  const iterations = fns.map((fn) => {
    warm(fn, options.warmupMs);
    return calibrate(fn, options.batchMs);
  });
  const perRun: number[][] = fns.map(() => []);
  for (let run = 0; run < options.runs; run++) {
    for (let k = 0; k < fns.length; k++) {
      const i = (run + k) % fns.length;
      perRun[i]!.push(timeBatch(fns[i]!, iterations[i]!));
    }
  }
  return perRun.map((runs) => ({
    ms: median(runs),
    ratio: median(runs.map((ms, r) => ms / perRun[0]![r]!)),
    runs,
  }));
}

let blackhole: unknown;
/** Keeps a result alive so the optimizer cannot drop the work that made it. */
export function keep(value: unknown): void {
  blackhole = value;
}
export function kept(): unknown {
  return blackhole;
}

/** 1.23 ms, 456 µs, 78 ns. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 1) return `${ms.toFixed(ms >= 100 ? 0 : 2)} ms`;
  if (ms >= 1e-3) return `${(ms * 1000).toFixed(ms >= 0.1 ? 0 : 1)} µs`;
  return `${(ms * 1e6).toFixed(0)} ns`;
}
