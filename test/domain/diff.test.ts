import test from 'ava';
import { countChanges, DEFAULT_TOLERANCE, diffVersions, validateAndDiff } from '../../src/domain/diff.js';
import { validateVersion } from '../../src/domain/drawing.js';
import { MalformedInputError } from '../../src/domain/errors.js';
import type { DrawingObject } from '../../src/domain/types.js';

const o = (id: string, x = 0, y = 0, extra: Partial<DrawingObject> = {}): DrawingObject => ({
  id, type: 'door', x, y, width: 1, height: 2, ...extra,
});

test('identical versions have no changes', (t) => {
  const v = [o('A'), o('B', 5, 5)];
  const c = diffVersions(v, v.map((x) => ({ ...x })));
  t.deepEqual(c, { added: [], removed: [], moved: [], modified: [], summary: 'No changes detected.' });
  t.deepEqual(countChanges(c), { added: 0, removed: 0, moved: 0, modified: 0 });
});

test('added follow B\'s order, removed and moved follow A\'s, whatever order B is in', (t) => {
  const a = [o('A1', 0), o('A2', 0), o('A3', 0), o('A4', 0), o('A5', 0)];
  const b = [o('N2', 1, 1), o('A5', 9), o('A3', 9), o('N1', 2, 2), o('A1', 9)];
  const c = diffVersions(a, b);
  t.deepEqual(c.added.map((i) => i.id), ['N2', 'N1']);
  t.deepEqual(c.removed.map((i) => i.id), ['A2', 'A4']);
  t.deepEqual(c.moved.map((i) => i.id), ['A1', 'A3', 'A5']);
  t.deepEqual(countChanges(c), { added: 2, removed: 2, moved: 3, modified: 0 });
});

test('items carry id, type, geometry and the seed\'s description, and nothing else of the input', (t) => {
  const a = [{ ...o('R', 1, 2), layer: 'L1' } as DrawingObject, o('M', 0, 0)];
  const b = [{ ...o('N', 4, 2.5, { type: 'window', width: 3, height: 4 }), layer: 'L1' } as DrawingObject, o('M', 0, -3, { type: 'wall' })];
  const c = diffVersions(a, b);
  t.deepEqual(c.added, [{ id: 'N', type: 'window', to: { x: 4, y: 2.5, width: 3, height: 4 }, description: 'N (window at 4.0,2.5)' }]);
  t.deepEqual(c.removed, [{ id: 'R', type: 'door', from: { x: 1, y: 2, width: 1, height: 2 }, description: 'R (door)' }]);
  t.deepEqual(c.moved, [{
    id: 'M', type: 'wall', from: { x: 0, y: 0 }, to: { x: 0, y: -3 }, dx: 0, dy: -3, direction: 'south', distance: 3,
    description: 'M moved 3.0 units south',
  }]);
});

test('direction follows the larger axis; y grows north', (t) => {
  const dir = (dx: number, dy: number) => diffVersions([o('A', 10, 10)], [o('A', 10 + dx, 10 + dy)]).moved[0];
  t.like(dir(2, 1), { direction: 'east', distance: 2 });
  t.like(dir(-2, 1), { direction: 'west', distance: 2 });
  t.like(dir(1, 2), { direction: 'north', distance: 2 });
  t.like(dir(1, -2), { direction: 'south', distance: 2 });
  t.like(dir(0.5, 0), { direction: 'east', distance: 0.5 });
});

test('a tie between the axes goes north or south, as in the seed', (t) => {
  const dir = (dx: number, dy: number) => diffVersions([o('A')], [o('A', dx, dy)]).moved[0]?.description;
  t.is(dir(3, 3), 'A moved 3.0 units north');
  t.is(dir(-3, 3), 'A moved 3.0 units north');
  t.is(dir(3, -3), 'A moved 3.0 units south');
  t.is(dir(-3, -3), 'A moved 3.0 units south');
});

test('dx and dy are exact, not rounded like the description', (t) => {
  const [m] = diffVersions([o('A', 1.5, 2)], [o('A', 1.5 + 0.123456, 2 - 4.25)]).moved;
  t.is(m?.dx, 1.5 + 0.123456 - 1.5);
  t.is(m?.dy, -4.25);
  t.is(m?.distance, 4.25);
  t.is(m?.description, 'A moved 4.2 units south'); // the seed's half-to-even on an exact tie
});

test('a move of exactly the tolerance is not a move; just above is', (t) => {
  t.deepEqual(diffVersions([o('A', 0, 0)], [o('A', 0.1, -0.1)]).moved, []);
  t.deepEqual(diffVersions([o('A', 1, 0)], [o('A', 1.5, 0)], { tolerance: 0.5 }).moved, []);
  // 1.1 - 1 is 0.10000000000000009 in binary, above 0.1: the seed counts it as a move too
  t.is(diffVersions([o('A', 1, 0)], [o('A', 1.1, 0)]).moved[0]?.description, 'A moved 0.1 units east');
  t.is(diffVersions([o('A', 0, 0)], [o('A', 0, 0.5000001)], { tolerance: 0.5 }).moved.length, 1);
});

test('tolerance 0 counts any change; the default is the seed\'s 0.1', (t) => {
  t.is(DEFAULT_TOLERANCE, 0.1);
  t.is(diffVersions([o('A', 0, 0)], [o('A', 1e-9, 0)], { tolerance: 0 }).moved.length, 1);
  t.is(diffVersions([o('A', 0, 0)], [o('A', 1e-9, 0)]).moved.length, 0);
});

