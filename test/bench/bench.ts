/**
 * `npm run bench`: runs the selected row groups in the order, each in its own try so
 * one broken row shows as such instead of hiding the rest, and renders one table of ratios and
 * values measured side by side in this run. Benchmarks compare; they never fail a build.
 */
import { availableParallelism, cpus } from 'node:os';
import { diffRows } from './diff-row.js';
import { matchRows } from './match-row.js';
import { histogramRows } from './histogram-row.js';
import { stallRows } from './stall-row.js';
import { memoryRows } from './memory-row.js';
import { pubsubRows } from './pubsub-row.js';
import { httpRows } from './http-row.js';
import { DRAIN_TARGET, outageRows } from './outage-row.js';
import { costRows } from './cost-row.js';
import { overlayRows } from './overlay-row.js';
import { largeReadRows } from './large-read-row.js';
import { restoreRows } from './restore-row.js';
import { failedLine, markdownTable, type BenchLine } from './table.js';

/** Row groups in table order; `--only` takes these names. */
export const GROUPS = ['diff', 'peers', 'match', 'e2e', 'histogram', 'http', 'reads', 'memory', 'stall', 'overlay', 'outage', 'cost', 'restore'] as const;
export type Group = (typeof GROUPS)[number];

export interface BenchOptions {
  /** Smaller sizes and fewer runs: a smoke run, not a measurement. */
  readonly quick: boolean;
  /** Groups to run; all when null. */
  readonly only: ReadonlySet<Group> | null;
  /** Progress lines (stderr). */
  readonly log: (text: string) => void;
}

export interface BenchReport {
  readonly startedAt: string;
  readonly seconds: number;
  readonly quick: boolean;
  readonly machine: { readonly node: string; readonly cpus: number; readonly model: string };
  readonly lines: readonly BenchLine[];
}

/** Sizes and repetitions: the full run stays within about ten minutes on two shared cores. */
function plan(quick: boolean) {
  return quick
    ? {
        diff: { sizes: [10, 1000, 10_000], runs: 3, batchMs: 10, warmupMs: 30 },
        match: { sizes: [1000, 10_000], runs: 3, batchMs: 10, warmupMs: 30 },
        histogram: { values: 100_000, runs: 3, queries: 200 },
        e2e: { pairs: 300, runs: 1 },
        http: { seconds: 2, rate: 50, pairsPerSecond: 50 },
        reads: { objects: 20_000, seconds: 2, rate: 50 },
        memory: { pairs: 50_000, hours: 48 },
        stall: { objects: 20_000, runs: 2 },
        outage: { pairs: 500, outageMs: 2_000, runs: 1 },
        cost: { pairs: 300 },
        overlay: { sizes: [1000, 10_000], runs: 3, batchMs: 10, warmupMs: 30 },
        restore: { sizes: [2_000, 8_000], runs: 1 },
      }
    : {
        diff: { sizes: [10, 1000, 100_000], runs: 7, batchMs: 60, warmupMs: 300 },
        match: { sizes: [1000, 100_000], runs: 7, batchMs: 60, warmupMs: 300 },
        histogram: { values: 1_000_000, runs: 7, queries: 2000 },
        e2e: { pairs: 5000, runs: 3 },
        http: { seconds: 10, rate: 100, pairsPerSecond: 200 },
        reads: { objects: 200_000, seconds: 10, rate: 100 },
        memory: { pairs: 1_000_000, hours: 48 },
        stall: { objects: 100_000, runs: 5 },
        outage: { pairs: 5_000, outageMs: 5_000, runs: 3 },
        cost: { pairs: 3_000 },
        overlay: { sizes: [1000, 100_000], runs: 5, batchMs: 60, warmupMs: 300 },
        restore: { sizes: [25_000, 100_000], runs: 2 },
      };
}

