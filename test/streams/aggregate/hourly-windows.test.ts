import test from 'ava';
import type { MetricSample, Rollup } from '../../../src/domain/sink.js';
import { decodeHistogram, summarize } from '../../../streams/aggregate/histogram.js';
import { HOUR_MS, HourlyWindows, hourStartOf, type WindowSnapshot } from '../../../streams/aggregate/hourly-windows.js';

const T0 = Date.parse('2026-11-29T10:30:00.000Z');
const counts = (added = 1, removed = 0, moved = 0, modified = 0) => ({ added, removed, moved, modified });

function setup(start = T0, retentionHours = 24) {
  const clock = { now: start };
  const windows = new HourlyWindows({ retentionHours, clock: () => clock.now });
  return { clock, windows };
}

/** HDR reports the top of a value's bucket: within 0.1 % at 3 significant digits. */
const near = (actual: number | undefined, expected: number) => actual !== undefined && Math.abs(actual - expected) <= expected * 0.001;
const hours = (snap: WindowSnapshot[]) => snap.map((w) => w.hourStart.toISOString());
/** Snapshots without `updatedAt`, which depends on when (not what) was recorded. */
const content = (snap: WindowSnapshot[]) => snap.map(({ updatedAt: _u, ...rest }) => rest);

test('a result lands in the window of its own UTC hour, one window per hour', (t) => {
  const { clock, windows } = setup(Date.parse('2026-11-29T10:59:59.999Z'));
  t.teardown(() => windows.close());

  windows.recordResult({ at: new Date(clock.now), processingTimeMs: 5, endToEndMs: 50, counts: counts(2, 1, 0, 3) });
  clock.now = Date.parse('2026-11-29T11:00:00.000Z');
  windows.recordResult({ at: new Date(clock.now), processingTimeMs: 7, endToEndMs: 70, counts: counts(0, 0, 4, 0) });

  const snap = windows.snapshot();
  t.deepEqual(hours(snap), ['2026-11-29T10:00:00.000Z', '2026-11-29T11:00:00.000Z']);
  t.deepEqual(snap[0]?.counts, { pairs: 1, added: 2, removed: 1, moved: 0, modified: 3, renamed: 0, failed: 0, malformed: 0 });
  t.deepEqual(snap[1]?.counts, { pairs: 1, added: 0, removed: 0, moved: 4, modified: 0, renamed: 0, failed: 0, malformed: 0 });
  t.true(near(snap[0]?.processing.p50, 5));
  t.true(near(snap[1]?.endToEnd.max, 70));
});

test('a late result at the boundary belongs to the previous hour, not the clock’s', (t) => {
  const { clock, windows } = setup(Date.parse('2026-11-29T11:00:05.000Z'));
  t.teardown(() => windows.close());
  t.true(windows.recordResult({ at: new Date('2026-11-29T10:59:58.000Z'), processingTimeMs: 1, endToEndMs: 1, counts: counts() }));
  t.deepEqual(hours(windows.snapshot()), ['2026-11-29T10:00:00.000Z']);
  t.is(clock.now, Date.parse('2026-11-29T11:00:05.000Z'));
});

test('results older than retention are ignored; one stamped ahead of the clock counts in the current hour', (t) => {
  const { windows } = setup(T0, 3);
  t.teardown(() => windows.close());

  // retention 3: hours 07:00..10:00 are kept
  t.true(windows.recordResult({ at: new Date('2026-11-29T07:00:00.000Z'), processingTimeMs: 1, endToEndMs: 1, counts: counts() }));
  t.false(windows.recordResult({ at: new Date('2026-11-29T06:59:59.999Z'), processingTimeMs: 1, endToEndMs: 1, counts: counts() }));
  t.false(windows.recordFailure({ at: new Date('2026-11-28T10:00:00.000Z'), malformed: true }));
  t.true(windows.recordResult({ at: new Date('2026-11-29T13:15:00.000Z'), processingTimeMs: 1, endToEndMs: 1, counts: counts() }));
  t.false(windows.recordResult({ at: new Date('not a date'), processingTimeMs: 1, endToEndMs: 1, counts: counts() }));

  t.deepEqual(hours(windows.snapshot()), ['2026-11-29T07:00:00.000Z', '2026-11-29T10:00:00.000Z']);
  t.is(windows.size, 2);
});

test('failures count as failed, malformed ones as malformed too', (t) => {
  const { windows } = setup();
  t.teardown(() => windows.close());
  windows.recordFailure({ at: new Date(T0), malformed: true });
  windows.recordFailure({ at: new Date(T0), malformed: false });
  windows.recordFailure({ at: new Date(T0), malformed: true });
  const [w] = windows.snapshot();
  t.deepEqual(w?.counts, { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 3, malformed: 2 });
  t.is(w?.processing.count, 0);
  t.is(w?.processing.p99, 0);
});

