/**
 * The simulator's pairs: repeatable from the seed, the seed's change pattern, every malformed
 * kind rejected by the service's own validator with the message naming the right place, half
 * pairs, and a spike of about ten times the usual changes.
 */
import test from 'ava';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { MalformedInputError } from '../../src/domain/errors.js';
import { decodeTask } from '../../src/domain/task.js';
import { diffPair } from '../../streams/diff/diff-pair.js';
import {
  checkScenario,
  drawingIdOf,
  scenarioItems,
  spikeIndex,
  type GoodItem,
  type MalformedItem,
  type ScenarioOptions,
  type SimItem,
} from '../../src/simulate/scenario.js';
import { expectedMessage, MALFORMED_KINDS, RawJson, spoilVersion, versionText } from '../../src/simulate/malformed.js';
import { createRandom, expectedChanges, generatePair, generateSpikePair, itemSeed } from '../../src/simulate/generator.js';
import { inlineTaskJson } from '../../src/simulate/inline-task.js';

const all = (o: ScenarioOptions): SimItem[] => [...scenarioItems(o)];
const goods = (items: SimItem[]) => items.filter((i): i is GoodItem => i.kind === 'good');
const total = (c: { added: number; removed: number; moved: number; modified: number }) => c.added + c.removed + c.moved + c.modified;

test('the same seed and options give the same pairs, byte for byte; another seed does not', (t) => {
  const options = { seed: 42, pairs: 120, objects: 25, malformedRate: 0.2, halfRate: 0.1, spike: true, drawings: 30 };
  const first = all(options);
  const second = all(options);
  t.deepEqual(second, first);
  const other = all({ ...options, seed: 43 });
  t.notDeepEqual(
    other.map((i) => i.a),
    first.map((i) => i.a),
  );
});

test('a good pair does not depend on the rates or on the pairs before it', (t) => {
  // given the same seed with and without bad pairs
  const plain = all({ seed: 9, pairs: 80, objects: 12 });
  const mixed = all({ seed: 9, pairs: 80, objects: 12, malformedRate: 0.4, halfRate: 0.2 });
  // then every pair that stayed good is identical
  const mixedGood = goods(mixed);
  t.true(mixedGood.length > 10 && mixedGood.length < 70);
  for (const item of mixedGood) t.deepEqual(item, plain[item.index]);
  // and the pair at index i of a longer run equals the pair at index i of a shorter one
  t.deepEqual(all({ seed: 9, pairs: 200, objects: 12 }).slice(0, 80), plain);
});

test('the seed change pattern: about 30% moved, 0.75 added and 0.3 removed per pair', (t) => {
  const items = goods(all({ seed: 1, pairs: 2000, objects: 100 }));
  const sum = items.reduce(
    (s, i) => ({ added: s.added + i.counts.added, removed: s.removed + i.counts.removed, moved: s.moved + i.counts.moved, modified: s.modified + i.counts.modified }),
    { added: 0, removed: 0, moved: 0, modified: 0 },
  );
  const n = items.length;
  t.is(n, 2000);
  t.true(sum.moved / (n * 100) > 0.28 && sum.moved / (n * 100) < 0.32, `moved share ${sum.moved / (n * 100)}`);
  t.true(sum.added / n > 0.6 && sum.added / n < 0.9, `added per pair ${sum.added / n}`);
  t.true(sum.removed / n > 0.2 && sum.removed / n < 0.4, `removed per pair ${sum.removed / n}`);
  t.is(sum.modified, 0, 'the seed never modifies');
});

test('the ground truth of a good pair is what the validator and diff find in its JSON text', (t) => {
  for (const item of goods(all({ seed: 5, pairs: 50, objects: 30, modifiedRate: 0.1 }))) {
    t.deepEqual(item.counts, countChanges(validateAndDiff(JSON.parse(item.a), JSON.parse(item.b), item.drawingId)));
  }
});

test('--modified-rate adds modified objects; 0 keeps the seed pattern', (t) => {
  const modified = goods(all({ seed: 2, pairs: 100, objects: 50, modifiedRate: 0.2 })).reduce((n, i) => n + i.counts.modified, 0);
  // ≈ 100 pairs × 50 objects × 0.7 unmoved × 0.2
  t.true(modified > 500 && modified < 900, `modified ${modified}`);
});

