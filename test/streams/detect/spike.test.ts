import test from 'ava';
import { HOUR_MS } from '../../../streams/aggregate/hourly-windows.js';
import { detectSystemSpike, SpikeDetector, totalChanges } from '../../../streams/detect/spike.js';

const T0 = Date.parse('2026-11-29T10:30:00.000Z');
const c = (added: number, removed = 0, moved = 0, modified = 0) => ({ added, removed, moved, modified });

function setup(options: Partial<ConstructorParameters<typeof SpikeDetector>[0]> = {}) {
  const clock = { now: T0 };
  let seq = 0;
  const spikes = new SpikeDetector({ clock: () => clock.now, ...options });
  /** Feeds one result of `drawingId` with `total` changes (spread over the four kinds). */
  const feed = (drawingId: string, total: number, at = clock.now) => {
    const added = Math.ceil(total / 2);
    return spikes.observe({ drawingId, taskKey: `task-${++seq}`, counts: c(added, total - added), at: new Date(at) });
  };
  return { clock, spikes, feed, lastKey: () => `task-${seq}` };
}

test('totalChanges adds the four kinds and ignores non-numbers', (t) => {
  t.is(totalChanges(c(1, 2, 3, 4)), 10);
  t.is(totalChanges({ added: Number.NaN, removed: -2, moved: 3, modified: Number.POSITIVE_INFINITY }), 3);
});

test('a drawing spikes at exactly factor × its baseline, not one change below', (t) => {
  const below = setup();
  for (const n of [1, 2, 3]) below.feed('D1', n); // baseline 2
  t.deepEqual(below.feed('D1', 19), []);

  const at = setup();
  for (const n of [1, 2, 3]) at.feed('D1', n);
  const [spike, ...rest] = at.feed('D1', 20);
  t.deepEqual(rest, []);
  t.is(spike?.type, 'spike_detected');
  t.is(spike?.drawingId, 'D1');
  t.is(spike?.id, `spike_detected:D1:${at.lastKey()}`);
  t.is(spike?.severity, 'medium');
  t.like(spike?.details, { scope: 'drawing', changes: 20, baseline: 2, baseline_results: 3, ratio: 10, factor: 10 });
  t.deepEqual(spike?.timestamp, new Date(T0));
});

test('a non-integer baseline has no rounding error at the threshold', (t) => {
  // baseline 4/3: the threshold is 13.33…, so 13 is below and 14 above
  const a = setup();
  for (const n of [1, 1, 2]) a.feed('D', n);
  t.deepEqual(a.feed('D', 13), []);
  const b = setup();
  for (const n of [1, 1, 2]) b.feed('D', n);
  t.is(b.feed('D', 14).length, 1);
  // factor 3 and baseline 10/3: exactly 10 is ≥ 3 × 10/3
  const f = setup({ factor: 3, baselineFloor: 0.1 });
  for (const n of [3, 3, 4]) f.feed('D', n);
  t.is(f.feed('D', 10).length, 1);
});

test('a drawing needs 3 prior results before it can spike', (t) => {
  const { feed } = setup();
  t.deepEqual(feed('D1', 1), []);
  t.deepEqual(feed('D1', 1), []);
  t.deepEqual(feed('D1', 1000), []); // only 2 prior results
  t.is(feed('D1', 10_000).length, 1); // baseline (1 + 1 + 1000) / 3
});

test('a zero-change history fires at factor × the floor (10 changes), not at 1 or 9', (t) => {
  for (const [changes, fires] of [[1, false], [9, false], [10, true]] as const) {
    const { feed } = setup();
    for (let i = 0; i < 3; i++) feed('D1', 0);
    const anomalies = feed('D1', changes);
    t.is(anomalies.length, fires ? 1 : 0, `${changes} changes`);
    if (fires) t.like(anomalies[0]?.details, { changes: 10, baseline: 0, baseline_floor: 1, ratio: 10 });
  }
});

test('the baseline covers the last 10 results only', (t) => {
  const { feed } = setup();
  for (let i = 0; i < 5; i++) feed('D1', 100);
  for (let i = 0; i < 10; i++) feed('D1', 1);
  // the five 100s left the history: baseline 1
  t.is(feed('D1', 10).length, 1);
});

