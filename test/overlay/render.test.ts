import test from 'ava';
import { countChanges, diffVersions } from '../../src/domain/diff.js';
import { validateVersion } from '../../src/domain/drawing.js';
import type { DrawingObject } from '../../src/domain/types.js';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { ARROW_LABEL_LIMIT, renderOverlay } from '../../src/overlay/render.js';
import { escapeXml } from '../../src/overlay/escape.js';
import { classCounts, parseSvg, walk, withClass, type SvgNode } from '../support/svg.js';

const o = (id: string, type: string, x: number, y: number, width = 1, height = 1): DrawingObject => ({ id, type, x, y, width, height });

/** The README's example: W1 moved 2 east, D7 removed, N2 added. */
const SEED_A = [o('W1', 'wall', 0, 0, 4, 1), o('D7', 'door', 4, 2, 1, 2)];
const SEED_B = [o('W1', 'wall', 2, 0, 4, 1), o('N2', 'window', 9, 9, 1, 1)];

function plan(root: SvgNode): SvgNode {
  const p = withClass(root, 'plan')[0];
  if (!p) throw new Error('no plan');
  return p;
}

/** Every rect and circle of the plan lies inside its viewBox. */
function assertFits(t: import('ava').ExecutionContext, root: SvgNode): void {
  const [vx, vy, vw, vh] = (plan(root).attributes.viewBox ?? '').split(' ').map(Number) as [number, number, number, number];
  t.true(vw > 0 && vh > 0);
  for (const n of walk(plan(root))) {
    const a = n.attributes;
    if (n.name === 'rect') {
      t.true(Number(a.x) >= vx && Number(a.x) + Number(a.width) <= vx + vw, `rect x in ${vx}..${vx + vw}`);
      t.true(Number(a.y) >= vy && Number(a.y) + Number(a.height) <= vy + vh, `rect y in ${vy}..${vy + vh}`);
    }
    if (n.name === 'circle') {
      t.true(Number(a.cx) >= vx && Number(a.cx) <= vx + vw && Number(a.cy) >= vy && Number(a.cy) <= vy + vh);
      t.true(Number(a.r) > 0 && Number(a.r) < Math.max(vw, vh) / 20, `marker radius ${a.r} small against the plan`);
    }
    // Arrowheads and labels are sized in plan units too: a few percent of the plan, never all of it.
    if (n.name === 'marker') t.true(Number(a.markerWidth) > 0 && Number(a.markerWidth) < Math.max(vw, vh) / 20, `arrowhead ${a.markerWidth}`);
    if (n.name === 'text' && a['font-size'] !== undefined) t.true(Number(a['font-size']) < Math.max(vw, vh) / 10, `label size ${a['font-size']}`);
  }
}

test('the seed example: well-formed XML, one group per change with its class, id and description', (t) => {
  const changes = diffVersions(SEED_A, SEED_B);
  for (const versions of [{ a: SEED_A, b: SEED_B }, null]) {
    const root = parseSvg(renderOverlay({ drawingId: 'D1', changes, versions }));
    t.deepEqual(classCounts(root), { added: 1, removed: 1, moved: 1, modified: 0 });
    t.deepEqual(withClass(root, 'added').map((g) => g.attributes['data-id']), ['N2']);
    t.deepEqual(withClass(root, 'removed').map((g) => g.attributes['data-id']), ['D7']);
    const moved = withClass(root, 'moved')[0]!;
    t.is(moved.attributes['data-id'], 'W1');
    t.is(moved.children.find((c) => c.name === 'title')?.text, 'W1 moved 2.0 units east');
    // Old outline ghosted (dashed), new one solid, an arrow between, labelled with the distance.
    t.is(moved.children.filter((c) => c.name === 'line').length, 1);
    t.is(moved.children.find((c) => c.name === 'text')?.text, '2.0');
    assertFits(t, root);
    // Legend, north arrow, scale bar.
    t.is(withClass(root, 'legend').length, 1);
    t.is(withClass(root, 'north').length, 1);
    t.is(withClass(root, 'scale-bar').length, 1);
  }
});

test('north up: an object further north is drawn higher (smaller SVG y)', (t) => {
  const changes = diffVersions([], [o('S', 'door', 0, 0), o('N', 'door', 0, 50)]);
  const root = parseSvg(renderOverlay({ drawingId: 'D', changes }));
  const y = (id: string) => Number(withClass(root, 'added').find((g) => g.attributes['data-id'] === id)!.children.find((c) => c.name === 'rect')!.attributes.y);
  t.true(y('N') < y('S'));
});

