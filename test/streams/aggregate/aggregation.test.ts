/**
 * The aggregate stage across a restart, on a real embedded store: what was stored before the
 * restart rebuilds the windows and the spike baselines, so a spike right after a deploy is seen.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadConfig } from '../../../src/config.js';
import type { Anomaly } from '../../../src/domain/types.js';
import { silentLogger } from '../../../src/log.js';
import { openLocalStore } from '../../../sinks/local-store/index.js';
import { Aggregation } from '../../../streams/aggregate/aggregation.js';
import { AnomalyOutbox } from '../../../streams/commit.js';
import { failure, result } from '../../support/sink-compliance.js';

const T0 = Date.parse('2026-11-29T10:30:00.000Z');
const EARLIER = new Date(T0 - 50 * 60_000); // 09:40, the hour before
const counts = (added: number) => ({ added, removed: 0, moved: 0, modified: 0 });

/** A store holding, for replica r1: three results of D1 with 4 changes, and 48 more changes in the same hour. */
async function storedHistory(t: import('ava').ExecutionContext) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-aggregation-'));
  const store = openLocalStore({ dataDir });
  t.teardown(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const results = [
    ...[1, 2, 3].map((i) => result({ taskKey: `d1-${i}`, drawingId: 'D1', createdAt: EARLIER, counts: counts(4), replicaId: 'r1' })),
    ...Array.from({ length: 12 }, (_, i) => result({ taskKey: `e-${i}`, drawingId: `E${i}`, createdAt: EARLIER, counts: counts(4), replicaId: 'r1' })),
  ];
  await store.writeBatch({ results, failures: [], anomalies: [] });
  return { dataDir, store };
}

async function restarted(dataDir: string, store: ReturnType<typeof openLocalStore>, replicaId: string, env: Record<string, string> = {}) {
  const outbox = new AnomalyOutbox();
  const aggregation = new Aggregation(loadConfig({ DATA_DIR: dataDir, REPLICA_ID: replicaId, ...env }), { sink: store, store }, outbox, () => T0, silentLogger);
  await aggregation.restore();
  const observe = (taskKey: string, drawingId: string, changes: number): Anomaly[] => {
    aggregation.counted({ result: result({ taskKey, drawingId, createdAt: new Date(T0), counts: counts(changes), replicaId }) });
    return outbox.drain();
  };
  return { aggregation, observe };
}

test('after a restart with the same REPLICA_ID, a drawing spike and a system spike are seen at once', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  const { aggregation, observe } = await restarted(dataDir, store, 'r1');
  t.teardown(() => aggregation.close());

  // D1's baseline is its three stored results (4 changes each): 40 is 10×
  const drawing = observe('d1-4', 'D1', 40);
  t.deepEqual(drawing.map((a) => [a.type, a.drawingId, a.details.scope]), [['spike_detected', 'D1', 'drawing']]);
  t.like(drawing[0]?.details, { baseline: 4, baseline_results: 3, changes: 40 });

  // the hour before held 60 changes: 40 + 560 = 600 this hour is 10×
  t.deepEqual(observe('z-1', 'Z', 559), []);
  const system = observe('z-2', 'Y', 1);
  t.deepEqual(system.map((a) => [a.type, a.details.scope, a.details.previous_hour_changes]), [['spike_detected', 'system', 60]]);

  // and the windows hold the stored results too
  const metrics = await aggregation.metricsView();
  t.is(metrics.pairs_total, 15 + 3);
});

test('a replica with nothing of its own stored has no baseline yet: the same results raise nothing', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  const { aggregation, observe } = await restarted(dataDir, store, 'r2');
  t.teardown(() => aggregation.close());
  t.deepEqual(observe('d1-4', 'D1', 40), []);
  t.deepEqual(observe('z-1', 'Z', 560), []);
});

