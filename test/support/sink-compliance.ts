/**
 * The contract test every sink must pass (like Vector's `run_and_assert_sink_compliance`): one
 * set of behaviours — idempotent writes, exact `fresh` keys, the query side's shapes and order,
 * rollup upserts that merge — asserted the same way against the embedded store and the GCP sinks.
 *
 * Usage, in a test file:
 *
 *     runSinkCompliance(test, 'local store', async (t) => {
 *       const store = openLocalStore({ dataDir: await tempDir(t) });
 *       return { sink: store, store, outage: { down, up }, refusable: { make, code } };
 *     });
 *
 * The failure paths run too: `outage` makes the durable store really unavailable (a held write
 * lock, a server answering 503), `refusable` builds an item the sink must refuse for good.
 *
 * Each call of the factory must return an EMPTY store (ava runs a file's tests concurrently), so
 * counts and orders can be asserted exactly. The harness closes the sink after each test and then
 * calls `dispose` (stop fake servers, remove temp dirs).
 */
import { randomUUID } from 'node:crypto';
import type { ExecutionContext, TestFn } from 'ava';
import hdr from 'hdr-histogram-js';
import { TransientError } from '../../src/domain/errors.js';
import type { Anomaly, AnomalyType, ChangeSet } from '../../src/domain/types.js';
import type { FailureRecord, ResultRecord, ResultSink, ResultStore, Rollup, SinkBatch, StoredChange } from '../../src/domain/sink.js';

export interface SinkUnderTest {
  readonly sink: ResultSink;
  readonly store: ResultStore;
  /** Runs after `sink.close()`: stop whatever the factory started. */
  readonly dispose?: () => Promise<void> | void;
  /** Makes the durable store unavailable (`down`) and available again (`up`), for real. */
  readonly outage: { down(): Promise<void> | void; up(): Promise<void> | void };
  /** A copy of `r` this sink refuses for good (too large for it), with the rejection code it gives. */
  readonly refusable: { make(r: ResultRecord): ResultRecord; readonly code: string };
}

export type MakeSinkAndStore = (t: ExecutionContext) => Promise<SinkUnderTest>;

/** A fixed point well inside the last 24 hours, on a whole second, so ISO strings compare exactly. */
export function baseTime(): Date {
  return new Date(Math.floor((Date.now() - 2 * 3600_000) / 1000) * 1000);
}

export const at = (base: Date, seconds: number): Date => new Date(base.getTime() + seconds * 1000);

export const hourOf = (d: Date): Date => new Date(Math.floor(d.getTime() / 3600_000) * 3600_000);

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A change set with one item of every kind, so every JSON column round-trips something real. */
export function sampleChanges(tag = 'D1'): ChangeSet {
  return {
    added: [{ id: `${tag}-new`, type: 'window', to: { x: 1, y: 2, width: 3, height: 4 }, description: `${tag}-new (window at 1.0,2.0)` }],
    removed: [{ id: `${tag}-old`, type: 'wall', from: { x: 0, y: 0, width: 10, height: 0.2 }, description: `${tag}-old (wall)` }],
    moved: [
      {
        id: tag,
        type: 'door',
        from: { x: 4, y: 2 },
        to: { x: 6, y: 2.05 },
        dx: 2,
        dy: 0.04999999999999982,
        direction: 'east',
        distance: 2,
        description: `${tag} moved 2.0 units east`,
      },
    ],
    modified: [
      {
        id: `${tag}-m`,
        type: 'window',
        from: { type: 'door', width: 1, height: 2 },
        to: { type: 'window', width: 2, height: 2 },
        fields: ['type', 'width'],
        description: `${tag}-m modified: type door → window, width 1.0 → 2.0`,
      },
    ],
    summary: `1 added, 1 removed, 1 moved, 1 modified (${tag}).`,
  };
}