test('a large spike is high severity; a result already seen (same task key) is not counted twice', (t) => {
  const { spikes, feed } = setup();
  for (let i = 0; i < 3; i++) feed('D1', 1);
  const replayed = { drawingId: 'D1', taskKey: 'big', counts: c(60), at: new Date(T0) };
  const [spike] = spikes.observe(replayed);
  t.is(spike?.severity, 'high');
  t.is(spike?.id, 'spike_detected:D1:big');
  t.deepEqual(spikes.observe(replayed), []);
  // the replay did not enter the baseline twice: (1 + 1 + 1 + 60) / 4 = 15.75 → 158 spikes
  t.is(feed('D1', 158).length, 1);
});

test('drawings are independent', (t) => {
  const { feed } = setup();
  for (let i = 0; i < 3; i++) feed('A', 100);
  for (let i = 0; i < 3; i++) feed('B', 1);
  t.deepEqual(feed('A', 50), []);
  t.is(feed('B', 50).length, 1);
});

test('memory is bounded: at most maxDrawings are remembered, least recently seen forgotten', (t) => {
  const { spikes, feed } = setup({ maxDrawings: 100 });
  for (let i = 0; i < 3; i++) feed('keep', 1);
  for (let d = 0; d < 1000; d++) {
    feed(`D${d}`, 1);
    if (d % 50 === 0) feed('keep', 1); // recently used: stays
  }
  t.is(spikes.trackedDrawings, 100);
  t.is(feed('keep', 10).length, 1);
  // D0 was forgotten: it starts over and needs history again
  t.deepEqual(feed('D0', 1000), []);
});

test('system-wide: an hour with ≥ 10× the previous hour’s changes fires once, with an id per hour', (t) => {
  const { clock, feed } = setup();
  // previous hour: 60 changes spread over drawings
  clock.now = T0 - HOUR_MS;
  for (let i = 0; i < 6; i++) feed(`P${i}`, 10);
  clock.now = T0;
  const fired = [];
  for (let i = 0; i < 59; i++) fired.push(...feed(`C${i}`, 10).filter((a) => a.drawingId === null));
  t.deepEqual(fired, []); // 590 < 600
  const [system] = feed('C59', 10).filter((a) => a.drawingId === null);
  t.is(system?.id, 'spike_detected:system:2026-11-29T10:00:00.000Z');
  t.like(system?.details, { scope: 'system', hour_changes: 600, previous_hour_changes: 60, ratio: 10 });
  t.is(system?.type, 'spike_detected');
  // once per hour
  t.deepEqual(feed('C60', 1000).filter((a) => a.drawingId === null), []);
});

test('system-wide needs a previous hour of at least 50 changes', (t) => {
  const { clock, feed } = setup();
  clock.now = T0 - HOUR_MS;
  feed('P', 49);
  clock.now = T0;
  t.deepEqual(feed('C', 10_000).filter((a) => a.drawingId === null), []);

  // no traffic at all in the previous hour: nothing to compare with
  const quiet = setup();
  t.deepEqual(quiet.feed('C', 10_000), []);
});

test('system-wide uses each result’s own hour: a late result counts in the previous hour', (t) => {
  const { clock, feed } = setup();
  clock.now = T0 - HOUR_MS;
  feed('P', 40);
  clock.now = T0;
  feed('late', 20, T0 - HOUR_MS - 60_000); // previous hour now has 60
  const [system] = feed('C', 600).filter((a) => a.drawingId === null);
  t.like(system?.details, { previous_hour_changes: 60, hour_changes: 600 });
});

test('seedHourlyTotals primes the previous hour after a restart', (t) => {
  const { spikes, feed } = setup();
  spikes.seedHourlyTotals([{ hourStart: new Date(T0 - HOUR_MS), changes: 100 }]);
  t.deepEqual(feed('C', 999).filter((a) => a.drawingId === null), []);
  t.is(feed('C', 1).filter((a) => a.drawingId === null).length, 1);
});