test('bad counts (NaN, negative, fractional) do not poison the totals', (t) => {
  const { windows } = setup();
  t.teardown(() => windows.close());
  windows.recordResult({ at: new Date(T0), processingTimeMs: -4, endToEndMs: Number.NaN, counts: { added: Number.NaN, removed: -3, moved: 2.7, modified: 1 } });
  const [w] = windows.snapshot();
  t.deepEqual(w?.counts, { pairs: 1, added: 0, removed: 0, moved: 2, modified: 1, renamed: 0, failed: 0, malformed: 0 });
  t.is(w?.processing.count, 1);
  t.is(w?.processing.max, 0);
});

test('48 hourly rotations with traffic keep at most retentionHours + 1 windows', (t) => {
  for (const retentionHours of [24, 3, 0]) {
    const { clock, windows } = setup(T0, retentionHours);
    for (let i = 0; i < 48; i++) {
      clock.now = T0 + i * HOUR_MS;
      windows.recordResult({ at: new Date(clock.now), processingTimeMs: i, endToEndMs: i, counts: counts() });
      windows.recordFailure({ at: new Date(clock.now - HOUR_MS), malformed: false });
      t.true(windows.size <= retentionHours + 1, `retention ${retentionHours}, step ${i}: ${windows.size}`);
    }
    t.is(windows.size, retentionHours + 1);
    // the oldest kept window is exactly retentionHours before the current one
    const snap = windows.snapshot();
    t.is(snap[0]?.hourStart.getTime(), hourStartOf(clock.now) - retentionHours * HOUR_MS);
    windows.close();
  }
});

test('rotation is driven by the clock even with no traffic', (t) => {
  const { clock, windows } = setup(T0, 2);
  t.teardown(() => windows.close());
  windows.recordResult({ at: new Date(T0), processingTimeMs: 1, endToEndMs: 1, counts: counts() });
  clock.now = T0 + 2 * HOUR_MS;
  t.is(windows.rotate(), 0);
  clock.now = T0 + 3 * HOUR_MS;
  t.is(windows.rotate(), 1);
  t.is(windows.size, 0);
  t.deepEqual(windows.snapshot(), []);
});

test('rollups carry the counts and encoded histograms of each retained window, oldest first', (t) => {
  const { clock, windows } = setup();
  t.teardown(() => windows.close());
  windows.recordResult({ at: new Date(T0 - HOUR_MS), processingTimeMs: 3, endToEndMs: 30, counts: counts(1, 2, 3, 4) });
  windows.recordResult({ at: new Date(T0), processingTimeMs: 9, endToEndMs: 90, counts: counts() });
  windows.recordFailure({ at: new Date(T0), malformed: true });

  const rollups = windows.rollups('replica-a');
  t.is(rollups.length, 2);
  t.deepEqual(
    rollups.map((r) => [r.replicaId, r.hourStart.toISOString()]),
    [
      ['replica-a', '2026-11-29T09:00:00.000Z'],
      ['replica-a', '2026-11-29T10:00:00.000Z'],
    ],
  );
  t.deepEqual(rollups[0]?.counts, { pairs: 1, added: 1, removed: 2, moved: 3, modified: 4, renamed: 0, failed: 0, malformed: 0 });
  t.deepEqual(rollups[1]?.counts, { pairs: 1, added: 1, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 1, malformed: 1 });
  t.is(rollups[1]?.updatedAt.getTime(), clock.now);
  const decoded = decodeHistogram(rollups[1]!.endToEndHistogram);
  t.true(near(summarize(decoded).max, 90));
  decoded.destroy();

  // a later `now` cuts what fell out of retention
  t.is(windows.rollups('replica-a', T0 + 24 * HOUR_MS).length, 1);
});

test('dirtyRollups returns only windows changed since the previous call; markDirty hands them back', (t) => {
  const { clock, windows } = setup();
  t.teardown(() => windows.close());
  windows.recordResult({ at: new Date(T0 - HOUR_MS), processingTimeMs: 1, endToEndMs: 1, counts: counts() });
  windows.recordResult({ at: new Date(T0), processingTimeMs: 1, endToEndMs: 1, counts: counts() });

  t.is(windows.dirtyRollups('r').length, 2);
  t.deepEqual(windows.dirtyRollups('r'), []);

  clock.now += 60_000;
  windows.recordFailure({ at: new Date(clock.now), malformed: false });
  const dirty = windows.dirtyRollups('r');
  t.deepEqual(dirty.map((r) => r.hourStart.toISOString()), ['2026-11-29T10:00:00.000Z']);
  t.is(dirty[0]?.counts.failed, 1);

  // the write failed: the next flush must carry it again
  windows.markDirty(dirty);
  t.deepEqual(windows.dirtyRollups('r').map((r) => r.hourStart.toISOString()), ['2026-11-29T10:00:00.000Z']);
  t.deepEqual(windows.dirtyRollups('r'), []);
});