test('unchanged objects: grey when the versions are given, else left out and the legend says so', (t) => {
  const a = [o('K1', 'wall', 0, 0), o('K2', 'wall', 5, 5), o('M', 'door', 1, 1)];
  const b = [o('K1', 'wall', 0, 0), o('K2', 'wall', 5, 5), o('M', 'door', 3, 1)];
  const changes = diffVersions(a, b);
  const withVersions = renderOverlay({ drawingId: 'D', changes, versions: { a, b } });
  const unchanged = withClass(parseSvg(withVersions), 'unchanged');
  t.is(unchanged.length, 1);
  t.is((unchanged[0]!.attributes.d ?? '').match(/M/g)?.length, 2);
  t.regex(withVersions, /unchanged: 2 \(grey\)/);
  const without = renderOverlay({ drawingId: 'D', changes });
  t.is(withClass(parseSvg(without), 'unchanged').length, 0);
  t.regex(without, /Unchanged objects are not drawn/);
});

/** Generated pairs in the seed's pattern, with some types and sizes changed too (modified items). */
function generated(seed: number, objects: number): { a: DrawingObject[]; b: DrawingObject[] } {
  const [rawA, rawB] = generatePair(createRandom(seed), { objects });
  const rand = createRandom(seed + 1000);
  const b = (rawB as DrawingObject[]).map((x) => (rand() < 0.15 ? { ...x, width: x.width + 1 + rand(), type: rand() < 0.5 ? 'beam' : x.type } : x));
  return { a: validateVersion(rawA, 'g', 'a'), b: validateVersion(b, 'g', 'b') };
}

for (const [seed, objects] of [[1, 20], [7, 300], [2024, 5000]] as const) {
  test(`generated pair (seed ${seed}, ${objects} objects): class counts equal the result's counts`, (t) => {
    const { a, b } = generated(seed, objects);
    const changes = diffVersions(a, b);
    const counts = countChanges(changes);
    t.true(counts.moved > 0 && counts.modified > 0, JSON.stringify(counts));
    for (const versions of [{ a, b }, null]) {
      const root = parseSvg(renderOverlay({ drawingId: 'gen', changes, versions }));
      t.deepEqual(classCounts(root), counts);
      // Each changed object exactly once, both classes on an object moved and modified.
      const ids = [...walk(root)].filter((n) => n.attributes['data-id'] !== undefined).map((n) => n.attributes['data-id']);
      t.is(new Set(ids).size, ids.length);
      const both = changes.moved.filter((m) => changes.modified.some((x) => x.id === m.id)).length;
      t.is([...walk(root)].filter((n) => /\bmoved\b/.test(n.attributes.class ?? '') && /\bmodified\b/.test(n.attributes.class ?? '')).length, both);
      if (versions) assertFits(t, root);
    }
  });
}

test('without the versions, objects only modified (no position kept) are listed in a tray, still one group each', (t) => {
  const a = [o('W', 'wall', 0, 0, 2, 1)];
  const b = [o('W', 'door', 0, 0, 3, 1)];
  const root = parseSvg(renderOverlay({ drawingId: 'D', changes: diffVersions(a, b) }));
  t.deepEqual(classCounts(root), { added: 0, removed: 0, moved: 0, modified: 1 });
  t.is(withClass(root, 'tray').length, 1);
  t.is(withClass(withClass(root, 'tray')[0]!, 'modified')[0]!.attributes['data-id'], 'W');
});

const HOSTILE = ['<script>alert(1)</script>', 'a"b\'c', ']]><x/>', '&amp;', '--><!--', 'ctl\u0001\u001f', 'lone\uD800'];

