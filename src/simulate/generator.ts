/**
 * Drawing pairs with the seed's change pattern (`data_generator.py`: about 30% of objects moved by
 * up to ±5 units, 0–3 additions each kept with p 0.5, sometimes up to 2 removals), from a seeded
 * PRNG so that a run can be repeated exactly. Used by the simulator, the benchmarks and the tests.
 */

export interface RawDrawingObject {
  id: string;
  type: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

const TYPES = ['wall', 'door', 'window', 'column', 'beam'] as const;

/** mulberry32: tiny, fast, and good enough to make test data reproducible. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const uniform = (rand: () => number, lo: number, hi: number): number => lo + (hi - lo) * rand();
const randint = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

export function generateObject(rand: () => number, prefix: string, index: number): RawDrawingObject {
  return {
    id: `${prefix}${index}`,
    type: TYPES[Math.floor(rand() * TYPES.length)]!,
    x: uniform(rand, 0, 100),
    y: uniform(rand, 0, 100),
    width: uniform(rand, 1, 10),
    height: uniform(rand, 1, 10),
  };
}

export interface PairOptions {
  readonly objects: number;
  /** Probability that an object moves (the seed's 0.3). */
  readonly changeProbability?: number;
  /** Multiplies how many objects move, for spikes (1 = the seed's pattern). */
  readonly changeFactor?: number;
  /**
   * Probability that an object that did not move changes type or size (beyond the seed, which
   * never modifies). 0 draws no random numbers for it, so the seed's stream stays as it was.
   * @default 0
   */
  readonly modifyProbability?: number;
}

/** One pair `[version_a, version_b]` in the seed's pattern. */
export function generatePair(rand: () => number, options: PairOptions): [RawDrawingObject[], RawDrawingObject[]] {
  const p = Math.min(1, (options.changeProbability ?? 0.3) * (options.changeFactor ?? 1));
  const a: RawDrawingObject[] = [];
  for (let i = 0; i < options.objects; i++) a.push(generateObject(rand, 'A', i));
  const b: RawDrawingObject[] = [];
  const pModify = options.modifyProbability ?? 0;
  for (const obj of a) {
    if (rand() < p) b.push({ ...obj, x: obj.x + uniform(rand, -5, 5), y: obj.y + uniform(rand, -5, 5) });
    else if (pModify > 0 && rand() < pModify) b.push(modifyObject(rand, obj));
    else b.push({ ...obj });
  }
  const additions = randint(rand, 0, 3);
  for (let i = 0; i < additions; i++) if (rand() < 0.5) b.push(generateObject(rand, 'B', b.length));
  if (rand() < p && b.length > 2) {
    const removals = randint(rand, 0, Math.min(2, b.length - 1));
    for (let i = 0; i < removals; i++) b.splice(randint(rand, 0, b.length - 1), 1);
  }
  return [a, b];
}

/**
 * A copy of `obj` with its type or its size changed by well over the default tolerance (0.5 to 3
 * units), so the diff reports it as modified, never as unchanged.
 */
export function modifyObject(rand: () => number, obj: RawDrawingObject): RawDrawingObject {
  const what = Math.floor(rand() * 3);
  if (what === 0) {
    const others = TYPES.filter((t) => t !== obj.type);
    return { ...obj, type: others[Math.floor(rand() * others.length)]! };
  }
  const delta = uniform(rand, 0.5, 3) * (rand() < 0.5 ? -1 : 1);
  // Sizes stay positive: shrink only what is large enough to shrink.
  const grow = (size: number) => (size + delta > 0.5 ? size + delta : size + Math.abs(delta));
  return what === 1 ? { ...obj, width: grow(obj.width) } : { ...obj, height: grow(obj.height) };
}

/**
 * Changes a pair in the seed's pattern shows on average: moves (`p × objects`), additions
 * (`randint(0, 3)` kept with p 0.5: 0.75) and removals (with p, `randint(0, 2)`: p × 1). Used to
 * size a spike as a multiple of what a drawing usually shows.
 */
export function expectedChanges(objects: number, changeProbability = 0.3): number {
  return changeProbability * objects + 0.75 + changeProbability;
}

export interface SpikeOptions {
  readonly objects: number;
  /** How many times the usual changes (`expectedChanges`) the pair shows. @default 10 */
  readonly factor?: number;
  /** The usual pattern's move probability. @default 0.3 */
  readonly changeProbability?: number;
}

/**
 * A pair with `factor ×` the changes the seed's pattern usually gives: every object of A moves
 * (by at least 0.5 units along one axis, so none falls under the tolerance) and new objects make
 * up the rest. With 10 objects that is 10 moved and 31 added, about 41 changes against 4.05.
 *
 * @example
 * const [a, b] = generateSpikePair(createRandom(7), { objects: 10 });
 */
export function generateSpikePair(rand: () => number, options: SpikeOptions): [RawDrawingObject[], RawDrawingObject[]] {
  const target = Math.round((options.factor ?? 10) * expectedChanges(options.objects, options.changeProbability));
  const a: RawDrawingObject[] = [];
  for (let i = 0; i < options.objects; i++) a.push(generateObject(rand, 'A', i));
  const b: RawDrawingObject[] = [];
  const shift = () => uniform(rand, 0.5, 5) * (rand() < 0.5 ? -1 : 1);
  const moves = Math.min(options.objects, target);
  for (let i = 0; i < a.length; i++) {
    const obj = a[i]!;
    b.push(i < moves ? { ...obj, x: obj.x + shift(), y: obj.y + uniform(rand, -5, 5) } : { ...obj });
  }
  for (let i = moves; i < target; i++) b.push(generateObject(rand, 'B', b.length));
  return [a, b];
}

/**
 * A seed for item `index` of a run seeded with `seed` (a 32-bit integer mix), so each pair has its
 * own stream: a pair's content does not depend on how large the pairs before it were.
 */
export function itemSeed(seed: number, index: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
