/**
 * The bounded restore's per-hour aggregation, computed in the store's own query, equals the
 * row-by-row computation it replaces: the same counts and byte-for-byte the same HDR histograms,
 * over many rows spread across 25 hours, latencies from 0 to past the histograms' range
 * (including every bucket boundary's neighbours), failures, and another replica's rows left out.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { openLocalStore } from '../../sinks/local-store/index.js';
import type { FailureRecord, ResultRecord } from '../../src/domain/sink.js';
import { HOUR_MS, HourlyWindows } from '../../streams/aggregate/hourly-windows.js';
import { failure, result } from '../support/sink-compliance.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore } from '../../sinks/bigquery/store.js';
import { failureMetricRow, resultMetricRow } from '../../sinks/bigquery/encode.js';
import { silentLogger } from '../../src/log.js';

const NOW = Date.parse('2026-12-05T12:30:00.000Z');
const SINCE = new Date(NOW - 25 * HOUR_MS);

/** A deterministic pseudo-random sequence (the test must fail the same way twice). */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

/** Latencies in ms: every scale from sub-µs to past 24 h, bucket edges, zero and negatives. */
function latencies(next: () => number): number[] {
  const edges = [0, -5, 0.0004, 0.0005, 2.047, 2.048, 2.049, 4.095, 4.096, 65.535, 65.536, 86_400_000, 90_000_000];
  const scaled = Array.from({ length: 400 }, () => next() * 10 ** Math.floor(next() * 9));
  const withThreeDecimals = Array.from({ length: 100 }, () => Math.round(next() * 1e7) / 1000);
  return [...edges, ...scaled, ...withThreeDecimals];
}

function storedRows(): { results: ResultRecord[]; failures: FailureRecord[] } {
  const next = random(42);
  const values = latencies(next);
  const results: ResultRecord[] = [];
  const failures: FailureRecord[] = [];
  for (let i = 0; i < 6_000; i++) {
    const createdAt = new Date(SINCE.getTime() + Math.floor(next() * (NOW - SINCE.getTime())));
    const replicaId = i % 10 === 0 ? 'other' : 'r1';
    if (i % 7 === 0) {
      failures.push(failure({ taskKey: `f${i}`, kind: i % 14 === 0 ? 'malformed' : 'failed', createdAt, replicaId }));
      continue;
    }
    const n = () => Math.floor(next() * 5);
    results.push(
      result({
        taskKey: `r${i}`,
        drawingId: `D${i % 50}`,
        createdAt,
        replicaId,
        processingTimeMs: values[i % values.length]!,
        endToEndMs: values[(i * 7 + 3) % values.length]!,
        counts: { added: n(), removed: n(), moved: n(), modified: n(), ...(i % 3 === 0 ? { renamed: n() } : {}) },
      }),
    );
  }
  return { results, failures };
}

test('per-hour aggregation in SQL equals the row-by-row restore: counts and histograms, 6,000 rows over 25 hours', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-hourly-'));
  const store = openLocalStore({ dataDir });
  t.teardown(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const { results, failures } = storedRows();
  for (let i = 0; i < results.length; i += 500) await store.writeBatch({ results: results.slice(i, i + 500), failures: [], anomalies: [] });
  await store.writeBatch({ results: [], failures, anomalies: [] });

  const clock = () => NOW;
  const rowByRow = new HourlyWindows({ clock });
  const perHour = new HourlyWindows({ clock });
  t.teardown(() => [rowByRow, perHour].forEach((w) => w.close()));

  const counted = await rowByRow.restore(store.samples(SINCE, 'r1'), NOW);
  t.true(counted > 4_000, `${counted} rows counted one by one`);
  const hours = await store.hourlyOutcomes(SINCE, new Date(NOW + 1), 'r1');
  t.true(hours.length >= 25 && hours.length <= 26);
  for (const hour of hours) perHour.restoreHour(hour);
  const buckets = hours.reduce((sum, h) => sum + h.processing.length + h.endToEnd.length, 0);
  t.true(buckets < counted * 2, `${buckets} buckets read instead of ${counted * 2} latencies`);

  const content = (w: HourlyWindows) => w.rollups('r1', NOW).map(({ hourStart, counts, processingHistogram, endToEndHistogram }) => ({ hourStart, counts, processingHistogram, endToEndHistogram }));
  t.deepEqual(content(perHour), content(rowByRow));
  t.deepEqual(
    perHour.snapshot().map((s) => [s.counts, s.processing, s.endToEnd]),
    rowByRow.snapshot().map((s) => [s.counts, s.processing, s.endToEnd]),
  );
});

