/**
 * Geometry matching (issue 13): the three rules, one-to-one, closest first, ties reported as
 * ambiguous and never guessed, independent of the order of objects; id matching alone unchanged.
 */
import test from 'ava';
import fc from 'fast-check';
import { diffVersions, validateAndDiff } from '../../src/domain/diff.js';
import { matchByGeometry, matchModeFor } from '../../src/domain/match.js';
import type { ChangeSet, DrawingObject } from '../../src/domain/types.js';

const TOL = 0.1;
const RADIUS = 10;
const TYPES = ['door', 'window', 'wall', 'column'] as const;

const obj = (id: string, type: string, x: number, y: number, width = 1, height = 2): DrawingObject => ({ id, type, x, y, width, height });

/**
 * A version whose objects are all told apart by geometry: each sits in its own 100-unit cell
 * (far beyond MATCH_RADIUS from any other), with a random type, offset and size.
 */
const distinctVersion = fc
  .uniqueArray(fc.integer({ min: 0, max: 2499 }), { minLength: 1, maxLength: 60 })
  .chain((cells) =>
    fc.tuple(
      ...cells.map((cell) =>
        fc.record({
          type: fc.constantFrom(...TYPES),
          ox: fc.double({ min: 20, max: 80, noNaN: true }),
          oy: fc.double({ min: 20, max: 80, noNaN: true }),
          width: fc.double({ min: 0.5, max: 5, noNaN: true }),
          height: fc.double({ min: 0.5, max: 5, noNaN: true }),
        }).map(({ type, ox, oy, width, height }) => obj(`A${cell}`, type, (cell % 50) * 100 + ox, Math.floor(cell / 50) * 100 + oy, width, height)),
      ),
    ),
  );

/** Any version at all, on a coarse lattice so equal and near-equal boxes (ties) are common. */
const crowdedVersion = (prefix: string) =>
  fc
    .array(
      fc.record({
        type: fc.constantFrom('door', 'window'),
        x: fc.integer({ min: 0, max: 12 }).map((n) => n * 2.5),
        y: fc.integer({ min: 0, max: 3 }).map((n) => n * 2.5),
        width: fc.constantFrom(1, 1.05, 2),
        height: fc.constantFrom(1, 2),
        keepId: fc.boolean(),
      }),
      { maxLength: 40 },
    )
    .map((rows) => rows.map((r, i) => obj(r.keepId ? `K${i}` : `${prefix}${i}`, r.type, r.x, r.y, r.width, r.height)));

/** Every id replaced by a fresh one that shares nothing with the old. */
const regenerate = (v: readonly DrawingObject[]) => v.map((o, i) => ({ ...o, id: `new-${i}-${o.id.length}` }));

/** Order-free view of a change set: each list sorted by id (the summary's examples follow list order). */
function normalized(c: ChangeSet) {
  const byId = <T extends { id: string }>(xs: readonly T[]) => [...xs].sort((p, q) => (p.id < q.id ? -1 : p.id > q.id ? 1 : 0));
  return {
    added: byId(c.added),
    removed: byId(c.removed),
    moved: byId(c.moved),
    modified: byId(c.modified),
    renamed: byId(c.renamed ?? []),
    ambiguous: [...(c.ambiguous ?? [])].sort((p, q) => ((p.previous_ids[0] ?? '') < (q.previous_ids[0] ?? '') ? -1 : 1)),
  };
}

const geometry = { tolerance: TOL, radius: RADIUS, match: 'geometry' } as const;

test('property: regenerating every id, and nothing else, leaves every object renamed and nothing changed', (t) => {
  fc.assert(
    fc.property(distinctVersion, fc.boolean(), (a, auto) => {
      const b = regenerate(a);
      const c = diffVersions(a, b, { ...geometry, match: auto ? 'auto' : 'geometry' });
      t.deepEqual([c.added.length, c.removed.length, c.moved.length, c.modified.length], [0, 0, 0, 0]);
      t.is(c.renamed?.length, a.length);
      t.deepEqual(c.ambiguous, []);
      const newIdOf = new Map(a.map((o, i) => [o.id, (b[i] as DrawingObject).id]));
      for (const r of c.renamed ?? []) t.is(r.id, newIdOf.get(r.previous_id) as string);
    }),
    { numRuns: 60 },
  );
});