test('malformed pairs rotate through every kind, and each is rejected by the validator naming the place', (t) => {
  const items = all({ seed: 11, pairs: 300, objects: 10, malformedRate: 0.25 });
  const bad = items.filter((i): i is MalformedItem => i.kind === 'malformed');
  t.true(bad.length >= 60, `${bad.length} malformed`);
  // kinds in turn
  bad.forEach((item, n) => t.is(item.malformed.kind, MALFORMED_KINDS[n % MALFORMED_KINDS.length]!));
  const variants = new Map<string, Set<string>>();
  for (const item of bad) {
    const { kind, version, index, field, variant } = item.malformed;
    (variants.get(kind) ?? variants.set(kind, new Set()).get(kind)!).add(variant);
    // as the files target delivers it: bytes, parsed and validated by the diff stage
    const err = t.throws(
      () => diffPair({ drawingId: item.drawingId, tolerance: 0.1, pair: { a: { kind: 'bytes', bytes: Buffer.from(item.a) }, b: { kind: 'bytes', bytes: Buffer.from(item.b) } } }),
      { instanceOf: MalformedInputError },
      `${kind} ${variant}`,
    );
    t.is(err?.code, 'malformed_version');
    t.regex(err?.message ?? '', expectedMessage({ value: null, kind, variant, ...(index === undefined ? {} : { index }), ...(field === undefined ? {} : { field }) }, item.drawingId, version));
    t.is(err?.location.version, version);
    if (index !== undefined) t.is(err?.location.index, index, `${kind} names object ${index}`);
    if (field !== undefined) t.is(err?.location.field, field);
  }
  // several variants of the kinds that have them
  t.true((variants.get('bad_number')?.size ?? 0) >= 4, [...(variants.get('bad_number') ?? [])].join());
  t.true((variants.get('missing_field')?.size ?? 0) >= 6);
  t.true((variants.get('not_object')?.size ?? 0) >= 3);
});

test('inline, a version that is not an array is refused by task decoding; the other kinds pass it and fail in the diff', (t) => {
  const bad = all({ seed: 4, pairs: 60, objects: 10, malformedRate: 1 }) as MalformedItem[];
  for (const item of bad) {
    const body = inlineTaskJson(item, { task_id: `t:${item.index}` });
    if (item.malformed.kind === 'not_array') {
      const err = t.throws(() => decodeTask(Buffer.from(body)), { instanceOf: MalformedInputError });
      t.is(err?.code, 'malformed_task');
      t.regex(err?.message ?? '', new RegExp(`field "version_${item.malformed.version}" must be a JSON array`));
      continue;
    }
    const { versions } = decodeTask(Buffer.from(body));
    if (versions.kind !== 'inline') {
      t.fail(`decoded as ${versions.kind}`);
      continue;
    }
    const err = t.throws(() => validateAndDiff(versions.a, versions.b, item.drawingId), { instanceOf: MalformedInputError });
    t.is(err?.code, 'malformed_version');
  }
});

test('a non-finite number is written as 1e999, which JSON.parse reads as Infinity', (t) => {
  t.is(versionText([{ x: new RawJson('1e999'), y: 'ok' }]), '[{"x":1e999,"y":"ok"}]');
  t.is(JSON.parse(versionText([{ x: new RawJson('-1e999') }]))[0].x, -Infinity);
  // an ordinary string that merely looks like the marker survives
  t.is(versionText(['raw:1e999']), '["raw:1e999"]');
  const [a] = generatePair(createRandom(1), { objects: 10 });
  const spoiled = spoilVersion(a, 'bad_number', 0, createRandom(2));
  t.is(spoiled.variant, '1e999');
  const err = t.throws(() => validateAndDiff(JSON.parse(versionText(spoiled.value)), a, 'D1'), { instanceOf: MalformedInputError });
  t.regex(err?.message ?? '', /must be a finite number, got Infinity$/);
});

test('a duplicate id is reported at the later of the two objects, even in a one-object version', (t) => {
  const [a] = generatePair(createRandom(3), { objects: 10 });
  for (let seed = 0; seed < 20; seed++) {
    const spoiled = spoilVersion(a, 'duplicate_id', 0, createRandom(seed));
    const err = t.throws(() => validateAndDiff(spoiled.value, a, 'D1'), { instanceOf: MalformedInputError });
    t.is(err?.location.index, spoiled.index);
  }
  const single = spoilVersion(a.slice(0, 1), 'duplicate_id', 0, createRandom(1));
  t.is(single.index, 1);
  t.throws(() => validateAndDiff(single.value, a, 'D1'), { message: /object 1: duplicate id/ });
  t.throws(() => spoilVersion([], 'empty_id', 0, createRandom(1)), { instanceOf: RangeError });
});

