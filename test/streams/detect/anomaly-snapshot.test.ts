/**
 * /health's anomalies kept between requests: a slow or hung store never makes the answer wait
 * (beyond the first answer's short wait), and this process's own writes show at once.
 */
import test from 'ava';
import type { Anomaly } from '../../../src/domain/types.js';
import { AnomalySnapshot } from '../../../streams/detect/anomaly-snapshot.js';
import { anomaly } from '../../support/sink-compliance.js';

const HOUR = 3_600_000;

/** A store whose reads wait until the test answers them, one at a time. */
function controlledStore() {
  const stored: Anomaly[] = [];
  const pending: { resolve: (a: Anomaly[]) => void; reject: (err: Error) => void }[] = [];
  let reads = 0;
  return {
    stored,
    reads: () => reads,
    read: () =>
      new Promise<Anomaly[]>((resolve, reject) => {
        reads += 1;
        const snapshot = [...stored];
        pending.push({ resolve: () => resolve(snapshot), reject });
      }),
    answer: () => pending.shift()?.resolve([]),
    fail: (message: string) => pending.shift()?.reject(new Error(message)),
  };
}

/** Settles after every pending microtask: whatever waits on a timer loses the race to it. */
const immediately = () => new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 0));

function snapshotOver(store: ReturnType<typeof controlledStore>, clock: () => number) {
  return new AnomalySnapshot({ read: store.read, clock, lookbackMs: 24 * HOUR, limit: 100, freshMs: 2_000, firstWaitMs: 50 });
}

test('a store that does not answer: the first answer waits briefly, then shows own writes at once, with a warning', async (t) => {
  let now = Date.parse('2026-12-05T12:00:00Z');
  const store = controlledStore();
  const snapshot = snapshotOver(store, () => now);
  const own = anomaly('processing_error', new Date(now - 1_000));
  snapshot.written([own]);

  const first = await snapshot.get();
  t.deepEqual(first.anomalies.map((a) => a.id), [own.id]);
  t.regex(first.warning ?? '', /stored anomalies could not be read yet: no answer within 0.05 s/);

  // later answers do not wait at all, and start no second read while the first hangs
  now += 10_000;
  const later = await Promise.race([snapshot.get(), immediately()]);
  t.not(later, 'waited', 'answered before any timer could fire: it did not wait for the store');
  t.deepEqual((later as Awaited<ReturnType<AnomalySnapshot['get']>>).anomalies.map((a) => a.id), [own.id]);
  t.is(store.reads(), 1);
});

test('stored anomalies are served from the last read and refreshed in the background; own writes show before the store has them', async (t) => {
  let now = Date.parse('2026-12-05T12:00:00Z');
  const store = controlledStore();
  const other = anomaly('spike_detected', new Date(now - HOUR));
  store.stored.push(other);
  const snapshot = snapshotOver(store, () => now);
  const firstGet = snapshot.get();
  store.answer();
  t.deepEqual((await firstGet).anomalies.map((a) => a.id), [other.id]);
  t.is((await firstGet).warning, null);

  // within freshMs: no read at all
  now += 1_000;
  await snapshot.get();
  t.is(store.reads(), 1);

  // this process writes one: it shows at once, though the store is not read yet
  const mine = anomaly('missing_upload', new Date(now));
  store.stored.push(mine);
  snapshot.written([mine]);
  t.deepEqual((await snapshot.get()).anomalies.map((a) => a.id), [mine.id, other.id]);

  // past freshMs the answer is still immediate, and one background read starts
  now += 2_000;
  const stale = await Promise.race([snapshot.get(), immediately()]);
  t.not(stale, 'waited');
  t.deepEqual((stale as Awaited<ReturnType<AnomalySnapshot['get']>>).anomalies.map((a) => a.id), [mine.id, other.id]);
  t.is(store.reads(), 2);
  await snapshot.get();
  t.is(store.reads(), 2, 'one read at a time');
  store.answer();
  await new Promise((resolve) => setImmediate(resolve));
  // the read that began after the write has it: listed once
  t.deepEqual((await snapshot.get()).anomalies.map((a) => a.id), [mine.id, other.id]);
});

test('a failed refresh keeps the previous reading and says how old it is', async (t) => {
  let now = Date.parse('2026-12-05T12:00:00Z');
  const store = controlledStore();
  const old = anomaly('malformed_input', new Date(now - 60_000));
  store.stored.push(old);
  const snapshot = snapshotOver(store, () => now);
  const firstGet = snapshot.get();
  store.answer();
  await firstGet;

  now += 5_000;
  await snapshot.get();
  store.fail('BigQuery query failed: no answer within 9 s');
  await new Promise((resolve) => setImmediate(resolve));
  const reading = await snapshot.get();
  t.deepEqual(reading.anomalies.map((a) => a.id), [old.id]);
  t.is(reading.warning, 'stored anomalies are 5 s old: the last read failed: BigQuery query failed: no answer within 9 s');
});

test('anomalies older than the lookback drop out of the answer', async (t) => {
  let now = Date.parse('2026-12-05T12:00:00Z');
  const store = controlledStore();
  const snapshot = snapshotOver(store, () => now);
  const mine = anomaly('processing_error', new Date(now));
  snapshot.written([mine]);
  t.is((await snapshot.get()).anomalies.length, 1);
  now += 25 * HOUR;
  t.is((await snapshot.get()).anomalies.length, 0);
});