test('property: moving k objects less than the radius, with every id regenerated, moves exactly those k', (t) => {
  const moves = fc.array(
    fc
      .record({ dx: fc.double({ min: -7, max: 7, noNaN: true }), dy: fc.double({ min: -7, max: 7, noNaN: true }) })
      .filter(({ dx, dy }) => Math.max(Math.abs(dx), Math.abs(dy)) > 0.2),
    { maxLength: 60 },
  );
  fc.assert(
    fc.property(distinctVersion, moves, (a, shifts) => {
      const movedIdx = new Set(shifts.map((_, k) => k).filter((k) => k < a.length));
      const b = regenerate(a).map((o, i) => {
        const s = shifts[i];
        return s && movedIdx.has(i) ? { ...o, x: o.x + s.dx, y: o.y + s.dy } : o;
      });
      const c = diffVersions(a, b, geometry);
      t.deepEqual([c.added.length, c.removed.length, c.modified.length], [0, 0, 0]);
      t.is(c.moved.length, movedIdx.size);
      t.is(c.renamed?.length, a.length - movedIdx.size);
      const byPrevious = new Map(c.moved.map((m) => [m.previous_id, m]));
      for (const i of movedIdx) {
        const from = a[i] as DrawingObject;
        const to = b[i] as DrawingObject;
        const m = byPrevious.get(from.id);
        t.truthy(m, `${from.id} is moved`);
        t.is(m?.id, to.id);
        t.is(m?.matched_by, 'geometry');
        t.is(m?.dx, to.x - from.x);
        t.is(m?.dy, to.y - from.y);
      }
    }),
    { numRuns: 60 },
  );
});

test('property: shuffling either version never changes the result', (t) => {
  fc.assert(
    fc.property(
      crowdedVersion('a'),
      crowdedVersion('b'),
      fc.constantFrom('geometry', 'auto', 'id') as fc.Arbitrary<'geometry' | 'auto' | 'id'>,
      fc.infiniteStream(fc.integer()),
      (a, b, match, noise) => {
        const shuffle = <T>(xs: readonly T[]) => {
          const out = [...xs];
          for (let i = out.length - 1; i > 0; i--) {
            const j = Math.abs(noise.next().value as number) % (i + 1);
            [out[i], out[j]] = [out[j] as T, out[i] as T];
          }
          return out;
        };
        const base = diffVersions(a, b, { ...geometry, match });
        const shuffled = diffVersions(shuffle(a), shuffle(b), { ...geometry, match });
        t.deepEqual(normalized(shuffled), normalized(base));
      },
    ),
    { numRuns: 300 },
  );
});

test('property: a row of identical windows shifted by half a spacing is ambiguous, never confident moves', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.double({ min: 1, max: 2 * RADIUS, noNaN: true }),
      fc.boolean(),
      fc.double({ min: -1000, max: 1000, noNaN: true }),
      (n, spacing, vertical, origin) => {
        const at = (k: number) => (vertical ? { x: origin, y: origin + k } : { x: origin + k, y: origin });
        const a = Array.from({ length: n }, (_, i) => ({ id: `W${i}`, type: 'window', ...at(i * spacing), width: 1, height: 1 }));
        const b = Array.from({ length: n }, (_, i) => ({ id: `N${i}`, type: 'window', ...at(i * spacing + spacing / 2), width: 1, height: 1 }));
        const c = diffVersions(a, b, geometry);
        t.deepEqual(c.moved, []);
        t.deepEqual(c.renamed, []);
        t.is(c.added.length, n);
        t.is(c.removed.length, n);
        const inGroups = (c.ambiguous ?? []).flatMap((g) => [...g.previous_ids, ...g.ids]).sort();
        t.deepEqual(inGroups, [...a.map((o) => o.id), ...b.map((o) => o.id)].sort());
        t.regex(c.summary, new RegExp(`${2 * n} object\\(s\\) in \\d+ ambiguous group`));
      },
    ),
    { numRuns: 100 },
  );
});