test('a task that failed just before a restart and completes after it counts; a replay of its failure does not', async (t) => {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-aggregation-'));
  const store = openLocalStore({ dataDir });
  t.teardown(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  const justBefore = new Date(T0 - 60_000);
  await store.writeBatch({ results: [], failures: [failure({ taskKey: 'k', kind: 'failed', createdAt: justBefore, replicaId: 'r1' })], anomalies: [] });
  const { aggregation } = await restarted(dataDir, store, 'r1');
  t.teardown(() => aggregation.close());
  const totals = async () => {
    const m = await aggregation.metricsView();
    return { pairs: m.pairs_total, failed: m.failed_total };
  };
  t.deepEqual(await totals(), { pairs: 0, failed: 1 });

  // the same failure delivered again (its rows were stored, its ack lost in the crash): not news
  aggregation.counted({ failure: failure({ taskKey: 'k', kind: 'failed', createdAt: new Date(T0), replicaId: 'r1' }) });
  t.deepEqual(await totals(), { pairs: 0, failed: 1 });

  // the task then succeeding is news
  aggregation.counted({ result: result({ taskKey: 'k', drawingId: 'D9', createdAt: new Date(T0), replicaId: 'r1' }) });
  t.deepEqual(await totals(), { pairs: 1, failed: 1 });
});

/** The embedded store, its samples held back until `release()`, and failing once after `failAfter` samples if set. */
function gated(store: ReturnType<typeof openLocalStore>, failAfter?: number) {
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  let failures = failAfter === undefined ? 0 : 1;
  let reads = 0;
  const gatedStore = Object.create(store) as ReturnType<typeof openLocalStore>;
  gatedStore.samples = async function* (since: Date, replicaId: string) {
    reads += 1;
    await opened;
    let n = 0;
    for await (const sample of store.samples(since, replicaId)) {
      if (failures > 0 && n === failAfter) {
        failures -= 1;
        throw new Error('the store went away half-way');
      }
      n += 1;
      yield sample;
    }
  };
  return { store: gatedStore, release, reads: () => reads };
}

test('the pipeline counts while the restore runs: every task exactly once, a redelivered one too, and the stored hours merged in at the end', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  const slow = gated(store);
  const outbox = new AnomalyOutbox();
  const aggregation = new Aggregation(loadConfig({ DATA_DIR: dataDir, REPLICA_ID: 'r1' }), { sink: store, store: slow.store }, outbox, () => T0, silentLogger);
  t.teardown(() => aggregation.close());
  const restoring = aggregation.restore();
  t.deepEqual(aggregation.restoreStatus, { done: false, lastError: null });

  // three new tasks, and d1-1 again: stored before the crash, its ack lost, counted fresh here
  for (const key of ['n-1', 'n-2', 'n-3', 'd1-1']) {
    aggregation.counted({ result: result({ taskKey: key, drawingId: 'N', createdAt: new Date(T0), counts: counts(1), replicaId: 'r1' }) });
  }
  t.is((await aggregation.metricsView()).pairs_total, 4, 'the live counts are served during the restore');

  slow.release();
  await restoring;
  t.deepEqual(aggregation.restoreStatus, { done: true, lastError: null });
  // 15 stored (d1-1 among them, counted live already) + 3 new
  t.is((await aggregation.metricsView()).pairs_total, 18);
  // a stored task redelivered after the restore read it is not news either
  aggregation.counted({ result: result({ taskKey: 'e-5', drawingId: 'E5', createdAt: new Date(T0), counts: counts(1), replicaId: 'r1' }) });
  t.is((await aggregation.metricsView()).pairs_total, 18);
});

test('a restore that fails half-way leaves nothing behind: its retry counts each stored row once', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  const flaky = gated(store, 5);
  flaky.release();
  // retried after 1 s rather than 5 s: long enough to look at the state between the tries
  const aggregation = new Aggregation(loadConfig({ DATA_DIR: dataDir, REPLICA_ID: 'r1' }), { sink: store, store: flaky.store }, new AnomalyOutbox(), () => T0, silentLogger, 1_000);
  t.teardown(() => aggregation.close());
  const restoring = aggregation.restore();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.like(aggregation.restoreStatus, { done: false, lastError: 'the store went away half-way' });
  t.is((await aggregation.metricsView()).pairs_total, 0, 'the five rows read before the failure are not counted');
  // the retry timer does not hold the process open by itself (unref'd), so the test does
  const keepAlive = setTimeout(() => {}, 30_000);
  await restoring;
  clearTimeout(keepAlive);
  t.true(flaky.reads() > 1, "the restore was tried again");
  t.is((await aggregation.metricsView()).pairs_total, 15);
});

test('shutdown during a restore that keeps failing ends it without marking it done', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  const broken = gated(store, 0);
  broken.release();
  const aggregation = new Aggregation(loadConfig({ DATA_DIR: dataDir, REPLICA_ID: 'r1' }), { sink: store, store: broken.store }, new AnomalyOutbox(), () => T0, silentLogger);
  const restoring = aggregation.restore();
  await new Promise((resolve) => setTimeout(resolve, 100));
  aggregation.close();
  await restoring;
  t.like(aggregation.restoreStatus, { done: false });
  t.is(broken.reads(), 1);
});

test('rows older than the redelivery window are restored per hour from the store: the same windows, baselines and spikes', async (t) => {
  const { dataDir, store } = await storedHistory(t);
  // a redelivery window of 11 s: the stored rows (50 minutes old) come aggregated per hour
  const { aggregation, observe } = await restarted(dataDir, store, 'r1', { MAX_LEASE_SECONDS: '10', LEASE_SECONDS: '1' });
  t.teardown(() => aggregation.close());
  const metrics = await aggregation.metricsView();
  t.is(metrics.pairs_total, 15);
  t.is(metrics.latency_count, 15);
  const drawing = observe('d1-4', 'D1', 40);
  t.deepEqual(drawing.map((a) => [a.type, a.drawingId, a.details.scope]), [['spike_detected', 'D1', 'drawing']]);
  t.like(drawing[0]?.details, { baseline: 4, baseline_results: 3 });
});
