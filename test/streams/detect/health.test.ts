import test from 'ava';
import type { Anomaly } from '../../../src/domain/types.js';
import { buildHealth, freshAnomalies } from '../../../streams/detect/health.js';

const NOW = Date.parse('2026-11-29T10:30:00.000Z');
const MIN = 60_000;
const anomaly = (id: string, type: Anomaly['type'], drawingId: string | null, minutesAgo: number): Anomaly => ({
  id,
  drawingId,
  type,
  severity: 'medium',
  details: { n: id },
  timestamp: new Date(NOW - minutesAgo * MIN),
});

test('healthy with no anomalies, or only stale ones', (t) => {
  t.deepEqual(buildHealth({ anomalies: [], now: NOW, freshnessMs: 60 * MIN }), { status: 'healthy', warnings: [], anomalies: [] });
  const stale = [anomaly('a', 'spike_detected', 'D1', 60), anomaly('b', 'missing_upload', 'D2', 300)];
  t.deepEqual(buildHealth({ anomalies: stale, now: NOW, freshnessMs: 60 * MIN }), { status: 'healthy', warnings: [], anomalies: [] });
});

test('degraded while an anomaly is fresh, with the /health shape', (t) => {
  const report = buildHealth({ anomalies: [anomaly('s1', 'spike_detected', 'D1', 59.9)], now: new Date(NOW), freshnessMs: 60 * MIN });
  t.is(report.status, 'degraded');
  t.deepEqual(report.anomalies, [
    { drawing_id: 'D1', type: 'spike_detected', severity: 'medium', details: { n: 's1' }, timestamp: new Date(NOW - 59.9 * MIN).toISOString() },
  ]);
  t.deepEqual(report.warnings, ['1 change spike in the last 60 minutes (D1)']);
});

test('one warning line per type with counts, in a fixed type order, naming at most 3 drawings', (t) => {
  const anomalies = [
    anomaly('m1', 'malformed_input', null, 1),
    anomaly('s1', 'spike_detected', 'D1', 2),
    anomaly('s2', 'spike_detected', 'D2', 3),
    anomaly('s3', 'spike_detected', 'D3', 4),
    anomaly('s4', 'spike_detected', 'D4', 5),
    anomaly('s5', 'spike_detected', 'D1', 6),
    anomaly('sys', 'spike_detected', null, 7),
    anomaly('d1', 'delayed_upload', null, 8),
    anomaly('p1', 'processing_error', 'D7', 9),
    anomaly('p2', 'processing_error', 'D8', 10),
  ];
  const report = buildHealth({ anomalies, now: NOW, freshnessMs: 3 * 60 * MIN });
  t.deepEqual(report.warnings, [
    '6 change spikes in the last 3 hours (D1, D2, D3 and 2 more)',
    '1 delayed upload or growing backlog in the last 3 hours (system-wide)',
    '2 processing errors in the last 3 hours (D7, D8)',
    '1 malformed input in the last 3 hours (system-wide)',
  ]);
  t.is(report.anomalies.length, 10);
  t.is(report.anomalies[0]?.type, 'malformed_input'); // newest first
});

test('freshAnomalies keeps one per id, newest first; future timestamps (skew) count as fresh', (t) => {
  const dup = anomaly('x', 'missing_upload', 'D1', 10);
  const later = { ...dup, timestamp: new Date(NOW - 2 * MIN) };
  const future = anomaly('f', 'delayed_upload', 'D2', -5);
  const broken = { ...anomaly('b', 'delayed_upload', 'D3', 1), timestamp: new Date('nope') };
  const fresh = freshAnomalies([dup, later, future, broken], NOW, 30 * MIN);
  t.deepEqual(fresh.map((a) => [a.id, a.timestamp.getTime()]), [
    ['f', NOW + 5 * MIN],
    ['x', NOW - 2 * MIN],
  ]);
});

test('the anomaly list is capped by limit, and unknown types still get a warning', (t) => {
  const many = Array.from({ length: 30 }, (_, i) => anomaly(`a${i}`, 'missing_upload', `D${i}`, i));
  const foreign = { ...anomaly('z', 'missing_upload', 'Z', 0), type: 'brand_new' as Anomaly['type'] };
  const report = buildHealth({ anomalies: [...many, foreign], now: NOW, freshnessMs: 60 * MIN, limit: 5 });
  t.is(report.anomalies.length, 5);
  t.is(report.warnings[0], '30 missing uploads in the last 60 minutes (D0, D1, D2 and 27 more)');
  t.is(report.warnings[1], '1 brand_new anomaly in the last 60 minutes (Z)');
});
