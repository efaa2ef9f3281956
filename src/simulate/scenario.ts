/**
 * The stream of drawing pairs one simulator run sends: which pairs are good, malformed (rotating
 * through every kind), half pairs or the spike, each generated from its own seeded stream so a
 * run repeats exactly, with the ground truth of every good pair computed by our own diff.
 */
import { countChanges, DEFAULT_TOLERANCE, validateAndDiff } from '../domain/diff.js';
import type { ChangeCounts } from '../domain/types.js';
import { createRandom, expectedChanges, generatePair, generateSpikePair, itemSeed } from './generator.js';
import { MALFORMED_KINDS, spoilVersion, versionText, type MalformedKind } from './malformed.js';

export interface ScenarioOptions {
  /** 32-bit seed: the same seed and options give the same pairs, byte for byte. */
  readonly seed: number;
  readonly pairs: number;
  /** Objects in version A of each pair. */
  readonly objects: number;
  /** Distinct drawings; pair i revises drawing `i mod drawings`. @default pairs */
  readonly drawings?: number;
  /** Share of pairs with one malformed version. @default 0 */
  readonly malformedRate?: number;
  /** Share of pairs with one version missing. @default 0 */
  readonly halfRate?: number;
  /** Probability that an unmoved object changes type or size. @default 0 (the seed's pattern) */
  readonly modifiedRate?: number;
  /** The last revision of the first drawing gets 10× the usual changes. @default false */
  readonly spike?: boolean;
  /** Tolerance for the ground truth (the service's MOVE_TOLERANCE). @default 0.1 */
  readonly tolerance?: number;
  /** Drawing ids are `<prefix><n>`, n zero-padded to 4 digits or more. @default 'drawing_' */
  readonly drawingPrefix?: string;
}

interface ItemBase {
  /** 0-based position in the run. */
  readonly index: number;
  readonly drawingId: string;
  /** 0-based revision of this drawing (pair i is revision `floor(i / drawings)`). */
  readonly revision: number;
}

export interface GoodItem extends ItemBase {
  readonly kind: 'good';
  readonly a: string;
  readonly b: string;
  /** What our diff finds: the ground truth. */
  readonly counts: ChangeCounts;
  readonly spike: boolean;
}

export interface MalformedItem extends ItemBase {
  readonly kind: 'malformed';
  readonly a: string;
  readonly b: string;
  readonly malformed: {
    readonly kind: MalformedKind;
    readonly version: 'a' | 'b';
    /** Object index and field the service's error must name, where they apply. */
    readonly index?: number;
    readonly field?: string;
    readonly variant: string;
  };
}

export interface HalfItem extends ItemBase {
  readonly kind: 'half';
  /** The version that was uploaded; the other never arrived. */
  readonly present: 'a' | 'b';
  readonly a: string | null;
  readonly b: string | null;
}

export type SimItem = GoodItem | MalformedItem | HalfItem;

/** Rates and counts checked once, with messages naming the option (the CLI maps them to flags). */
export class ScenarioOptionError extends RangeError {
  override readonly name = 'ScenarioOptionError';
  readonly code = 'invalid_scenario' as const;
}

/**
 * Checks options a caller built by hand (the CLI validates its flags before this).
 *
 * @throws ScenarioOptionError naming the option and the value.
 */
export function checkScenario(o: ScenarioOptions): void {
  const whole = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new ScenarioOptionError(`${name} must be a whole number from ${min} to ${max}, got ${v}`);
  };
  const rate = (name: string, v: number | undefined) => {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new ScenarioOptionError(`${name} must be a number from 0 to 1, got ${v}`);
  };
  whole('seed', o.seed, 0, 0xffffffff);
  whole('pairs', o.pairs, 1, Number.MAX_SAFE_INTEGER);
  whole('objects', o.objects, 1, 10_000_000);
  if (o.drawings !== undefined) whole('drawings', o.drawings, 1, o.pairs);
  rate('malformedRate', o.malformedRate);
  rate('halfRate', o.halfRate);
  rate('modifiedRate', o.modifiedRate);
  if ((o.malformedRate ?? 0) + (o.halfRate ?? 0) > 1) {
    throw new ScenarioOptionError(`malformedRate + halfRate must be at most 1, got ${(o.malformedRate ?? 0) + (o.halfRate ?? 0)}`);
  }
}

