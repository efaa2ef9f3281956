import test from 'ava';
import type { Rollup } from '../../../src/domain/sink.js';
import { newHistogram, recordMs, summarize } from '../../../streams/aggregate/histogram.js';
import { HOUR_MS, HourlyWindows } from '../../../streams/aggregate/hourly-windows.js';
import { buildMetricsView, mergeRollups, RollupHourCache, type InvalidRollup } from '../../../streams/aggregate/metrics-view.js';

const NOW = Date.parse('2026-11-29T10:30:00.000Z');
const H10 = '2026-11-29T10:00:00.000Z';
const H09 = '2026-11-29T09:00:00.000Z';

function windowsOf(replicaId: string, entries: { at: number; ms: number; e2e?: number; added?: number }[]) {
  const windows = new HourlyWindows({ clock: () => NOW });
  for (const e of entries) {
    windows.recordResult({ at: new Date(e.at), processingTimeMs: e.ms, endToEndMs: e.e2e ?? e.ms * 10, counts: { added: e.added ?? 1, removed: 0, moved: 0, modified: 0 } });
  }
  return { windows, rollups: (): Rollup[] => windows.rollups(replicaId) };
}

/** Deterministic latencies in ms for one replica. */
function spread(count: number, seed: number, at: number) {
  let state = seed;
  return Array.from({ length: count }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return { at, ms: Math.exp((state / 2147483648) * 8) };
  });
}

test('an empty view has zeros and an empty hourly_stats, never NaN or null', (t) => {
  const own = new HourlyWindows({ clock: () => NOW });
  t.teardown(() => own.close());
  const view = buildMetricsView({ now: NOW, retentionHours: 24, replicaId: 'me', own, others: [], dataQualityIssues: 0 });
  t.deepEqual(view, {
    hourly_stats: {},
    hourly_latency: {},
    latency_p50: 0,
    latency_p95: 0,
    latency_p99: 0,
    latency_max: 0,
    latency_count: 0,
    end_to_end_p50: 0,
    end_to_end_p95: 0,
    end_to_end_p99: 0,
    end_to_end_max: 0,
    pairs_total: 0,
    changes_total: 0,
    failed_total: 0,
    malformed_total: 0,
    data_quality_issues: 0,
    window_hours: 24,
    replicas: 1,
    generated_at: '2026-11-29T10:30:00.000Z',
  });
  t.notRegex(JSON.stringify(view), /null|NaN/);
});

test('own windows and two other replicas merge: counts summed, percentiles from added histograms', (t) => {
  // given three replicas with different latency spreads in two hours
  const own = windowsOf('me', [...spread(400, 1, NOW), ...spread(100, 2, NOW - HOUR_MS)]);
  const b = windowsOf('b', spread(1000, 3, NOW));
  const c = windowsOf('c', [...spread(250, 4, NOW - HOUR_MS), { at: NOW, ms: 5000, added: 7 }]);
  c.windows.recordFailure({ at: new Date(NOW), malformed: true });
  t.teardown(() => [own, b, c].forEach((r) => r.windows.close()));

  // when the view merges own live windows with the others' stored rollups
  const view = buildMetricsView({
    now: NOW,
    retentionHours: 24,
    replicaId: 'me',
    own: own.windows,
    others: [...b.rollups(), ...c.rollups()],
    dataQualityIssues: 3,
  });

  // then counts add up per hour
  t.deepEqual(Object.keys(view.hourly_stats), [H09, H10]);
  t.deepEqual(view.hourly_stats[H09], { pairs: 350, added: 350, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 });
  t.deepEqual(view.hourly_stats[H10], { pairs: 1401, added: 1407, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 1, malformed: 1 });
  t.is(view.pairs_total, 1751);
  t.is(view.changes_total, 1757);
  t.is(view.failed_total, 1);
  t.is(view.malformed_total, 1);
  t.is(view.latency_count, 1751);
  t.is(view.replicas, 3);
  t.is(view.data_quality_issues, 3);

  // and the percentiles are those of one histogram fed every value
  const single = newHistogram();
  const e2e = newHistogram();
  t.teardown(() => {
    single.destroy();
    e2e.destroy();
  });
  for (const e of [...spread(400, 1, NOW), ...spread(100, 2, NOW), ...spread(1000, 3, NOW), ...spread(250, 4, NOW), { ms: 5000 }]) {
    recordMs(single, e.ms);
    recordMs(e2e, e.ms * 10);
  }
  const expected = summarize(single);
  t.is(view.latency_p50, expected.p50);
  t.is(view.latency_p95, expected.p95);
  t.is(view.latency_p99, expected.p99);
  t.is(view.latency_max, expected.max);
  t.true(Math.abs(view.latency_max - 5000) <= 5);
  const expectedE2e = summarize(e2e);
  t.is(view.end_to_end_p99, expectedE2e.p99);
  t.is(view.end_to_end_max, expectedE2e.max);

  // and each hour's percentiles are those of one histogram fed that hour's values only
  t.deepEqual(Object.keys(view.hourly_latency), [H09, H10]);
  const perHour = { [H09]: [...spread(100, 2, NOW), ...spread(250, 4, NOW)], [H10]: [...spread(400, 1, NOW), ...spread(1000, 3, NOW), { ms: 5000 }] };
  for (const [hour, values] of Object.entries(perHour)) {
    const p = newHistogram();
    const e = newHistogram();
    for (const v of values) {
      recordMs(p, v.ms);
      recordMs(e, v.ms * 10);
    }
    const sp = summarize(p);
    const se = summarize(e);
    p.destroy();
    e.destroy();
    t.deepEqual(view.hourly_latency[hour], {
      processing: { p50: sp.p50, p95: sp.p95, p99: sp.p99 },
      end_to_end: { p50: se.p50, p95: se.p95, p99: se.p99 },
    });
  }
  t.notDeepEqual(view.hourly_latency[H09], view.hourly_latency[H10]);
});