test('property: id matching alone (MATCH_FALLBACK=none) is the seed diff, byte for byte, whatever the ids', (t) => {
  fc.assert(
    fc.property(crowdedVersion('a'), crowdedVersion('b'), (a, b) => {
      const seedShape = JSON.stringify(diffVersions(a, b));
      t.is(JSON.stringify(diffVersions(a, b, { match: 'id', radius: RADIUS })), seedShape);
      t.is(JSON.stringify(validateAndDiff(a, b, 'D1', { match: matchModeFor(undefined, 'none') })), seedShape);
      t.false(seedShape.includes('"renamed"') || seedShape.includes('"previous_id"'));
    }),
    { numRuns: 100 },
  );
});

test('rule 3: same type and place, new size: modified, with previous_id and the new id in its words', (t) => {
  const c = diffVersions([obj('W1', 'wall', 0, 0, 2, 1)], [obj('X9', 'wall', 0.05, 0, 3.5, 1)], geometry);
  t.deepEqual(c.moved, []);
  t.is(c.modified.length, 1);
  t.like(c.modified[0], { id: 'X9', previous_id: 'W1', matched_by: 'geometry', fields: ['width'] });
  t.is(c.modified[0]?.description, 'X9 (was W1) modified: width 2.0 → 3.5');
  t.is(c.summary, '1 object(s) modified: X9 (was W1) modified: width 2.0 → 3.5. 1 object(s) re-identified by geometry (0 only renamed).');
});

test('rule order: a same-box candidate wins over a nearer-moved one, and each object is taken once', (t) => {
  // A1's same box is B2 (rule 1); B1 is 3 units away (rule 2) and goes to A2, 2 units from it.
  const a = [obj('A1', 'door', 0, 0), obj('A2', 'door', 5, 0)];
  const b = [obj('B1', 'door', 3, 0), obj('B2', 'door', 0, 0)];
  const c = diffVersions(a, b, geometry);
  t.deepEqual(c.renamed?.map((r) => [r.previous_id, r.id]), [['A1', 'B2']]);
  t.deepEqual(c.moved.map((m) => [m.previous_id, m.id, m.description]), [['A2', 'B1', 'B1 (was A2) moved 2.0 units west']]);
});

test('a different type, or a move beyond MATCH_RADIUS, is never paired', (t) => {
  const c = diffVersions([obj('A1', 'door', 0, 0), obj('A2', 'door', 50, 0)], [obj('B1', 'window', 0, 0), obj('B2', 'door', 50, 10.5)], geometry);
  t.deepEqual(c.added.map((o) => o.id), ['B1', 'B2']);
  t.deepEqual(c.removed.map((o) => o.id), ['A1', 'A2']);
  t.deepEqual(c.renamed, []);
  t.is(c.summary, '2 object(s) added: B1 (window at 0.0,0.0), B2 (door at 50.0,10.5). 2 object(s) removed: A1 (door), A2 (door).');
  // within the radius the second pair is a move
  t.is(diffVersions([obj('A2', 'door', 50, 0)], [obj('B2', 'door', 50, 9.9)], geometry).moved.length, 1);
});

test('two identical boxes regenerated are ambiguous even though either pairing would look the same', (t) => {
  const a = [obj('A1', 'door', 0, 0), obj('A2', 'door', 0, 0)];
  const b = [obj('B1', 'door', 0, 0), obj('B2', 'door', 0, 0.05)];
  const c = diffVersions(a, b, geometry);
  t.deepEqual(c.renamed, []);
  t.deepEqual(c.ambiguous, [
    { type: 'door', previous_ids: ['A1', 'A2'], ids: ['B1', 'B2'], description: 'door A1, A2 or B1, B2: equally good candidates, not matched' },
  ]);
});

test('a clearly closer candidate is taken: not every second candidate makes a tie', (t) => {
  const c = diffVersions([obj('A1', 'door', 0, 0)], [obj('B1', 'door', 2, 0), obj('B2', 'door', 6, 0)], geometry);
  t.deepEqual(c.moved.map((m) => [m.previous_id, m.id]), [['A1', 'B1']]);
  t.deepEqual(c.added.map((o) => o.id), ['B2']);
  t.deepEqual(c.ambiguous, []);
});