test('half pairs carry one version, alternating which one arrived', (t) => {
  const items = all({ seed: 8, pairs: 400, objects: 10, halfRate: 0.2 });
  const halves = items.filter((i) => i.kind === 'half');
  t.true(halves.length > 50 && halves.length < 110, `${halves.length} half pairs`);
  halves.forEach((item, n) => {
    if (item.kind !== 'half') return;
    t.is(item.present, n % 2 === 0 ? 'a' : 'b');
    t.is(item.a === null, item.present === 'b');
    t.is(item.b === null, item.present === 'a');
  });
  // a half pair sent inline lacks the other version, which task decoding names
  const half = halves[0]!;
  t.throws(() => decodeTask(Buffer.from(inlineTaskJson(half))), { message: /field "version_b" is missing/ });
});

test('the spike is the last revision of the first drawing, with about 10 times the usual changes', (t) => {
  for (const objects of [10, 100, 1000]) {
    const items = all({ seed: 21, pairs: 300, objects, drawings: 50, spike: true });
    const spike = items.filter((i): i is GoodItem => i.kind === 'good' && i.spike);
    t.is(spike.length, 1);
    const s = spike[0]!;
    t.is(s.index, spikeIndex(300, 50));
    t.is(s.index, 250);
    t.is(s.drawingId, 'drawing_0000');
    t.is(s.revision, 5);
    const others = goods(items).filter((i) => !i.spike);
    const mean = others.reduce((n, i) => n + total(i.counts), 0) / others.length;
    const ratio = total(s.counts) / mean;
    t.true(ratio > 8 && ratio < 12.5, `objects ${objects}: spike ${total(s.counts)} vs mean ${mean.toFixed(2)} (${ratio.toFixed(1)}×)`);
  }
  // the spike stays good whatever the rates, and needs no other pairs
  const only = all({ seed: 1, pairs: 1, objects: 10, spike: true, malformedRate: 1 });
  t.is(only[0]?.kind, 'good');
});

test('generateSpikePair hits its target exactly: every move is beyond the tolerance', (t) => {
  for (let seed = 0; seed < 10; seed++) {
    const [a, b] = generateSpikePair(createRandom(seed), { objects: 40 });
    t.is(total(countChanges(validateAndDiff(a, b, 'S'))), Math.round(10 * expectedChanges(40)));
  }
});

test('drawing ids are zero-padded as the seed does, wider when there are more drawings', (t) => {
  t.is(drawingIdOf(7, 100), 'drawing_0007');
  t.is(drawingIdOf(7, 123_456), 'drawing_000007');
  t.is(drawingIdOf(3, 10, 'site-a.'), 'site-a.0003');
  const items = all({ seed: 1, pairs: 10, objects: 10, drawings: 4 });
  t.deepEqual(
    items.map((i) => `${i.drawingId}#${i.revision}`),
    ['drawing_0000#0', 'drawing_0001#0', 'drawing_0002#0', 'drawing_0003#0', 'drawing_0000#1', 'drawing_0001#1', 'drawing_0002#1', 'drawing_0003#1', 'drawing_0000#2', 'drawing_0001#2'],
  );
});

test('bad scenario options are refused with the option named', (t) => {
  const base = { seed: 1, pairs: 10, objects: 10 };
  t.throws(() => checkScenario({ ...base, pairs: 0 }), { message: /^pairs must be a whole number from 1/ });
  t.throws(() => checkScenario({ ...base, seed: -1 }), { message: /^seed must be/ });
  t.throws(() => checkScenario({ ...base, drawings: 11 }), { message: /^drawings must be a whole number from 1 to 10, got 11/ });
  t.throws(() => checkScenario({ ...base, malformedRate: 1.5 }), { message: /^malformedRate must be a number from 0 to 1/ });
  t.throws(() => checkScenario({ ...base, halfRate: Number.NaN }), { message: /^halfRate/ });
  t.throws(() => checkScenario({ ...base, malformedRate: 0.6, halfRate: 0.6 }), { message: /at most 1/ });
  t.throws(() => [...scenarioItems({ ...base, objects: 0 })], { message: /^objects/ });
});

test('itemSeed spreads neighbouring indexes and seeds apart', (t) => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 20; seed++) for (let i = 0; i < 500; i++) seen.add(itemSeed(seed, i));
  t.is(seen.size, 10_000);
});