test('own stale rollups in the store are ignored: the live windows win', (t) => {
  const own = windowsOf('me', [{ at: NOW, ms: 10 }]);
  // an older flush of the same replica, with different numbers, still in the store
  const stale = windowsOf('me', [{ at: NOW, ms: 999 }, { at: NOW, ms: 999 }, { at: NOW - HOUR_MS, ms: 999 }]);
  t.teardown(() => [own, stale].forEach((r) => r.windows.close()));
  const view = buildMetricsView({ now: NOW, retentionHours: 24, replicaId: 'me', own: own.windows, others: stale.rollups(), dataQualityIssues: 0 });
  t.is(view.pairs_total, 1);
  t.is(view.latency_count, 1);
  t.true(view.latency_max < 10.1);
  t.deepEqual(Object.keys(view.hourly_stats), [H10]);
  t.is(view.replicas, 1);
});

test('duplicate rollups of one replica and hour count once, the latest update wins', (t) => {
  const own = new HourlyWindows({ clock: () => NOW });
  const older = windowsOf('b', [{ at: NOW, ms: 1 }]);
  const newer = windowsOf('b', [{ at: NOW, ms: 2 }, { at: NOW, ms: 3 }]);
  t.teardown(() => [own, older.windows, newer.windows].forEach((w) => w.close()));
  const [o] = older.rollups();
  const [n] = newer.rollups();
  const others = [{ ...n!, updatedAt: new Date(NOW) }, { ...o!, updatedAt: new Date(NOW - 60_000) }];
  const view = buildMetricsView({ now: NOW, retentionHours: 24, replicaId: 'me', own, others, dataQualityIssues: 0 });
  t.is(view.pairs_total, 2);
  t.is(view.latency_count, 2);
  t.is(view.replicas, 2);
});

test('rollups outside the window (older than retention, or in a future hour) are left out', (t) => {
  const own = new HourlyWindows({ clock: () => NOW });
  const b = windowsOf('b', [{ at: NOW, ms: 1 }]);
  t.teardown(() => [own, b.windows].forEach((w) => w.close()));
  const [r] = b.rollups();
  const others: Rollup[] = [
    { ...r!, hourStart: new Date(Date.parse(H10) - 3 * HOUR_MS) },
    { ...r!, replicaId: 'c', hourStart: new Date(Date.parse(H10) - 2 * HOUR_MS) },
    { ...r!, replicaId: 'd', hourStart: new Date(Date.parse(H10) + HOUR_MS) },
    { ...r!, replicaId: 'e', hourStart: new Date('invalid') },
  ];
  const view = buildMetricsView({ now: NOW, retentionHours: 2, replicaId: 'me', own, others, dataQualityIssues: 0 });
  t.deepEqual(Object.keys(view.hourly_stats), ['2026-11-29T08:00:00.000Z']);
  t.is(view.replicas, 2);
  t.is(view.window_hours, 2);
});

