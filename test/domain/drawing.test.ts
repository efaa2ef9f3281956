import test from 'ava';
import { indexVersion, parsePyFloat, validateVersion } from '../../src/domain/drawing.js';
import { MalformedInputError } from '../../src/domain/errors.js';
import { pyRepr } from '../../src/domain/python-format.js';
import { seedDetect } from '../oracle/run-oracle.js';

const door = { id: 'D1', type: 'door', x: 4, y: 2, width: 1, height: 2 };

/** Asserts a malformed_version error with exactly this message and location. */
function rejects(
  t: import('ava').ExecutionContext,
  value: unknown,
  message: string,
  location: MalformedInputError['location'],
  which: 'a' | 'b' = 'b',
): void {
  const err = t.throws(() => validateVersion(value, 'D7', which), { instanceOf: MalformedInputError });
  t.is(err?.message, message);
  t.is(err?.code, 'malformed_version');
  t.is(err?.drawingId, 'D7');
  t.deepEqual(err?.location, location);
  t.true(err?.permanent);
}

test('a well-formed version comes back as the same objects, extra fields kept', (t) => {
  const objs = [door, { ...door, id: 'W1', type: 'wall', layer: 'L2', note: null }];
  const out = validateVersion(objs, 'D7', 'a');
  t.is(out.length, 2);
  t.is(out[0], objs[0]); // no copy when the numbers are already numbers
  t.is(out[1], objs[1]);
  t.is((out[1] as unknown as { layer: string }).layer, 'L2');
});

test('an empty version is valid', (t) => {
  t.deepEqual(validateVersion([], 'D7', 'a'), []);
});

test('numeric strings are accepted as Python float() accepts them, in a new object', (t) => {
  const raw = { id: 'D1', type: 'door', x: '4.5', y: ' -.5 ', width: '1e3', height: '+2.', extra: 'kept' };
  const [out] = validateVersion([raw], 'D7', 'a');
  t.deepEqual(out, { id: 'D1', type: 'door', x: 4.5, y: -0.5, width: 1000, height: 2, extra: 'kept' } as never);
  t.not(out, raw as never);
  t.is(raw.x, '4.5'); // the input is not modified
});

test('parsePyFloat follows float() on the strings it accepts', (t) => {
  const good: Array<[string, number]> = [
    ['4.5', 4.5], [' 4.5 ', 4.5], ['1e3', 1000], ['-.5', -0.5], ['5.', 5], ['+7', 7], ['1_000.5', 1000.5],
    ['1E-2', 0.01], ['\t\n3\r', 3], ['\u00a02\u3000', 2], ['\x858\u2028', 8], ['00012', 12], ['-0', -0], ['1e1_0', 1e10],
  ];
  for (const [s, n] of good) t.is(parsePyFloat(s), n, JSON.stringify(s));
});

test('parsePyFloat refuses what float() refuses and what is not finite', (t) => {
  const bad: unknown[] = [
    '', ' ', '0x10', 'inf', '-Infinity', 'nan', 'NaN', 'abc', '1,5', '1__0', '_1', '1_', '1._5', '.', 'e5', '1e',
    '4.5.6', '\ufeff4', '\x1c8', '\u200b1', '1e400', true, false, null, [], [1], {}, undefined, Infinity, -Infinity, NaN,
  ];
  for (const v of bad) t.is(parsePyFloat(v), undefined, String(JSON.stringify(v)));
});

test('numeric strings: our verdict and value equal the seed\'s float() for each', async (t) => {
  // given strings float() takes, strings it refuses, and strings it takes but we refuse as not
  // finite or not ASCII
  const strings = [
    '4.5', ' 4.5 ', '1e3', '-.5', '5.', '+7', '1_000.5', '1E-2', '\t\n3\r', '\u00a02\u3000', '\x858\u2028', '00012', '-0',
    '1e1_0', '0.1', '123456789.123456789', '2.5e-320', ' 7 ', '', ' ', '0x10', 'abc', '1,5', '1__0', '_1', '1_', '1._5',
    '.', 'e5', '1e', '4.5.6', '\ufeff4', '\x1c8', '\u200b1', 'inf', '-Infinity', 'nan', '1e400', '\u0663',
  ];
  // when the seed parses each as an added object's x
  const seed = await seedDetect(strings.map((x) => ({ version_a: [], version_b: [{ ...door, x }] })));
  // then we accept exactly the finite ASCII ones, with the same value
  strings.forEach((s, i) => {
    const theirs = seed[i]!;
    const ours = parsePyFloat(s);
    if (ours === undefined) {
      const seedTook = !('error' in theirs);
      const finite = seedTook && !/(inf|nan)/.test(theirs.added[0] ?? '');
      t.false(finite && /^[\x00-\x7f]*$/.test(s), `we refuse ${JSON.stringify(s)} but the seed takes it`);
    } else {
      t.false('error' in theirs, `we take ${JSON.stringify(s)} but the seed refuses it`);
      if (!('error' in theirs)) t.is(theirs.added[0], `D1 (door at ${pyRepr(ours)},2.0)`);
    }
  });
});