test('hostile ids and types come out as text, never markup', (t) => {
  const a = HOSTILE.map((id, i) => o(`${id}-r`, `<script>t${i}</script>`, i, 0));
  const moved = HOSTILE.map((id, i) => o(`${id}-m`, ']]>"', i, 5));
  const b = [...HOSTILE.map((id, i) => o(`${id}-a`, '<img src=x onerror=alert(1)>', i, 10)), ...moved.map((m) => ({ ...m, x: m.x + 3, type: '"\'<>' }))];
  const changes = diffVersions([...a, ...moved], b);
  t.is(changes.modified.length, HOSTILE.length);
  const svg = renderOverlay({ drawingId: 'D1', changes });
  const root = parseSvg(svg);
  t.deepEqual(classCounts(root), countChanges(changes));
  // Nothing but SVG's own elements, and no attribute the input could have smuggled in.
  const names = new Set([...walk(root)].map((n) => n.name));
  for (const name of names) t.true(['svg', 'title', 'desc', 'rect', 'text', 'defs', 'marker', 'path', 'g', 'line', 'circle'].includes(name), name);
  t.false([...walk(root)].some((n) => Object.keys(n.attributes).some((k) => k.startsWith('on'))));
  t.notRegex(svg, /<script|<img|<x\/>|]]><|<!\[CDATA/);
  // The ids survive as text: XML-legal ones exactly, the rest with the illegal code points replaced.
  const ids = withClass(root, 'added').map((g) => g.attributes['data-id']);
  t.deepEqual(ids, HOSTILE.map((id) => `${id}-a`.replace(/[\u0001\u001f]|\uD800/g, '\uFFFD')));
});

test('escapeXml: markup characters and XML-illegal code points', (t) => {
  t.is(escapeXml(`<a href="x">'&'</a>]]>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;]]&gt;');
  t.is(escapeXml('a\u0000b\uFFFEc\uDC00d\uD83D\uDE00'), 'a\uFFFDb\uFFFDc\uFFFDd\uD83D\uDE00');
  t.is(escapeXml('tab\tnl\ncr\r'), 'tab\tnl\ncr\r');
});

test('100,000 objects: still one group per change, thin strokes, no arrow labels past the limit', (t) => {
  const { a, b } = generated(99, 100_000);
  const changes = diffVersions(a, b);
  t.true(changes.moved.length > ARROW_LABEL_LIMIT);
  const root = parseSvg(renderOverlay({ drawingId: 'big', changes, versions: { a, b } }));
  t.deepEqual(classCounts(root), countChanges(changes));
  const moved = withClass(root, 'moved');
  t.false(moved.some((g) => g.children.some((c) => c.name === 'text')));
  t.is(plan(root).attributes['data-stroke-px'], '0.5');
  // One stroke width for the whole plan, inherited: no group carries its own.
  const width = withClass(root, 'shapes')[0]!.attributes['stroke-width'];
  t.false(moved.some((g) => 'stroke-width' in g.attributes));
  // At the plan's scale the strokes are half a pixel wide.
  const [, , vw, vh] = (plan(root).attributes.viewBox ?? '').split(' ').map(Number) as [number, number, number, number];
  t.true(Math.abs(Number(width) * Math.min(960 / vw, 600 / vh) - 0.5) < 0.01);
});

test('the same result gives the same bytes', (t) => {
  const changes = diffVersions(SEED_A, SEED_B);
  t.is(renderOverlay({ drawingId: 'D1', changes }), renderOverlay({ drawingId: 'D1', changes: structuredClone(changes) }));
});

test('a re-export matched by geometry: renamed objects get their own class and id, moved ones carry their new id', (t) => {
  // given a version whose ids were all regenerated, with one object moved 3 units east
  const a = [o('A1', 'door', 0, 0), o('A2', 'window', 20, 0), o('A3', 'wall', 40, 0, 4, 1)];
  const b = [o('B1', 'door', 0, 0), o('B2', 'window', 23, 0), o('B3', 'wall', 40, 0, 4, 1)];
  const changes = diffVersions(a, b, { match: 'geometry' });
  t.is(changes.renamed?.length, 2);
  for (const versions of [{ a, b }, null]) {
    // when it is drawn, with and without the versions
    const root = parseSvg(renderOverlay({ drawingId: 'D1', changes, versions }));
    // then each renamed object is one group with its new id, and the moved one is drawn as moved
    t.deepEqual(withClass(root, 'renamed').map((g) => g.attributes['data-id']).sort(), ['B1', 'B3']);
    t.deepEqual(classCounts(root), { added: 0, removed: 0, moved: 1, modified: 0 });
    t.is(withClass(root, 'moved')[0]?.attributes['data-id'], 'B2');
    // placed on the plan from version B when it can be read, else listed in the tray
    const inTray = withClass(root, 'tray').flatMap((tray) => withClass(tray, 'renamed')).length;
    t.is(inTray, versions === null ? 2 : 0);
  }
});