test('a rollup with a corrupt histogram keeps its counts, is reported, and does not break the view', (t) => {
  const own = new HourlyWindows({ clock: () => NOW });
  const b = windowsOf('b', [{ at: NOW, ms: 4 }]);
  t.teardown(() => [own, b.windows].forEach((w) => w.close()));
  const [r] = b.rollups();
  const reported: InvalidRollup[] = [];
  const view = buildMetricsView({
    now: new Date(NOW),
    retentionHours: 24,
    replicaId: 'me',
    own,
    others: [r!, { ...r!, replicaId: 'c', processingHistogram: '!!!', endToEndHistogram: 'AAAA' }],
    dataQualityIssues: Number.NaN,
    onInvalidRollup: (i) => reported.push(i),
  });
  t.is(view.pairs_total, 2);
  t.is(view.latency_count, 1);
  t.is(view.data_quality_issues, 0);
  t.deepEqual(reported.map((i) => i.replicaId), ['c', 'c']);
});

test('mergeRollups merges any replicas’ rollups into plain numbers, within an optional range', (t) => {
  const a = windowsOf('a', [{ at: NOW, ms: 1 }, { at: NOW - HOUR_MS, ms: 2 }]);
  const b = windowsOf('b', [{ at: NOW, ms: 3, added: 5 }]);
  t.teardown(() => [a, b].forEach((r) => r.windows.close()));
  const all = [...a.rollups(), ...b.rollups()];

  const merged = mergeRollups(all);
  t.deepEqual(merged.replicaIds, ['a', 'b']);
  t.deepEqual([...merged.hourly.keys()].map((h) => new Date(h).toISOString()), [H09, H10]);
  t.is(merged.hourly.get(Date.parse(H10))?.added, 6);
  t.is(merged.processing.count, 3);
  t.is(merged.processing.p50, 2);
  t.deepEqual(merged.invalid, []);

  const recent = mergeRollups(all, { since: new Date(H10) });
  t.is(recent.processing.count, 2);
  t.deepEqual([...recent.hourly.keys()], [Date.parse(H10)]);

  const empty = mergeRollups([]);
  t.deepEqual(empty.processing, { count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
  t.deepEqual(empty.replicaIds, []);
});

test('with a cache, repeated views equal uncached ones, follow changed rollups and free hours that left', (t) => {
  const own = windowsOf('me', spread(50, 9, NOW));
  const b = windowsOf('b', [...spread(300, 5, NOW), ...spread(200, 6, NOW - HOUR_MS), ...spread(10, 7, NOW - 2 * HOUR_MS)]);
  const cache = new RollupHourCache();
  t.teardown(() => {
    [own, b].forEach((r) => r.windows.close());
    cache.close();
  });
  const input = { now: NOW, retentionHours: 24, replicaId: 'me', own: own.windows, dataQualityIssues: 0 };

  let others = b.rollups();
  const first = buildMetricsView({ ...input, others, cache });
  t.deepEqual(buildMetricsView({ ...input, others, cache }), first);
  t.deepEqual(buildMetricsView({ ...input, others }), first);
  t.is(cache.size, 3);

  // replica b flushes its current hour again with more data
  b.windows.recordResult({ at: new Date(NOW), processingTimeMs: 60_000, endToEndMs: 1, counts: { added: 0, removed: 0, moved: 0, modified: 0 } });
  others = b.rollups();
  const changed = buildMetricsView({ ...input, others, cache });
  t.deepEqual(changed, buildMetricsView({ ...input, others }));
  t.is(changed.latency_count, first.latency_count + 1);
  t.true(changed.latency_max >= 60_000);

  // its oldest hour leaves the store: the cache lets go of it
  others = others.filter((r) => r.hourStart.getTime() >= NOW - HOUR_MS - 30 * 60_000);
  const fewer = buildMetricsView({ ...input, others, cache });
  t.is(cache.size, 2);
  t.deepEqual(fewer, buildMetricsView({ ...input, others }));

  // a corrupt rollup is reported on every call, cached or not
  const reported: InvalidRollup[] = [];
  const bad = { ...others[0]!, replicaId: 'c', processingHistogram: 'nope' };
  buildMetricsView({ ...input, others: [...others, bad], cache, onInvalidRollup: (i) => reported.push(i) });
  buildMetricsView({ ...input, others: [...others, bad], cache, onInvalidRollup: (i) => reported.push(i) });
  t.deepEqual(reported.map((i) => i.replicaId), ['c', 'c']);
});