test('auto: geometry runs only when more than half of A’s ids are absent from B', (t) => {
  const a = [obj('A1', 'door', 0, 0), obj('A2', 'door', 100, 0), obj('A3', 'door', 200, 0), obj('A4', 'door', 300, 0)];
  const half = [obj('A1', 'door', 0, 0), obj('A2', 'door', 100, 0), obj('X3', 'door', 200, 0), obj('X4', 'door', 300, 0)];
  const auto = { ...geometry, match: 'auto' } as const;
  const notRun = diffVersions(a, half, auto);
  t.false('renamed' in notRun, 'two of four absent: not more than half, the seed’s shape');
  t.deepEqual(notRun, diffVersions(a, half));
  const most = [...half.slice(0, 1), obj('X2', 'door', 100, 0), ...half.slice(2)];
  t.is(diffVersions(a, most, auto).renamed?.length, 3);
  // a pair geometry ran on but found nothing to pair still says so, with empty lists
  const nothing = diffVersions([obj('A1', 'door', 0, 0)], [obj('B1', 'wall', 0, 0)], geometry);
  t.deepEqual([nothing.renamed, nothing.ambiguous], [[], []]);
  t.is(nothing.summary, '1 object(s) added: B1 (wall at 0.0,0.0). 1 object(s) removed: A1 (door).');
});

test('the task or CLI mode wins over MATCH_FALLBACK; none means id matching', (t) => {
  t.is(matchModeFor(undefined, 'none'), 'id');
  t.is(matchModeFor(undefined, 'auto'), 'auto');
  t.is(matchModeFor('id', 'geometry'), 'id');
  t.is(matchModeFor('geometry', 'none'), 'geometry');
});

test('a negative or non-finite radius is a programming error, not a silent default', (t) => {
  t.throws(() => diffVersions([], [], { match: 'geometry', radius: -1 }), { instanceOf: RangeError, message: /radius/ });
  t.throws(() => diffVersions([], [], { match: 'geometry', radius: Number.POSITIVE_INFINITY }), { instanceOf: RangeError });
});

test('matching 100,000 regenerated objects scales through the spatial hash (well under an all-pairs scan)', (t) => {
  // 10^10 candidate pairs would take minutes; the hash makes it about one candidate per object.
  const n = 100_000;
  const a = Array.from({ length: n }, (_, i) => obj(`A${i}`, TYPES[i % 4] as string, (i % 400) * 25, Math.floor(i / 400) * 25));
  const b = regenerate(a).map((o, i) => (i % 100 === 0 ? { ...o, x: o.x + 3 } : o));
  const m = matchByGeometry(a, b, { tolerance: TOL, radius: RADIUS });
  t.is(m.pairs, n);
  t.deepEqual(m.ambiguous, []);
  t.true(m.partnerOfRemoved.every((j, i) => j === i));
});

test('a dense grid of identical tiles, regenerated, is paired by rule 1 without every neighbour in MATCH_RADIUS becoming a candidate', (t) => {
  // 40,000 tiles one unit apart: about 300 same-size neighbours each within the radius, so 12
  // million rule-2 candidates if they were gathered before rule 1 had paired everything.
  const a = Array.from({ length: 40_000 }, (_, i) => obj(`T${i}`, 'tile', i % 200, Math.floor(i / 200), 0.5, 0.5));
  const c = diffVersions(a, regenerate(a), geometry);
  t.is(c.renamed?.length, a.length);
  t.deepEqual([c.added.length, c.removed.length, c.moved.length, c.ambiguous?.length], [0, 0, 0, 0]);
});

test('a rival a hair past MATCH_RADIUS still contests: equally far places at the radius are a tie, not a move', (t) => {
  // the case fast-check found: b at 10 from a0 and, by rounding, a hair over 10 from a1
  const origin = 3.641531520770514e-13;
  const a = [obj('W0', 'window', origin, 0, 1, 1), obj('W1', 'window', origin + 2 * RADIUS, 0, 1, 1)];
  const b = [obj('N0', 'window', origin + RADIUS, 0, 1, 1), obj('N1', 'window', origin + 3 * RADIUS, 0, 1, 1)];
  const c = diffVersions(a, b, geometry);
  t.deepEqual(c.moved, []);
  t.is(c.added.length, 2);
  t.is(c.removed.length, 2);
  t.is(c.ambiguous?.length, 1);
  // and a place clearly past the radius, alone, is no candidate at all
  const far = diffVersions([obj('W0', 'window', 0, 0, 1, 1)], [obj('N0', 'window', RADIUS + 2 * TOL, 0, 1, 1)], geometry);
  t.deepEqual([far.moved.length, far.added.length, far.ambiguous?.length ?? 0], [0, 1, 0]);
});