test('not an array is malformed, naming the drawing and the version', (t) => {
  rejects(t, { objects: [] }, 'drawing D7, version_a: must be a JSON array of objects, got an object', { version: 'a' }, 'a');
  rejects(t, 'oops', 'drawing D7, version_b: must be a JSON array of objects, got "oops"', { version: 'b' });
  rejects(t, null, 'drawing D7, version_b: must be a JSON array of objects, got null', { version: 'b' });
  rejects(t, 3, 'drawing D7, version_b: must be a JSON array of objects, got 3', { version: 'b' });
  rejects(t, undefined, 'drawing D7, version_b: must be a JSON array of objects, got nothing', { version: 'b' });
});

test('an element that is not an object is malformed, naming its index', (t) => {
  rejects(t, [door, 'D2'], 'drawing D7, version_b, object 1: must be an object, got "D2"', { version: 'b', index: 1 });
  rejects(t, [null], 'drawing D7, version_b, object 0: must be an object, got null', { version: 'b', index: 0 });
  rejects(t, [door, [1, 2]], 'drawing D7, version_b, object 1: must be an object, got an array', { version: 'b', index: 1 });
  rejects(t, [42], 'drawing D7, version_b, object 0: must be an object, got 42', { version: 'b', index: 0 });
});

for (const field of ['id', 'type', 'x', 'y', 'width', 'height'] as const) {
  test(`a missing "${field}" is malformed`, (t) => {
    const { [field]: _dropped, ...rest } = door;
    rejects(t, [door, { ...door, id: 'D2' }, { ...rest, ...(field === 'id' ? {} : { id: 'D3' }) }],
      `drawing D7, version_b, object 2: field "${field}" is missing`, { version: 'b', index: 2, field });
  });
}

for (const field of ['id', 'type'] as const) {
  test(`a "${field}" that is not a non-empty string is malformed`, (t) => {
    const cases: Array<[unknown, string]> = [['', '""'], [7, '7'], [null, 'null'], [true, 'true'], [{}, 'an object'], [['a'], 'an array']];
    for (const [value, shown] of cases) {
      rejects(t, [{ ...door, [field]: value }], `drawing D7, version_b, object 0: field "${field}" must be a non-empty string, got ${shown}`,
        { version: 'b', index: 0, field });
    }
  });
}

for (const field of ['x', 'y', 'width', 'height'] as const) {
  test(`a "${field}" that is not a finite number is malformed`, (t) => {
    const cases: Array<[unknown, string]> = [
      ['abc', '"abc"'], ['', '""'], ['0x10', '"0x10"'], ['inf', '"inf"'], ['nan', '"nan"'], [true, 'true'],
      [null, 'null'], [[1], 'an array'], [{ v: 1 }, 'an object'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'], [NaN, 'NaN'],
      ['1e400', '"1e400"'],
    ];
    for (const [value, shown] of cases) {
      rejects(t, [door, { ...door, id: 'D2' }, { ...door, id: 'D3' }, { ...door, id: 'D4', [field]: value }],
        `drawing D7, version_b, object 3: field "${field}" must be a finite number, got ${shown}`, { version: 'b', index: 3, field });
    }
  });
}

test('a duplicate id is malformed, naming both places', (t) => {
  const objs = [door, { ...door, id: 'X' }, { ...door, id: 'W1' }, door, { ...door, id: 'Y' }, { ...door, id: 'W1', x: '3' }];
  rejects(t, objs.slice(0, 4), 'drawing D7, version_a, object 3: duplicate id "D1" (first at object 0)', { version: 'a', index: 3, field: 'id' }, 'a');
  rejects(t, [objs[0], objs[1], objs[2], objs[4], objs[5]],
    'drawing D7, version_a, object 4: duplicate id "W1" (first at object 2)', { version: 'a', index: 4, field: 'id' }, 'a');
});

test('long offending strings are cut in the message', (t) => {
  const err = t.throws(() => validateVersion([{ ...door, x: 'z'.repeat(500) }], 'D7', 'a'), { instanceOf: MalformedInputError });
  t.true(err!.message.length < 120);
  t.true(err!.message.endsWith(`got "${'z'.repeat(40)}…"`));
});

test('the first problem in document order is the one reported', (t) => {
  const err = t.throws(() => validateVersion([{ ...door, x: 'bad' }, { id: 'D1' }], 'D7', 'a'), { instanceOf: MalformedInputError });
  t.deepEqual(err?.location, { version: 'a', index: 0, field: 'x' });
});

test('indexVersion maps every id to its index', (t) => {
  const { objects, indexById } = indexVersion([door, { ...door, id: 'D2', x: '9' }], 'D7', 'a');
  t.deepEqual([...indexById], [['D1', 0], ['D2', 1]]);
  t.is(objects[1]?.x, 9);
});