export function result(overrides: Partial<ResultRecord> & Pick<ResultRecord, 'taskKey' | 'drawingId' | 'createdAt'>): ResultRecord {
  const changes = overrides.changes ?? sampleChanges(overrides.drawingId);
  return {
    jobId: null,
    changes,
    counts: {
      added: changes.added.length,
      removed: changes.removed.length,
      moved: changes.moved.length,
      modified: changes.modified.length,
    },
    processingTimeMs: 12.5,
    endToEndMs: 250.25,
    replicaId: 'replica-a',
    ...overrides,
  };
}

export function failure(overrides: Partial<FailureRecord> & Pick<FailureRecord, 'taskKey' | 'createdAt'>): FailureRecord {
  return {
    jobId: null,
    drawingId: null,
    kind: 'malformed',
    code: 'malformed_version',
    message: 'version_a object 3 field x is not a finite number',
    replicaId: 'replica-a',
    ...overrides,
  };
}

export function anomaly(type: AnomalyType, timestamp: Date, overrides: Partial<Anomaly> = {}): Anomaly {
  return {
    id: uniqueId(type),
    drawingId: 'D1',
    type,
    severity: 'medium',
    details: { reason: type, nested: { values: [1, 2.5, 'x'] }, flag: true },
    timestamp,
    ...overrides,
  };
}

/** A latency histogram built the way the aggregator builds them, holding `values` in µs. */
export function histogramOf(values: readonly number[]): string {
  const h = hdr.build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000 });
  for (const v of values) h.recordValue(v);
  const encoded = hdr.encodeIntoCompressedBase64(h);
  h.destroy();
  return encoded;
}

export function rollup(overrides: Partial<Rollup> & Pick<Rollup, 'replicaId' | 'hourStart' | 'updatedAt'>): Rollup {
  return {
    counts: { pairs: 2, added: 3, removed: 1, moved: 4, modified: 1, renamed: 0, failed: 1, malformed: 1 },
    processingHistogram: histogramOf([1000, 2000]),
    endToEndHistogram: histogramOf([5000, 9000]),
    ...overrides,
  };
}

export const batchOf = (b: Partial<SinkBatch>): SinkBatch => ({ results: [], failures: [], anomalies: [], ...b });

/** What `GET /changes` must return for a written result. */
export function expectedStored(r: ResultRecord): StoredChange {
  return {
    drawing_id: r.drawingId,
    job_id: r.jobId,
    added: r.changes.added,
    removed: r.changes.removed,
    moved: r.changes.moved,
    modified: r.changes.modified,
    summary: r.changes.summary,
    processing_time_ms: r.processingTimeMs,
    created_at: r.createdAt.toISOString(),
  };
}

const sorted = (keys: Iterable<string>): string[] => [...keys].sort();

/**
 * Registers the compliance tests under `<name> compliance: ...`.
 *
 * @example
 * runSinkCompliance(test, 'gcp sink', async () => ({ sink, store: sink, dispose: () => fakes.stop() }));
 */
