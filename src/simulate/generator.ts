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
}

/** One pair `[version_a, version_b]` in the seed's pattern. */
export function generatePair(rand: () => number, options: PairOptions): [RawDrawingObject[], RawDrawingObject[]] {
  const p = Math.min(1, (options.changeProbability ?? 0.3) * (options.changeFactor ?? 1));
  const a: RawDrawingObject[] = [];
  for (let i = 0; i < options.objects; i++) a.push(generateObject(rand, 'A', i));
  const b: RawDrawingObject[] = [];
  for (const obj of a) {
    if (rand() < p) b.push({ ...obj, x: obj.x + uniform(rand, -5, 5), y: obj.y + uniform(rand, -5, 5) });
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