test('detectSystemSpike is usable on merged hourly totals', (t) => {
  const now = new Date(T0);
  const hourStart = Date.parse('2026-11-29T10:00:00.000Z');
  t.is(detectSystemSpike({ hourStart, changes: 499, previousChanges: 50, now }), null);
  t.is(detectSystemSpike({ hourStart, changes: 500, previousChanges: 49, now }), null);
  t.is(detectSystemSpike({ hourStart, changes: 10, previousChanges: 0, now, minPreviousChanges: 0 }), null);
  const spike = detectSystemSpike({ hourStart, changes: 500, previousChanges: 50, now });
  t.is(spike?.id, 'spike_detected:system:2026-11-29T10:00:00.000Z');
  t.is(spike?.drawingId, null);
});

test('bad options are rejected with a message naming the option', (t) => {
  t.throws(() => new SpikeDetector({ clock: Date.now, factor: 0.5 }), { instanceOf: RangeError, message: /factor/ });
  t.throws(() => new SpikeDetector({ clock: Date.now, baselineFloor: 0 }), { instanceOf: RangeError, message: /baselineFloor/ });
  t.throws(() => new SpikeDetector({ clock: Date.now, minHistory: 11 }), { instanceOf: RangeError, message: /minHistory/ });
  t.throws(() => new SpikeDetector({ clock: Date.now, maxDrawings: 0 }), { instanceOf: RangeError, message: /maxDrawings/ });
  t.throws(() => new SpikeDetector({ clock: Date.now, historySize: 2.5 }), { instanceOf: RangeError, message: /historySize/ });
});

test('remembered results form a baseline without firing, so the next result is checked at once', (t) => {
  const { spikes, feed } = setup();
  // a history far above the floor, one of which would spike if it were news
  for (const [i, n] of [2, 2, 40].entries()) {
    spikes.remember({ drawingId: 'D1', taskKey: `old-${i}`, counts: c(n), at: new Date(T0 - HOUR_MS) });
  }
  t.is(spikes.trackedDrawings, 1);
  // baseline (2 + 2 + 40) / 3 ≈ 14.7: 146 is below 10×, 147 at it
  t.deepEqual(feed('D1', 146), []);
  const fresh = setup();
  for (const [i, n] of [2, 2, 40].entries()) {
    fresh.spikes.remember({ drawingId: 'D1', taskKey: `old-${i}`, counts: c(n), at: new Date(T0 - HOUR_MS) });
  }
  const [spike] = fresh.feed('D1', 147);
  t.like(spike, { type: 'spike_detected', drawingId: 'D1', details: { scope: 'drawing', baseline_results: 3, changes: 147 } });
});

test('a remembered key is not added twice, and a replay of it is not news', (t) => {
  const { spikes } = setup();
  for (let i = 0; i < 3; i++) spikes.remember({ drawingId: 'D1', taskKey: 'same', counts: c(1), at: new Date(T0) });
  // one result in the history: too few to judge, so even a huge change does not fire
  t.deepEqual(spikes.observe({ drawingId: 'D1', taskKey: 'new', counts: c(1000), at: new Date(T0) }), []);
  // and the remembered task replayed is ignored
  t.deepEqual(spikes.observe({ drawingId: 'D1', taskKey: 'same', counts: c(1000), at: new Date(T0) }), []);
});

test('remembering does not count toward the hourly totals (those are seeded from the windows)', (t) => {
  const { spikes, feed } = setup();
  spikes.seedHourlyTotals([{ hourStart: T0 - HOUR_MS, changes: 60 }]);
  // 1,000 changes remembered in this hour: had they counted, one more change would be a system spike
  for (let i = 0; i < 100; i++) spikes.remember({ drawingId: `D${i}`, taskKey: `k${i}`, counts: c(10), at: new Date(T0) });
  t.false(feed('X', 1).some((a) => a.details.scope === 'system'));
  // live results do count: 1 + 599 = 600 = 10 × the previous hour
  t.true(feed('Y', 599).some((a) => a.details.scope === 'system'));
});
