/**
 * The geometry-matching rows (issue 13): a re-export with every id regenerated and 1% of the
 * objects moved, timed as parse + validate + match + diff against bare `JSON.parse` of the same
 * pair, and beside it the same pair through id matching alone (what diff-row.ts measures).
 */
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { createRandom } from '../../src/simulate/generator.js';
import { formatMs, sideBySide } from './measure.js';
import type { BenchLine } from './table.js';

export interface MatchRowOptions {
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly batchMs: number;
  readonly warmupMs: number;
  readonly log?: (text: string) => void;
}

/** The issue's target: parse + validate + match + diff at most twice a bare parse. */
export const MATCH_RATIO_TARGET = 2;
/** Share of objects moved in the re-export. */
const MOVED_SHARE = 0.01;
const TYPES = ['door', 'window', 'wall', 'column', 'stair', 'beam'] as const;

/**
 * A drawing laid out as drawings are (objects on a 12-unit lattice with jitter, so neighbours of
 * one type are seldom within MATCH_RADIUS) and its re-export: every id new, 1% moved by up to 5
 * units each way, in reverse order.
 */
export function reexportedPair(objects: number, seed = objects): { a: object[]; b: object[]; moved: number } {
  const rand = createRandom(seed);
  const side = Math.ceil(Math.sqrt(objects));
  const a = Array.from({ length: objects }, (_, i) => ({
    id: `O-${i}`,
    type: TYPES[Math.floor(rand() * TYPES.length)] as string,
    x: (i % side) * 12 + rand() * 6,
    y: Math.floor(i / side) * 12 + rand() * 6,
    width: 1 + Math.round(rand() * 90) / 10,
    height: 1 + Math.round(rand() * 90) / 10,
  }));
  const step = Math.round(1 / MOVED_SHARE);
  const b = a.map((o, i) => ({
    ...o,
    id: `X-${(i * 7919) % objects}-${i}`,
    ...(i % step === 0 ? { x: o.x + 1 + rand() * 4, y: o.y - rand() * 4 } : {}),
  }));
  return { a, b: b.reverse(), moved: Math.ceil(objects / step) };
}

/**
 * Measures each size: one line with geometry matching, one with id matching alone.
 *
 * @example
 * matchRows({ sizes: [1000, 100000], runs: 7, batchMs: 60, warmupMs: 300 });
 */
export function matchRows(options: MatchRowOptions): BenchLine[] {
  const lines: BenchLine[] = [];
  for (const objects of options.sizes) {
    options.log?.(`match: ${objects} objects per version, every id regenerated, 1% moved`);
    const { a, b, moved } = reexportedPair(objects);
    const textA = JSON.stringify(a);
    const textB = JSON.stringify(b);
    const geometry = () => validateAndDiff(JSON.parse(textA), JSON.parse(textB), 'bench', { match: 'auto' });
    const idOnly = () => validateAndDiff(JSON.parse(textA), JSON.parse(textB), 'bench');
    const found = countChanges(geometry());
    // The row means something only if matching found what was made.
    const right = found.moved === moved && found.renamed === objects - moved && found.added === 0 && found.removed === 0;

    const [parse, full, byId] = sideBySide([() => [JSON.parse(textA), JSON.parse(textB)], geometry, idOnly], options);
    const label = objects.toLocaleString('en-US');
    const details = { objects, moved, bytes: textA.length + textB.length, found, right, parseMs: parse!.ms, geometryMs: full!.ms, idOnlyMs: byId!.ms, runs: options.runs };
    lines.push({
      group: 'match',
      what: `parse + validate + match + diff, ${label} objects, ids regenerated, 1% moved`,
      measured:
        `MATCH auto ${formatMs(full!.ms)} ÷ JSON.parse(A, B) ${formatMs(parse!.ms)}; found ${found.renamed} renamed, ${found.moved} moved` +
        `${right ? '' : ` — WARNING: expected ${objects - moved} renamed and ${moved} moved`}`,
      value: full!.ratio,
      shown: full!.ratio.toFixed(2),
      target: `≤ ${MATCH_RATIO_TARGET}`,
      met: right && full!.ratio <= MATCH_RATIO_TARGET,
      details,
    });
    lines.push({
      group: 'match',
      what: `the same by id alone, ${label} objects`,
      measured: `parse + validate + diff ${formatMs(byId!.ms)} ÷ JSON.parse ${formatMs(parse!.ms)}: every object added and removed (${objects} each)`,
      value: byId!.ratio,
      shown: byId!.ratio.toFixed(2),
      target: '— (for comparison)',
      met: null,
      details,
    });
  }
  return lines;
}
