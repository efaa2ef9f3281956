/**
 * The diff worker pool gives exactly what the inline diff gives, large change sets included (they
 * come back in slices), and reports bad input with the same error class and location.
 */
import test from 'ava';
import { DiffWorkerPool } from '../../../streams/diff/worker-pool.js';
import { diffPair, type DiffRequest } from '../../../streams/diff/diff-pair.js';
import { SLICE_ITEMS } from '../../../streams/diff/diff-worker.js';
import { MalformedInputError } from '../../../src/domain/errors.js';
import { createRandom, generatePair } from '../../../src/simulate/generator.js';

const pool = new DiffWorkerPool(2);
test.after.always(() => pool.close());

function request(a: unknown, b: unknown, asBytes = false): DiffRequest {
  const raw = (v: unknown) => (asBytes ? { kind: 'bytes' as const, bytes: Buffer.from(JSON.stringify(v)) } : { kind: 'value' as const, value: v });
  return { drawingId: 'D1', tolerance: 0.1, pair: { a: raw(a), b: raw(b) } };
}

test('a large pair diffed on a worker equals the inline diff, item for item and in order', async (t) => {
  const [a, b] = generatePair(createRandom(5), { objects: 12_000 });
  const inline = diffPair(request(a, b));
  t.true(inline.moved.length > 2 * SLICE_ITEMS, 'the change set needs several slices');
  t.deepEqual(await pool.run(request(a, b, true)), inline);
  t.deepEqual(await pool.run(request(a, b, false)), inline);
});

test('concurrent pairs on the pool do not mix their slices', async (t) => {
  const pairs = [1, 2, 3, 4, 5].map((seed) => generatePair(createRandom(seed), { objects: 4_000 }));
  const results = await Promise.all(pairs.map(([a, b]) => pool.run(request(a, b, true))));
  results.forEach((changes, i) => t.deepEqual(changes, diffPair(request(pairs[i]![0], pairs[i]![1]))));
});

test('malformed input from a worker is a MalformedInputError with its code, drawing and location', async (t) => {
  const good = [{ id: 'W1', type: 'wall', x: 0, y: 0, width: 1, height: 1 }];
  const bad = [{ id: 'W1', type: 'wall', x: 'abc', y: 0, width: 1, height: 1 }];
  const err = await t.throwsAsync(pool.run(request(good, bad, true)), { instanceOf: MalformedInputError });
  t.is(err?.code, 'malformed_version');
  t.is(err?.drawingId, 'D1');
  t.deepEqual(err?.location, { version: 'b', index: 0, field: 'x' });

  const notJson: DiffRequest = { drawingId: 'D1', tolerance: 0.1, pair: { a: { kind: 'bytes', bytes: Buffer.from('[{') }, b: { kind: 'value', value: [] } } };
  const parse = await t.throwsAsync(pool.run(notJson), { instanceOf: MalformedInputError });
  t.regex(parse?.message ?? '', /drawing D1, version_a: not valid JSON/);
});

test('a closed pool refuses work with a transient error, so the task is retried elsewhere', async (t) => {
  const own = new DiffWorkerPool(1);
  await own.close();
  await t.throwsAsync(own.run(request([], [])), { message: /closed/ });
});

test('pool size must be a whole number from 1', (t) => {
  t.throws(() => new DiffWorkerPool(0), { instanceOf: RangeError });
});
