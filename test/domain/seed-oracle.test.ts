/**
 * The seed's own Python (test/oracle/seed_oracle.py) is the reference: on its generator's pairs
 * and on hand-made pairs its generator never makes, our descriptions and summary must be its own.
 */
import test from 'ava';
import { validateAndDiff } from '../../src/domain/diff.js';
import { decodeTask } from '../../src/domain/task.js';
import type { ChangeSet } from '../../src/domain/types.js';
import { seedDetect, seedPairs, type SeedResult } from '../oracle/run-oracle.js';

function seedView(c: ChangeSet): SeedResult {
  return {
    added: c.added.map((i) => i.description),
    removed: c.removed.map((i) => i.description),
    moved: c.moved.map((i) => i.description),
    summary: c.summary,
  };
}

// Several seeds and sizes: 1 object makes mostly no-change pairs, 1000 makes "and N more".
const RUNS = [
  { objects: 1, pairs: 60 },
  { objects: 10, pairs: 40 },
  { objects: 100, pairs: 12 },
  { objects: 1000, pairs: 3 },
];
for (const seed of [1, 7, 2024]) {
  test(`seed generator, seed ${seed}: every pair's descriptions and summary equal the seed's`, async (t) => {
    let pairs = 0;
    let moved = 0;
    let added = 0;
    let removed = 0;
    for (const { objects, pairs: n } of RUNS) {
      // given the seed's pairs and its own results for them
      for (const pair of await seedPairs(seed, n, objects)) {
        // when we decode the task the seed's API would publish (versions as JSON strings) and diff it
        const task = decodeTask(JSON.stringify({ job_id: 'j', drawing_id: pair.drawing_id, version_a: pair.version_a, version_b: pair.version_b }));
        if (task.versions.kind !== 'inline') throw new Error('expected an inline task');
        const ours = validateAndDiff(task.versions.a, task.versions.b, task.drawingId);
        // then the results are the seed's, character for character
        t.deepEqual(seedView(ours), { added: pair.added, removed: pair.removed, moved: pair.moved, summary: pair.summary },
          `${pair.drawing_id} (${objects} objects)`);
        t.deepEqual(ours.modified, []); // the generator only moves, adds and removes
        pairs++;
        moved += pair.moved.length;
        added += pair.added.length;
        removed += pair.removed.length;
      }
    }
    t.is(pairs, 115);
    // the run really exercised every kind (a generator change that made nothing would pass silently)
    t.true(moved > 100 && added > 10 && removed > 10, `moved ${moved}, added ${added}, removed ${removed}`);
  });
}

const obj = (id: string, x: unknown, y: unknown, extra: Record<string, unknown> = {}) => ({
  id, type: 'door', x, y, width: 1, height: 2, ...extra,
});