test('a bad tolerance is a RangeError naming the value', (t) => {
  for (const tolerance of [-0.1, NaN, Infinity, '0.1' as unknown as number]) {
    t.throws(() => diffVersions([], [], { tolerance }), { instanceOf: RangeError, message: /tolerance must be a finite number of at least 0/ });
  }
});

test('a changed type, or a size changed by more than the tolerance, is a modification', (t) => {
  const a = [o('T'), o('W'), o('H'), o('S'), o('E')];
  const b = [
    o('T', 0, 0, { type: 'window' }),
    o('W', 0, 0, { width: 1.5 }),
    o('H', 0, 0, { height: 1.85 }),
    o('S', 0, 0, { width: 1.05, height: 2.09 }), // within tolerance: not modified
    o('E', 0, 0, { height: 2.1 }), // 2.1 - 2 is 0.10000000000000009: above the tolerance
  ];
  const c = diffVersions(a, b);
  t.deepEqual(c.modified.map((m) => [m.id, m.fields]), [['T', ['type']], ['W', ['width']], ['H', ['height']], ['E', ['height']]]);
  t.deepEqual(c.modified[0], {
    id: 'T', type: 'window', from: { type: 'door', width: 1, height: 2 }, to: { type: 'window', width: 1, height: 2 },
    fields: ['type'], description: 'T modified: type door → window',
  });
  t.deepEqual(c.moved, []);
  t.is(c.summary, '4 object(s) modified: T modified: type door → window, W modified: width 1.0 → 1.5, '
    + 'H modified: height 2.0 → 1.85. and 1 more.');
});

test('an object can be moved and modified at once', (t) => {
  const c = diffVersions([o('W1', 0, 0, { type: 'wall', width: 2 })], [o('W1', 5, 0, { type: 'door', width: 3.5 })]);
  t.is(c.moved[0]?.description, 'W1 moved 5.0 units east');
  t.is(c.modified[0]?.description, 'W1 modified: type wall → door, width 2.0 → 3.5');
  t.is(c.summary, '1 object(s) moved: W1 moved 5.0 units east. 1 object(s) modified: W1 modified: type wall → door, width 2.0 → 3.5.');
});

test('empty versions: all added, all removed, or nothing', (t) => {
  t.deepEqual(diffVersions([], [o('A'), o('B')]).added.map((i) => i.id), ['A', 'B']);
  t.deepEqual(diffVersions([o('A'), o('B')], []).removed.map((i) => i.id), ['A', 'B']);
  t.is(diffVersions([], []).summary, 'No changes detected.');
});

test('validateAndDiff equals validate-then-diff, numeric strings included', (t) => {
  const rawA = [{ id: 'A', type: 'door', x: '1', y: '2', width: 1, height: 2 }, { id: 'B', type: 'wall', x: 0, y: 0, width: 1, height: 1 }];
  const rawB = [{ id: 'A', type: 'door', x: ' 3.5 ', y: 2, width: '1', height: 2 }, { id: 'C', type: 'beam', x: 1, y: 1, width: 1, height: 1 }];
  const fast = validateAndDiff(rawA, rawB, 'D7', { tolerance: 0.1 });
  t.deepEqual(fast, diffVersions(validateVersion(rawA, 'D7', 'a'), validateVersion(rawB, 'D7', 'b')));
  t.is(fast.moved[0]?.description, 'A moved 2.5 units east');
});

test('validateAndDiff reports the malformed version by name', (t) => {
  const good = [o('A')];
  const errA = t.throws(() => validateAndDiff([{ id: 'A' }], good, 'D9'), { instanceOf: MalformedInputError });
  t.is(errA?.message, 'drawing D9, version_a, object 0: field "type" is missing');
  const errB = t.throws(() => validateAndDiff(good, [o('A'), o('A')], 'D9'), { instanceOf: MalformedInputError });
  t.is(errB?.message, 'drawing D9, version_b, object 1: duplicate id "A" (first at object 0)');
  t.deepEqual(errB?.location, { version: 'b', index: 1, field: 'id' });
});

test('validateAndDiff finds duplicates in B among new ids and among matched ids alike', (t) => {
  const a = [o('A'), o('B')];
  const newTwice = t.throws(() => validateAndDiff(a, [o('N'), o('B'), o('X'), o('N', 1, 1)], 'D9'), { instanceOf: MalformedInputError });
  t.is(newTwice?.message, 'drawing D9, version_b, object 3: duplicate id "N" (first at object 0)');
  const oldTwice = t.throws(() => validateAndDiff(a, [o('N'), o('B'), o('X'), o('B', 1, 1)], 'D9'), { instanceOf: MalformedInputError });
  t.is(oldTwice?.message, 'drawing D9, version_b, object 3: duplicate id "B" (first at object 1)');
  // a problem earlier in B is reported first, even when a duplicate comes later
  const earlier = t.throws(() => validateAndDiff(a, [o('B'), { id: 'C', type: 'door' }, o('B')], 'D9'), { instanceOf: MalformedInputError });
  t.is(earlier?.message, 'drawing D9, version_b, object 1: field "x" is missing');
  const notArray = t.throws(() => validateAndDiff(a, { B: o('B') }, 'D9'), { instanceOf: MalformedInputError });
  t.is(notArray?.message, 'drawing D9, version_b: must be a JSON array of objects, got an object');
});