/** The drawing id of drawing `n` of a run with `drawings` drawings: `drawing_0007` as in the seed. */
export function drawingIdOf(n: number, drawings: number, prefix = 'drawing_'): string {
  const width = Math.max(4, String(Math.max(0, drawings - 1)).length);
  return `${prefix}${String(n).padStart(width, '0')}`;
}

/** Index of the spike pair: the last revision of drawing 0, so earlier revisions give it a baseline. */
export function spikeIndex(pairs: number, drawings: number): number {
  return Math.floor((pairs - 1) / drawings) * drawings;
}

/**
 * The pairs of a run, generated lazily (a 100,000-object pair is ~13 MB of JSON; only the pairs
 * in flight are held). Malformed pairs take the kinds in turn, so a run with 6 or more of them
 * has every kind; half pairs alternate between a missing version B and a missing version A.
 *
 * @example
 * for (const item of scenarioItems({ seed: 7, pairs: 100, objects: 10, malformedRate: 0.1 })) send(item);
 */
export function* scenarioItems(options: ScenarioOptions): Generator<SimItem, void, undefined> {
  checkScenario(options);
  const drawings = options.drawings ?? options.pairs;
  const malformedRate = options.malformedRate ?? 0;
  const halfRate = options.halfRate ?? 0;
  const tolerance = options.tolerance ?? DEFAULT_TOLERANCE;
  const spikeAt = options.spike ? spikeIndex(options.pairs, drawings) : -1;
  let malformedSoFar = 0;
  let halvesSoFar = 0;

  for (let index = 0; index < options.pairs; index++) {
    const rand = createRandom(itemSeed(options.seed, index));
    const base: ItemBase = {
      index,
      drawingId: drawingIdOf(index % drawings, drawings, options.drawingPrefix),
      revision: Math.floor(index / drawings),
    };
    // Always drawn, so a pair's content does not depend on the rates.
    const u = rand();
    if (index === spikeAt) {
      const [a, b] = generateSpikePair(rand, { objects: options.objects });
      yield good(base, a, b, tolerance, true);
      continue;
    }
    const [a, b] = generatePair(rand, { objects: options.objects, modifyProbability: options.modifiedRate ?? 0 });
    if (u < malformedRate) {
      const n = malformedSoFar++;
      const kind = MALFORMED_KINDS[n % MALFORMED_KINDS.length]!;
      const version = rand() < 0.5 ? 'a' : 'b';
      const spoiled = spoilVersion(version === 'a' ? a : b, kind, Math.floor(n / MALFORMED_KINDS.length), rand);
      const text = versionText(spoiled.value);
      yield {
        ...base,
        kind: 'malformed',
        a: version === 'a' ? text : JSON.stringify(a),
        b: version === 'b' ? text : JSON.stringify(b),
        malformed: {
          kind,
          version,
          variant: spoiled.variant,
          ...(spoiled.index === undefined ? {} : { index: spoiled.index }),
          ...(spoiled.field === undefined ? {} : { field: spoiled.field }),
        },
      };
    } else if (u < malformedRate + halfRate) {
      const present = halvesSoFar++ % 2 === 0 ? 'a' : 'b';
      yield {
        ...base,
        kind: 'half',
        present,
        a: present === 'a' ? JSON.stringify(a) : null,
        b: present === 'b' ? JSON.stringify(b) : null,
      };
    } else {
      yield good(base, a, b, tolerance, false);
    }
  }
}

function good(base: ItemBase, a: unknown[], b: unknown[], tolerance: number, spike: boolean): GoodItem {
  return {
    ...base,
    kind: 'good',
    a: JSON.stringify(a),
    b: JSON.stringify(b),
    counts: countChanges(validateAndDiff(a, b, base.drawingId, { tolerance })),
    spike,
  };
}