const HAND_MADE: Array<{ name: string; version_a: unknown[]; version_b: unknown[] }> = [
  { name: 'diagonal ties go north/south', version_a: [obj('A', 0, 0), obj('B', 0, 0), obj('C', 5, 5), obj('D', 5, 5)],
    version_b: [obj('A', 3, 3), obj('B', -3, 3), obj('C', 2, 2), obj('D', 8, 2)] },
  { name: 'moves of exactly the threshold, and just above it', version_a: [obj('A', 0, 0), obj('B', 0, 0), obj('C', 1, 1), obj('D', 2, 0)],
    version_b: [obj('A', 0.1, 0), obj('B', 0, -0.1), obj('C', 1.1, 1), obj('D', 2, 0.1)] },
  { name: 'distances ending in .25/.75/.05/.35 round as Python does', version_a: [obj('A', 0, 0), obj('B', 0, 0), obj('C', 0, 0), obj('D', 0, 0), obj('E', 0, 0)],
    version_b: [obj('A', 0.25, 0), obj('B', 0, -2.75), obj('C', 0.35, 0), obj('D', 0, 1.45), obj('E', -0.05 - 0.3, 0)] },
  { name: 'numeric strings parse like float()', version_a: [obj('A', '1', ' 2.5 '), obj('B', '-.5', '1e1'), obj('C', '1_000', '+3')],
    version_b: [obj('A', '4', '2.5'), obj('B', '-0.5', '10.0'), obj('C', 1000, 3), obj('N', '4', '1E-5')] },
  { name: 'coordinates printed in exponent form and as whole numbers', version_a: [],
    version_b: [obj('T', 1e-5, 0.0001), obj('H', 1e16, 123456789012345.6), obj('N', '-0.0', -7), obj('Z', 5e-324, 1.7976931348623157e308)] },
  { name: 'huge moves print every digit', version_a: [obj('A', 0, 0), obj('B', 0, 0)], version_b: [obj('A', 1e22, 0), obj('B', 0, -123456789.25)] },
  { name: 'more than three of each kind', version_a: ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((i) => obj(`A${i}`, 0, 0)),
    version_b: [...['1', '2', '3', '4', '5'].map((i) => obj(`A${i}`, Number(i), 0)), ...['1', '2', '3', '4', '5', '6'].map((i) => obj(`N${i}`, i, i))] },
  { name: 'B reordered', version_a: [obj('A', 0, 0), obj('B', 0, 0), obj('C', 0, 0), obj('D', 0, 0)],
    version_b: [obj('N2', 1, 1), obj('D', 9, 0), obj('B', 0, 9), obj('N1', 2, 2)] },
  { name: 'empty A', version_a: [], version_b: [obj('A', 1, 2), obj('B', 3, 4)] },
  { name: 'empty B', version_a: [obj('A', 1, 2), obj('B', 3, 4)], version_b: [] },
  { name: 'both empty', version_a: [], version_b: [] },
  { name: 'negative coordinates and tiny moves', version_a: [obj('A', -10, -10), obj('B', -1e-3, 0)],
    version_b: [obj('A', -10.05, -10.2), obj('B', 0.2, 0)] },
  { name: 'extra fields ignored', version_a: [obj('A', 1, 1, { layer: 'x', tags: [1] })], version_b: [obj('A', 3, 1, { layer: 'y' })] },
];

test('hand-made pairs the generator never makes: descriptions and summary equal the seed\'s', async (t) => {
  const expected = await seedDetect(HAND_MADE);
  HAND_MADE.forEach((pair, i) => {
    const seed = expected[i]!;
    if ('error' in seed) return t.fail(`${pair.name}: the seed refused the pair: ${seed.error}`);
    // as the pipeline sees it: the pair after a trip through JSON, like the seed's copy
    const wire = JSON.parse(JSON.stringify(pair)) as typeof pair;
    t.deepEqual(seedView(validateAndDiff(wire.version_a, wire.version_b, 'D1')), seed, pair.name);
  });
  // spot-check that the interesting cases really are interesting
  t.deepEqual((expected[0] as SeedResult).moved, ['A moved 3.0 units north', 'B moved 3.0 units north', 'C moved 3.0 units south', 'D moved 3.0 units south']);
  t.deepEqual((expected[1] as SeedResult).moved, ['C moved 0.1 units east']);
  t.deepEqual((expected[2] as SeedResult).moved.slice(0, 2), ['A moved 0.2 units east', 'B moved 2.8 units south']);
});

test('with modified objects, the summary is the seed\'s plus a "modified" sentence', async (t) => {
  const a = [obj('W1', 0, 0, { type: 'wall', width: 2 }), obj('A', 0, 0)];
  const b = [obj('W1', 5, 0, { type: 'door', width: 3.5 }), obj('N', 1, 1)];
  const [seed] = (await seedDetect([{ version_a: a, version_b: b }])) as SeedResult[];
  const ours = validateAndDiff(a, b, 'D1');
  t.is(ours.summary, `${seed!.summary.slice(0, -1)}. 1 object(s) modified: W1 modified: type wall → door, width 2.0 → 3.5.`);
  t.deepEqual(seedView(ours).moved, seed!.moved);
});