export function runSinkCompliance(test: TestFn, name: string, makeSinkAndStore: MakeSinkAndStore): void {
  async function open(t: ExecutionContext): Promise<SinkUnderTest> {
    const under = await makeSinkAndStore(t);
    t.teardown(async () => {
      await under.sink.close();
      await under.dispose?.();
    });
    return under;
  }

  test(`${name} compliance: fresh holds exactly the task keys written for the first time`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const drawing = uniqueId('D');
    const [r1, r2, r3] = [1, 2, 3].map((i) => result({ taskKey: uniqueId(`r${i}`), drawingId: drawing, createdAt: at(base, i) })) as [
      ResultRecord,
      ResultRecord,
      ResultRecord,
    ];
    const f1 = failure({ taskKey: uniqueId('f1'), createdAt: at(base, 4) });
    const f2 = failure({ taskKey: uniqueId('f2'), createdAt: at(base, 5), kind: 'failed', code: 'sink_unavailable' });

    // given a first batch, when it is written, then every key is fresh
    const first = await sink.writeBatch(batchOf({ results: [r1, r2], failures: [f1] }));
    t.deepEqual(sorted(first.fresh), sorted([r1.taskKey, r2.taskKey, f1.taskKey]));

    // when a batch mixes replays and new records, then only the new ones are fresh
    const second = await sink.writeBatch(batchOf({ results: [r2, r3], failures: [f1, f2] }));
    t.deepEqual(sorted(second.fresh), sorted([r3.taskKey, f2.taskKey]));

    const stored = await store.changes(drawing, 10);
    t.deepEqual(stored, [r3, r2, r1].map(expectedStored));
  });

  test(`${name} compliance: a replayed batch is not fresh and writes no duplicate`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const jobId = uniqueId('job');
    await store.createJob({ jobId, tasksCreated: 2, createdAt: base });
    const r = result({ taskKey: uniqueId('r'), jobId, drawingId: uniqueId('D'), createdAt: at(base, 1) });
    const f = failure({ taskKey: uniqueId('f'), jobId, drawingId: 'D9', createdAt: at(base, 2) });
    const a = anomaly('malformed_input', at(base, 2), { id: `malformed_input:${f.taskKey}` });
    const batch = batchOf({ results: [r], failures: [f], anomalies: [a] });

    await sink.writeBatch(batch);
    const replay = await sink.writeBatch(batch);

    t.is(replay.fresh.size, 0);
    t.deepEqual(await store.changes(r.drawingId, 10), [expectedStored(r)]);
    t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 2, completed: 1, failed: 1, pending: 0 });
    t.deepEqual(await store.anomalies(base, 10), [a]);
    t.is(await store.dataQualityIssues(base), 1);
  });

  test(`${name} compliance: a key twice in one batch is written and reported once`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const r = result({ taskKey: uniqueId('r'), drawingId: uniqueId('D'), createdAt: at(base, 1) });
    const f = failure({ taskKey: uniqueId('f'), createdAt: at(base, 1) });

    const receipt = await sink.writeBatch(batchOf({ results: [r, r], failures: [f, f] }));

    t.deepEqual(sorted(receipt.fresh), sorted([r.taskKey, f.taskKey]));
    t.is((await store.changes(r.drawingId, 10)).length, 1);
  });

  test(`${name} compliance: an empty batch resolves with nothing fresh`, async (t) => {
    const { sink } = await open(t);
    const receipt = await sink.writeBatch(batchOf({}));
    t.is(receipt.fresh.size, 0);
  });

  test(`${name} compliance: changes come newest first, limited, in the API's shape`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const drawing = uniqueId('D');
    const other = uniqueId('D');
    const jobId = uniqueId('job');
    const older = result({ taskKey: uniqueId('r'), drawingId: drawing, createdAt: at(base, 10), jobId });
    const newest = result({ taskKey: uniqueId('r'), drawingId: drawing, createdAt: at(base, 30), changes: sampleChanges('X') });
    const middle = result({
      taskKey: uniqueId('r'),
      drawingId: drawing,
      createdAt: at(base, 20),
      changes: { added: [], removed: [], moved: [], modified: [], summary: 'No changes detected.' },
    });
    const elsewhere = result({ taskKey: uniqueId('r'), drawingId: other, createdAt: at(base, 40) });

    // written out of time order, in two batches
    await sink.writeBatch(batchOf({ results: [middle, elsewhere] }));
    await sink.writeBatch(batchOf({ results: [newest, older] }));

    t.deepEqual(await store.changes(drawing, 10), [newest, middle, older].map(expectedStored));
    t.deepEqual(await store.changes(drawing, 2), [newest, middle].map(expectedStored));
    t.deepEqual(await store.changes(drawing, 1), [expectedStored(newest)]);
    t.deepEqual(await store.changes(other, 10), [expectedStored(elsewhere)]);
    t.deepEqual(await store.changes(uniqueId('unknown'), 10), []);
  });

  test(`${name} compliance: job status counts completed, failed and pending`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const jobId = uniqueId('job');
    await store.createJob({ jobId, tasksCreated: 5, createdAt: base });

    t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 5, completed: 0, failed: 0, pending: 5 });

    await sink.writeBatch(
      batchOf({
        results: [
          result({ taskKey: uniqueId('r'), jobId, drawingId: 'D1', createdAt: at(base, 1) }),
          result({ taskKey: uniqueId('r'), jobId, drawingId: 'D2', createdAt: at(base, 2) }),
          result({ taskKey: uniqueId('r'), jobId: uniqueId('other-job'), drawingId: 'D3', createdAt: at(base, 2) }),
        ],
        failures: [
          failure({ taskKey: uniqueId('f'), jobId, kind: 'malformed', createdAt: at(base, 3) }),
          failure({ taskKey: uniqueId('f'), jobId, kind: 'failed', code: 'storage_unavailable', createdAt: at(base, 4) }),
        ],
      }),
    );

    t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 5, completed: 2, failed: 2, pending: 1 });
    t.is(await store.job(uniqueId('unknown-job')), null);
  });

  test(`${name} compliance: pending never goes below zero`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const jobId = uniqueId('job');
    await store.createJob({ jobId, tasksCreated: 1, createdAt: base });
    await sink.writeBatch(
      batchOf({
        results: [1, 2, 3].map((i) => result({ taskKey: uniqueId(`r${i}`), jobId, drawingId: 'D1', createdAt: at(base, i) })),
      }),
    );
    t.deepEqual(await store.job(jobId), { job_id: jobId, tasks_created: 1, completed: 3, failed: 0, pending: 0 });
  });

  test(`${name} compliance: a task key two jobs recorded is one task: its one outcome counts in both jobs, whichever delivered it`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const [first, second] = [uniqueId('job'), uniqueId('job')];
    const shared = uniqueId('client-key');
    const own = uniqueId('client-key');

    // given two jobs that both enqueued `shared` (two requests racing), and the first also `own`
    await store.createJob({ jobId: first, tasksCreated: 2, createdAt: base });
    t.deepEqual([...(await store.knownTaskKeys([shared, own]))], [], 'no job holds them yet');
    await store.recordJobTasks({ jobId: first, createdAt: base, taskKeys: [shared, own] });
    await store.createJob({ jobId: second, tasksCreated: 1, createdAt: at(base, 1) });
    await store.recordJobTasks({ jobId: second, createdAt: at(base, 1), taskKeys: [shared] });
    // recording again (a retried write) changes nothing
    await store.recordJobTasks({ jobId: second, createdAt: at(base, 1), taskKeys: [shared, shared] });
    t.deepEqual(sorted(await store.knownTaskKeys([shared, own, uniqueId('unknown')])), sorted([shared, own]));
    t.deepEqual(await store.job(second), { job_id: second, tasks_created: 1, completed: 0, failed: 0, pending: 1 });

    // when the one delivery that is written carries the first job's id (the other was a replay)
    const delivered = result({ taskKey: shared, jobId: first, drawingId: uniqueId('D'), createdAt: at(base, 2) });
    await sink.writeBatch(batchOf({ results: [delivered] }));
    await sink.writeBatch(batchOf({ results: [{ ...delivered, jobId: second, createdAt: at(base, 3) }] }));
    await sink.writeBatch(batchOf({ failures: [failure({ taskKey: own, jobId: first, createdAt: at(base, 4) })] }));

    // then each job counts it once, and nothing stays pending
    t.deepEqual(await store.job(first), { job_id: first, tasks_created: 2, completed: 1, failed: 1, pending: 0 });
    t.deepEqual(await store.job(second), { job_id: second, tasks_created: 1, completed: 1, failed: 0, pending: 0 });
    t.is((await store.changes(delivered.drawingId, 10)).length, 1);
  });

  test(`${name} compliance: anomalies of one severity are the newest of that severity, whatever came after them`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const high = anomaly('delayed_upload', at(base, 1), { severity: 'high' });
    const flood = Array.from({ length: 30 }, (_, i) => anomaly('missing_upload', at(base, 10 + i), { severity: 'medium' }));
    await sink.writeBatch(batchOf({ anomalies: [high, ...flood] }));

    t.deepEqual(await store.anomalies(base, 10, 'high'), [high]);
    t.deepEqual(await store.anomalies(base, 3, 'medium'), flood.slice(-3).reverse());
    t.deepEqual(await store.anomalies(base, 10, 'low'), []);
    t.false((await store.anomalies(base, 10)).some((a) => a.id === high.id), 'without a severity, the flood is newer');
  });

  test(`${name} compliance: anomalies are idempotent by id, newest first, limited, since`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const before = anomaly('spike_detected', at(base, -60));
    const a1 = anomaly('missing_upload', at(base, 1), { drawingId: null, severity: 'low' });
    const a2 = anomaly('processing_error', at(base, 2), { severity: 'high', details: { code: 'sink_unavailable', attempts: 5 } });
    const a3 = anomaly('delayed_upload', at(base, 3));

    await sink.writeBatch(batchOf({ anomalies: [before, a2, a1] }));
    await sink.writeBatch(batchOf({ anomalies: [a1, a3, a2] }));

    t.deepEqual(await store.anomalies(base, 10), [a3, a2, a1]);
    t.deepEqual(await store.anomalies(base, 2), [a3, a2]);
    t.deepEqual(await store.anomalies(at(base, -3600), 10), [a3, a2, a1, before]);
  });

  test(`${name} compliance: data quality issues count malformed_input and missing_upload since`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    await sink.writeBatch(
      batchOf({
        anomalies: [
          anomaly('malformed_input', at(base, -1)),
          anomaly('malformed_input', at(base, 0)),
          anomaly('malformed_input', at(base, 5)),
          anomaly('missing_upload', at(base, 6)),
          anomaly('spike_detected', at(base, 7)),
          anomaly('processing_error', at(base, 8)),
          anomaly('delayed_upload', at(base, 9)),
        ],
      }),
    );
    t.is(await store.dataQualityIssues(base), 3);
    t.is(await store.dataQualityIssues(at(base, 3600)), 0);
  });

  test(`${name} compliance: rollups upsert per replica and hour, and their histograms merge`, async (t) => {
    const { sink, store } = await open(t);
    const hour = hourOf(baseTime());
    const previousHour = new Date(hour.getTime() - 3600_000);
    const first = rollup({ replicaId: 'replica-a', hourStart: hour, updatedAt: at(hour, 60), counts: { pairs: 1, added: 1, removed: 0, moved: 0, modified: 0, renamed: 0, failed: 0, malformed: 0 } });
    const latest = rollup({
      replicaId: 'replica-a',
      hourStart: hour,
      updatedAt: at(hour, 120),
      counts: { pairs: 3, added: 4, removed: 1, moved: 2, modified: 1, renamed: 0, failed: 1, malformed: 2 },
      processingHistogram: histogramOf([1000, 2000, 3000]),
    });
    const stale = rollup({ replicaId: 'replica-a', hourStart: hour, updatedAt: at(hour, 90) });
    const peer = rollup({ replicaId: 'replica-b', hourStart: hour, updatedAt: at(hour, 100), processingHistogram: histogramOf([10_000, 20_000]) });
    const old = rollup({ replicaId: 'replica-a', hourStart: previousHour, updatedAt: at(previousHour, 60) });

    await sink.writeRollups([first, old]);
    await sink.writeRollups([latest, peer]);
    // a snapshot older than the stored one must not win
    await sink.writeRollups([stale]);
    await sink.writeRollups([]);

    const byKey = (r: Rollup) => `${r.replicaId}@${r.hourStart.toISOString()}`;
    const got = (await store.rollups(hour)).sort((x, y) => byKey(x).localeCompare(byKey(y)));
    t.deepEqual(got, [latest, peer]);
    t.is((await store.rollups(previousHour)).length, 3);

    // merge-ready: replicas' histograms decode and add into one distribution
    const merged = hdr.decodeFromCompressedBase64(got[0]!.processingHistogram);
    const other = hdr.decodeFromCompressedBase64(got[1]!.processingHistogram);
    merged.add(other);
    t.is(merged.totalCount, 5);
    // within the histogram's 3 significant digits
    t.true(Math.abs(merged.getValueAtPercentile(100) - 20_000) <= 20);
    t.true(Math.abs(merged.getValueAtPercentile(50) - 3000) <= 3);
    merged.destroy();
    other.destroy();
  });

  test(`${name} compliance: flush resolves and what was written is readable`, async (t) => {
    const { sink, store } = await open(t);
    const base = baseTime();
    const r = result({ taskKey: uniqueId('r'), drawingId: uniqueId('D'), createdAt: at(base, 1) });
    await sink.writeBatch(batchOf({ results: [r] }));
    await sink.flush();
    t.deepEqual(await store.changes(r.drawingId, 1), [expectedStored(r)]);
  });

  test(`${name} compliance: healthcheck resolves while the sink is writable`, async (t) => {
    const { sink } = await open(t);
    await t.notThrowsAsync(sink.healthcheck());
  });

  test(`${name} compliance: down is unavailable (TransientError, nothing fresh, nothing readable), and the same batch is fresh once it is back`, async (t) => {
    const { sink, store, outage } = await open(t);
    const base = baseTime();
    const r = result({ taskKey: uniqueId('r'), drawingId: uniqueId('D'), createdAt: at(base, 1) });

    // given the store is down, when a batch is written, then the write is unavailable
    await outage.down();
    const err = await t.throwsAsync(sink.writeBatch(batchOf({ results: [r] })));
    t.true(err instanceof TransientError, `a TransientError, not ${err?.name}: ${err?.message}`);
    t.is((err as TransientError).code, 'sink_unavailable');
    await t.throwsAsync(sink.healthcheck());

    // when it is back, then the same batch is written and fresh once
    await outage.up();
    t.deepEqual(sorted((await sink.writeBatch(batchOf({ results: [r] }))).fresh), [r.taskKey]);
    t.deepEqual(sorted((await sink.writeBatch(batchOf({ results: [r] }))).fresh), []);
    t.deepEqual(await store.changes(r.drawingId, 10), [expectedStored(r)]);
    await t.notThrowsAsync(sink.healthcheck());
  });

  test(`${name} compliance: a refused item is rejected alone with its reason; the rest is durable and later writes succeed`, async (t) => {
    const { sink, store, refusable } = await open(t);
    const base = baseTime();
    const drawing = uniqueId('D');
    const good = result({ taskKey: uniqueId('good'), drawingId: drawing, createdAt: at(base, 1) });
    const bad = refusable.make(result({ taskKey: uniqueId('bad'), drawingId: drawing, createdAt: at(base, 2) }));
    const f = failure({ taskKey: uniqueId('f'), createdAt: at(base, 3) });

    const receipt = await sink.writeBatch(batchOf({ results: [good, bad], failures: [f] }));

    t.deepEqual(sorted(receipt.fresh), sorted([good.taskKey, f.taskKey]));
    t.deepEqual([...(receipt.rejected?.keys() ?? [])], [bad.taskKey]);
    t.is(receipt.rejected?.get(bad.taskKey)?.code, refusable.code);
    t.truthy(receipt.rejected?.get(bad.taskKey)?.message);
    t.deepEqual(await store.changes(drawing, 10), [expectedStored(good)]);

    // nothing of the refused item is kept and sent again: a later write stands on its own
    const later = result({ taskKey: uniqueId('later'), drawingId: drawing, createdAt: at(base, 4) });
    const next = await sink.writeBatch(batchOf({ results: [later] }));
    t.deepEqual(sorted(next.fresh), [later.taskKey]);
    t.is(next.rejected?.size ?? 0, 0);
    t.deepEqual(await store.changes(drawing, 10), [expectedStored(later), expectedStored(good)]);
  });

  test(`${name} compliance: close twice resolves both times`, async (t) => {
    const { sink } = await open(t);
    await sink.writeBatch(batchOf({ results: [result({ taskKey: uniqueId('r'), drawingId: uniqueId('D'), createdAt: baseTime() })] }));
    await t.notThrowsAsync(sink.close());
    await t.notThrowsAsync(sink.close());
  });
}