function traffic(): MetricSample[] {
  const out: MetricSample[] = [];
  for (let i = 0; i < 300; i++) {
    const at = new Date(T0 - 5 * HOUR_MS + i * 60_000);
    if (i % 17 === 0) out.push({ kind: 'failure', at, malformed: i % 2 === 0 });
    else out.push({ kind: 'result', at, processingTimeMs: (i * 7.31) % 400, endToEndMs: (i * 131.7) % 90_000, counts: counts(i % 3, i % 5, i % 2, i % 7) });
  }
  return out;
}

function feed(windows: HourlyWindows, samples: readonly MetricSample[]) {
  for (const s of samples) {
    if (s.kind === 'result') windows.recordResult(s);
    else windows.recordFailure(s);
  }
}

test('restore from stored samples (async or sync) rebuilds exactly what live recording built', async (t) => {
  const samples = traffic();
  const live = setup();
  feed(live.windows, samples);

  async function* stored() {
    for (const s of samples) yield s;
  }
  const fromAsync = setup();
  const fromSync = setup();
  t.teardown(() => [live, fromAsync, fromSync].forEach((s) => s.windows.close()));

  t.is(await fromAsync.windows.restore(stored()), samples.length);
  t.is(await fromSync.windows.restore(samples), samples.length);

  t.is(live.windows.size, 6);
  t.deepEqual(content(fromAsync.windows.snapshot()), content(live.windows.snapshot()));
  t.deepEqual(content(fromSync.windows.snapshot()), content(live.windows.snapshot()));
  // restored windows are flushed again, repairing rollups a crash left stale
  t.is(fromAsync.windows.dirtyRollups('r').length, 6);
});

test('restore skips samples stamped after it began (already recorded live) and ones out of retention', async (t) => {
  const { windows } = setup(T0, 2);
  t.teardown(() => windows.close());
  const samples: MetricSample[] = [
    { kind: 'failure', at: new Date(T0 - 5 * HOUR_MS), malformed: false },
    { kind: 'failure', at: new Date(T0 - 1000), malformed: false },
    { kind: 'failure', at: new Date(T0 + 1000), malformed: true },
  ];
  t.is(await windows.restore(samples), 1);
  t.deepEqual(windows.snapshot()[0]?.counts.failed, 1);
  t.deepEqual(windows.snapshot()[0]?.counts.malformed, 0);
});

test('restoreRollups adds stored rollups into the windows without marking them dirty', (t) => {
  const live = setup();
  feed(live.windows, traffic());
  const rollups = live.windows.rollups('me');

  const restored = setup();
  t.teardown(() => [live, restored].forEach((s) => s.windows.close()));
  t.deepEqual(restored.windows.restoreRollups(rollups), []);
  t.deepEqual(content(restored.windows.snapshot()), content(live.windows.snapshot()));
  t.deepEqual(restored.windows.dirtyRollups('me'), []);

  // new data after the restore adds onto the restored window and makes it dirty
  restored.windows.recordResult({ at: new Date(T0), processingTimeMs: 1, endToEndMs: 1, counts: counts() });
  const dirty = restored.windows.dirtyRollups('me');
  t.is(dirty.length, 1);
  t.is(dirty[0]?.counts.pairs, (rollups.at(-1)?.counts.pairs ?? 0) + 1);
});

test('restoreRollups keeps the counts of a rollup with a corrupt histogram and reports it', (t) => {
  const { windows } = setup();
  t.teardown(() => windows.close());
  const bad: Rollup = {
    replicaId: 'me',
    hourStart: new Date('2026-11-29T10:00:00.000Z'),
    counts: { pairs: 4, added: 1, removed: 1, moved: 1, modified: 1, renamed: 0, failed: 2, malformed: 1 },
    processingHistogram: 'garbage',
    endToEndHistogram: 'garbage',
    updatedAt: new Date(T0),
  };
  const outOfRange = { ...bad, hourStart: new Date('2026-11-20T10:00:00.000Z') };
  const errors = windows.restoreRollups([bad, outOfRange]);
  t.is(errors.length, 2);
  t.is((errors[0]?.error as { code?: string }).code, 'invalid_histogram');
  t.deepEqual(windows.snapshot().map((w) => w.counts), [bad.counts]);
});

test('constructor rejects a retention that is not a whole number from 0', (t) => {
  for (const retentionHours of [-1, 1.5, Number.NaN]) {
    t.throws(() => new HourlyWindows({ retentionHours, clock: Date.now }), { instanceOf: RangeError, message: /retentionHours/ });
  }
});