const TARGETS: Record<Group, { what: string; target: string }> = {
  diff: { what: 'validate + diff ÷ JSON.parse', target: '≤ 1.3' },
  peers: { what: 'validate + diff ÷ microdiff, jsondiffpatch', target: '< 1' },
  match: { what: 'parse + validate + match + diff ÷ JSON.parse, ids regenerated', target: '≤ 2' },
  e2e: { what: 'end-to-end on the Pub/Sub emulator ÷ bare consume-and-ack', target: '≥ 0.75' },
  histogram: { what: 'latency histogram', target: '≤ 60 ns; ≤ 100 µs' },
  http: { what: 'GET /metrics and /changes p99 under load', target: '< 5 ms' },
  reads: { what: '/healthz p99 while three clients read the largest stored result ÷ the bare peer', target: '≤ 2' },
  memory: { what: 'RSS over 1,000,000 pairs and 48 window rotations', target: 'flat within 10%' },
  stall: { what: 'a 100,000-object pair: longest event-loop stall', target: '< 50 ms' },
  outage: { what: 'backlog drain after a sink outage ÷ steady rate', target: `≥ ${DRAIN_TARGET}` },
  cost: { what: 'one million 10-object pairs on Google Cloud, list prices', target: '—' },
  overlay: { what: 'overlay SVG ÷ JSON.parse', target: '100,000 objects < 1 s' },
  restore: { what: 'restore of 24 h from BigQuery: per hour in the query ÷ row by row', target: '—' },
};

/**
 * Runs the benchmark groups and returns every line.
 *
 * @example
 * const report = await runBench({ quick: true, only: new Set(['diff', 'histogram']), log: () => {} });
 * process.stdout.write(markdownTable(report.lines));
 */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const started = Date.now();
  const p = plan(options.quick);
  const wanted = (g: Group) => options.only === null || options.only.has(g);
  const lines: BenchLine[] = [];
  const guard = async (group: Group, run: () => BenchLine[] | Promise<BenchLine[]>) => {
    try {
      lines.push(...(await run()));
    } catch (err) {
      options.log(`${group}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      lines.push(failedLine(group, TARGETS[group].what, TARGETS[group].target, err));
    }
  };

  const diffGroups = new Set<'diff' | 'peers'>((['diff', 'peers'] as const).filter(wanted));
  if (diffGroups.size > 0) {
    await guard(diffGroups.has('diff') ? 'diff' : 'peers', () =>
      diffRows({ ...p.diff, targetSizes: [1000, 100_000], groups: diffGroups, log: options.log }),
    );
  }
  if (wanted('match')) await guard('match', () => matchRows({ ...p.match, log: options.log }));
  if (wanted('e2e')) await guard('e2e', () => pubsubRows({ ...p.e2e, log: options.log }));
  if (wanted('histogram')) await guard('histogram', () => histogramRows({ ...p.histogram, log: options.log }));
  if (wanted('http')) await guard('http', () => httpRows({ ...p.http, log: options.log }));
  if (wanted('reads')) await guard('reads', () => largeReadRows({ ...p.reads, log: options.log }));
  if (wanted('memory')) await guard('memory', () => memoryRows({ ...p.memory, log: options.log }));
  if (wanted('stall')) await guard('stall', () => stallRows({ ...p.stall, log: options.log }));
  if (wanted('outage')) await guard('outage', () => outageRows({ ...p.outage, log: options.log }));
  if (wanted('cost')) await guard('cost', () => costRows({ ...p.cost, log: options.log }));
  if (wanted('overlay')) await guard('overlay', () => overlayRows({ ...p.overlay, log: options.log }));
  if (wanted('restore')) await guard('restore', () => restoreRows({ ...p.restore, log: options.log }));

  return {
    startedAt: new Date(started).toISOString(),
    seconds: (Date.now() - started) / 1000,
    quick: options.quick,
    machine: { node: process.version, cpus: availableParallelism(), model: cpus()[0]?.model ?? 'unknown' },
    lines,
  };
}

/** The report as printed: the table, then what the ratios mean. */
export function renderReport(report: BenchReport): string {
  const notes = [
    '',
    `${report.quick ? 'QUICK smoke run (small sizes, few runs): not a measurement. ' : ''}` +
      `${report.lines.length} lines in ${report.seconds.toFixed(0)} s on ${report.machine.cpus} CPU(s), Node ${report.machine.node}.`,
    '"validate + diff ÷ JSON.parse" is the time of validateAndDiff(parsedA, parsedB) divided by the time of',
    'JSON.parse of the two versions\' text, both on the same pair and interleaved in the same runs.',
    'Each figure is a median over several runs after a warm-up; the machine is shared, so compare ratios, not absolute times.',
  ];
  return `${markdownTable(report.lines)}${notes.join('\n')}\n`;
}
