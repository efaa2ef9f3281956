/**
 * Runs the seed's Python code (seed_oracle.py) so tests can compare BuildTrace with the seed on
 * the very same inputs, instead of with expectations written by hand.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ORACLE = fileURLToPath(new URL('./seed_oracle.py', import.meta.url));

/** The seed's result for one pair. */
export interface SeedResult {
  readonly added: string[];
  readonly removed: string[];
  readonly moved: string[];
  readonly summary: string;
}

/** One pair from the seed's generator, with the seed's result for it. */
export interface SeedPair extends SeedResult {
  readonly drawing_id: string;
  /** The JSON strings the seed's generator returns (and its API forwards). */
  readonly version_a: string;
  readonly version_b: string;
}

function python(args: readonly string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('python3', [ORACLE, ...args], { maxBuffer: 1024 ** 3 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`seed oracle ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

function lines<T>(out: string): T[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** `pairs` pairs of `objects` objects from the seed's generator seeded with `seed`. */
export async function seedPairs(seed: number, pairs: number, objects: number): Promise<SeedPair[]> {
  return lines<SeedPair>(await python(['--seed', String(seed), '--pairs', String(pairs), '--objects', String(objects)]));
}

/** The seed's `detect_changes` on hand-made pairs (or `{error}` where its parser refuses one). */
export async function seedDetect(
  pairs: readonly { version_a: unknown; version_b: unknown }[],
): Promise<(SeedResult | { error: string })[]> {
  return lines(await python(['--detect'], pairs.map((p) => JSON.stringify(p)).join('\n') + '\n'));
}

/** Python's `repr(x)` and `f"{x:.1f}"` for each double, sent as its exact bits. */
export async function seedFormat(values: readonly number[]): Promise<{ repr: string; fixed1: string }[]> {
  const buf = Buffer.alloc(8);
  const input = values
    .map((v) => {
      buf.writeDoubleBE(v);
      return buf.toString('hex');
    })
    .join('\n');
  return lines(await python(['--format'], input + '\n'));
}