test('the aggregation is bounded: its answer grows with the hours and the latency spread, not with the rows', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-hourly-'));
  const store = openLocalStore({ dataDir });
  t.teardown(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const at = new Date(NOW - 30 * 60_000);
  const write = async (from: number, count: number) => {
    const batch = Array.from({ length: count }, (_, i) =>
      result({ taskKey: `k${from + i}`, drawingId: 'D', createdAt: at, replicaId: 'r1', processingTimeMs: 10 + ((from + i) % 100), endToEndMs: 250 }),
    );
    await store.writeBatch({ results: batch, failures: [], anomalies: [] });
  };
  await write(0, 1_000);
  const small = await store.hourlyOutcomes(SINCE, new Date(NOW), 'r1');
  await write(1_000, 9_000);
  const large = await store.hourlyOutcomes(SINCE, new Date(NOW), 'r1');
  t.is(large[0]?.counts.pairs, 10_000);
  t.is(large[0]?.processing.length, small[0]?.processing.length, 'ten times the rows, the same number of buckets');
  t.is(large[0]?.endToEnd.length, 1);
});

test('BigQuery: the same per-hour aggregation in GoogleSQL (on the local fake) equals its row-by-row restore, duplicates deduped', async (t) => {
  const fake = await startFakeBigQuery({ dedupeInsertIds: false });
  t.teardown(() => fake.close());
  const client = fake.client();
  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  const store = new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: 'buildtrace' });
  await writer.ensureSchema();
  const { results, failures } = storedRows();
  const rows = [...results.map(resultMetricRow), ...failures.map(failureMetricRow)];
  // a replayed batch: streaming-insert dedupe is best effort, so the queries dedupe by task
  const replayed = rows.slice(0, 300);
  for (let i = 0; i < rows.length; i += 500) await writer.insert({ processing_metrics: rows.slice(i, i + 500) });
  await writer.insert({ processing_metrics: replayed });

  const clock = () => NOW;
  const rowByRow = new HourlyWindows({ clock });
  const perHour = new HourlyWindows({ clock });
  t.teardown(() => [rowByRow, perHour].forEach((w) => w.close()));
  const counted = await rowByRow.restore(store.samples(SINCE, 'r1'), NOW);
  t.true(counted > 4_000);
  for (const hour of await store.hourlyOutcomes(SINCE, new Date(NOW + 1), 'r1')) perHour.restoreHour(hour);

  const content = (w: HourlyWindows) => w.rollups('r1', NOW).map(({ hourStart, counts, processingHistogram, endToEndHistogram }) => ({ hourStart, counts, processingHistogram, endToEndHistogram }));
  t.deepEqual(content(perHour), content(rowByRow));

  // and each drawing's baseline: its last results, oldest first
  const baseline = [];
  for await (const sample of store.baselineSamples(SINCE, new Date(NOW + 1), 'r1', 3)) baseline.push(sample);
  const d1 = results.filter((r) => r.drawingId === 'D1' && r.replicaId === 'r1').sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  t.deepEqual(
    baseline.filter((s) => s.drawingId === 'D1').map((s) => s.taskKey),
    d1.slice(-3).map((r) => r.taskKey),
  );
  t.is(new Set(baseline.map((s) => s.drawingId)).size, baseline.length / 3);
});
