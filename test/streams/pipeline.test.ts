/**
 * The pipeline from a real local queue to a real local store, with thin wrappers around the real
 * components where a fault must be injected (a sink whose writes fail, an input store that is
 * down): acks only after durable writes, retries and dead letters, idempotency, resilience to
 * unexpected errors, and a draining stop.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { map, type Observable } from 'rxjs';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { Anomaly, ChangeSet } from '../../src/domain/types.js';
import { silentLogger } from '../../src/log.js';
import type { FailureRecord, ResultRecord, ResultSink, Rollup, SinkBatch, WriteReceipt } from '../../src/domain/sink.js';
import { openLocalStore, type LocalStore } from '../../sinks/local-store/index.js';
import { AnomalyOutbox, type CommitObserver } from '../../streams/commit.js';
import { diffPair, type DiffRequest } from '../../streams/diff/diff-pair.js';
import type { InputStore, PairListing } from '../../streams/load/input-store.js';
import { localInputStore } from '../../streams/load/local-files.js';
import { Pipeline } from '../../streams/pipeline.js';
import { MAX_ATTEMPTS_REASON, openLocalQueue, type LocalQueue } from '../../streams/sources/local-queue.js';
import type { DeadLetterReason, Delivery, OutgoingTask, TaskSource } from '../../src/domain/source.js';
import { waitFor } from '../support/in-process.js';
import { SinkBreaker } from '../../streams/retry/sink-breaker.js';

const WAIT_MS = 20_000;
const JOB = 'job-1';

/** The real queue, with every ack, nack and dead letter written to a shared event log. */
class RecordingSource implements TaskSource {
  readonly name = 'local' as const;
  /** Delivery attempts seen per task label (the drawing id attribute). */
  readonly attempts = new Map<string, number[]>();
  /** Labels whose next dead letter fails, as a DLQ topic that cannot be reached would. */
  readonly failDeadLetterOnce = new Set<string>();

  constructor(
    private readonly inner: LocalQueue,
    private readonly events: string[],
  ) {}

  get maxDeliveryAttempts(): number {
    return this.inner.maxDeliveryAttempts;
  }

  deliveries(): Observable<Delivery> {
    return this.inner.deliveries().pipe(map((d) => this.wrap(d)));
  }

  stop(): Promise<void> {
    return this.inner.stop();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  isReady(): boolean {
    return this.inner.isReady();
  }

  private wrap(d: Delivery): Delivery {
    const label = d.attributes.drawing_id ?? d.id;
    this.attempts.set(label, [...(this.attempts.get(label) ?? []), d.deliveryAttempt]);
    return {
      ...d,
      ack: () => {
        this.events.push(`ack ${label}`);
        d.ack();
      },
      nack: () => {
        this.events.push(`nack ${label}`);
        d.nack();
      },
      deadLetter: async (reason: DeadLetterReason) => {
        if (this.failDeadLetterOnce.delete(label)) {
          this.events.push(`dead-letter failed ${label}`);
          throw new TransientError(ERROR_CODES.sinkUnavailable, 'dead-letter topic unreachable (test)');
        }
        await d.deadLetter(reason);
        this.events.push(`dead-letter ${label}`);
      },
    };
  }
}

/** The real store behind a switch: writes can fail before touching it, or land and then "fail". */
class FlakySink implements ResultSink {
  readonly name = 'flaky-local';
  /** Every write fails until this is set back to false. */
  failing = false;
  /** The next N writes fail before touching the store. */
  failNext = 0;
  /** The next N writes reach the store, then report failure (the answer was lost). */
  loseAnswers = 0;
  /** Drawings whose results the sink refuses for good (as BigQuery refuses a row too large). */
  readonly refuse = new Set<string>();
  writes = 0;
  failedWrites = 0;

  constructor(
    private readonly inner: LocalStore,
    private readonly events: string[],
  ) {}

  async writeBatch(batch: SinkBatch): Promise<WriteReceipt> {
    this.writes += 1;
    if (this.failing || this.failNext > 0) {
      this.failNext = Math.max(0, this.failNext - 1);
      this.failedWrites += 1;
      throw new TransientError(ERROR_CODES.sinkUnavailable, 'sink unavailable (test)');
    }
    const refused = batch.results.filter((r) => this.refuse.has(r.drawingId));
    const receipt = await this.inner.writeBatch({ ...batch, results: batch.results.filter((r) => !this.refuse.has(r.drawingId)) });
    if (this.loseAnswers > 0) {
      this.loseAnswers -= 1;
      this.failedWrites += 1;
      throw new TransientError(ERROR_CODES.sinkUnavailable, 'connection reset after commit (test)');
    }
    for (const r of batch.results) if (!this.refuse.has(r.drawingId)) this.events.push(`written ${r.drawingId}`);
    for (const f of batch.failures) this.events.push(`written ${f.drawingId}`);
    if (refused.length === 0) return receipt;
    return { ...receipt, rejected: new Map(refused.map((r) => [r.taskKey, { code: 'row_too_large', message: 'too large (test)' }])) };
  }

  writeRollups(rollups: readonly Rollup[]): Promise<void> {
    return this.inner.writeRollups(rollups);
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  healthcheck(): Promise<void> {
    return this.inner.healthcheck();
  }
}

/** Real files under INPUT_DIR, with references that are "down" for a number of reads. */
class FlakyInput implements InputStore {
  /** Reference → reads that still fail (Infinity: always). */
  readonly down = new Map<string, number>();

  constructor(private readonly inner: InputStore) {}
  referenceProblem(ref: string): string | null {
    return this.inner.referenceProblem(ref);
  }

  async read(ref: string): Promise<Buffer> {
    const left = this.down.get(ref) ?? 0;
    if (left > 0) {
      this.down.set(ref, left - 1);
      throw new TransientError(ERROR_CODES.storageUnavailable, `storage unavailable for ${ref} (test)`);
    }
    return this.inner.read(ref);
  }

  listPairs(prefix: string): Promise<PairListing> {
    return this.inner.listPairs(prefix);
  }
}

/** What the commit stage counted (task keys), and optional faults in the observer itself. */
class RecordingObserver implements CommitObserver {
  readonly countedKeys: string[] = [];
  /** Drawing ids whose first `counted` call throws, as a buggy aggregator might. */
  readonly throwOnce = new Set<string>();

  inspect(_result: ResultRecord): readonly Anomaly[] {
    return [];
  }

  counted(outcome: { result: ResultRecord } | { failure: FailureRecord }): void {
    const record = 'result' in outcome ? outcome.result : outcome.failure;
    this.countedKeys.push(record.taskKey);
    if (record.drawingId && this.throwOnce.delete(record.drawingId)) throw new RangeError('observer bug (test)');
  }
}

interface HarnessOptions {
  readonly maxDeliveryAttempts?: number;
  readonly batchMaxWaitMs?: number;
  readonly concurrency?: number;
  readonly maxOutstanding?: number;
  readonly diff?: (request: DiffRequest) => Promise<ChangeSet>;
}

interface Harness {
  readonly dataDir: string;
  readonly inputDir: string;
  readonly queue: LocalQueue;
  readonly store: LocalStore;
  readonly sink: FlakySink;
  readonly input: FlakyInput;
  readonly source: RecordingSource;
  readonly observer: RecordingObserver;
  readonly pipeline: Pipeline;
  readonly breaker: SinkBreaker;
  /** Shutdown: the write retries end and the batch is nacked. */
  readonly stopRetrying: AbortController;
  readonly events: string[];
  /** How `start()` ended: still running, drained, or failed (the stream died). */
  readonly ended: () => 'running' | 'completed' | 'failed';
}

async function harness(t: ExecutionContext, options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-pipeline-'));
  const inputDir = path.join(dataDir, 'input');
  mkdirSync(inputDir);
  const events: string[] = [];
  const queue = openLocalQueue({
    dataDir,
    maxOutstanding: options.maxOutstanding ?? 10,
    leaseSeconds: 30,
    maxDeliveryAttempts: options.maxDeliveryAttempts ?? 5,
    backoff: { initialMs: 5, maxMs: 20 },
    pollIntervalMs: 10,
  });
  const store = openLocalStore({ dataDir });
  const sink = new FlakySink(store, events);
  const input = new FlakyInput(localInputStore({ inputDir, maxBytes: 1024 * 1024 }));
  const source = new RecordingSource(queue, events);
  const observer = new RecordingObserver();
  const breaker = new SinkBreaker({ failuresToOpen: 2, probeInitialMs: 5, probeMaxMs: 20 });
  const stopRetrying = new AbortController();
  const pipeline = new Pipeline(
    source,
    {
      input,
      diff: options.diff ?? (async (request) => diffPair(request)),
      tolerance: 0.1,
      maxDeliveryAttempts: queue.maxDeliveryAttempts,
      replicaId: 'test',
      clock: Date.now,
    },
    {
      sink,
      observer,
      outbox: new AnomalyOutbox(),
      replicaId: 'test',
      clock: Date.now,
      logger: silentLogger,
      breaker,
      stopRetrying: stopRetrying.signal,
    },
    { concurrency: options.concurrency ?? 2, batchSize: 50, batchMaxWaitMs: options.batchMaxWaitMs ?? 10 },
    silentLogger,
  );
  let state: 'running' | 'completed' | 'failed' = 'running';
  t.teardown(async () => {
    stopRetrying.abort();
    pipeline.abort();
    await queue.close();
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await store.createJob({ jobId: JOB, tasksCreated: 0, createdAt: new Date() });
  const h: Harness = { dataDir, inputDir, queue, store, sink, input, source, observer, pipeline, breaker, stopRetrying, events, ended: () => state };
  pipeline.start().then(
    () => (state = 'completed'),
    () => (state = 'failed'),
  );
  return h;
}

const obj = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 1 });

/** An inline task that moves D1 by `dx`; `extra` adds or overrides body fields. */
function task(drawingId: string, dx = 2, extra: Record<string, unknown> = {}): OutgoingTask {
  const body = { drawing_id: drawingId, job_id: JOB, version_a: [obj('D1', 0)], version_b: [obj('D1', dx)], ...extra };
  return { data: Buffer.from(JSON.stringify(body)), attributes: { drawing_id: drawingId, job_id: JOB } };
}

/** A message whose body is `raw`, labelled by drawing id in its attributes only. */
const rawTask = (drawingId: string, raw: string): OutgoingTask => ({
  data: Buffer.from(raw),
  attributes: { drawing_id: drawingId, job_id: JOB },
});

const drained = (h: Harness) => waitFor(async () => ((await h.queue.depth()) === 0 ? true : undefined), WAIT_MS, 'the queue to drain');
const results = async (h: Harness, drawingId: string) => (await h.store.changes(drawingId, 10)).length;

/** Asserts that every ack of `label` comes after a durable write of it. */
function ackedAfterWrite(t: ExecutionContext, h: Harness, label: string): void {
  const written = h.events.indexOf(`written ${label}`);
  const acked = h.events.indexOf(`ack ${label}`);
  t.true(acked >= 0, `${label} was acked: ${h.events.join(', ')}`);
  t.true(written >= 0 && written < acked, `${label} was written before its ack: ${h.events.join(', ')}`);
}

test('a failing sink acks nothing and spends no attempt: the breaker opens, and once the sink recovers every task is written once, then acked', async (t) => {
  // given a sink that is down, three tasks, and only two delivery attempts each
  const h = await harness(t, { maxDeliveryAttempts: 2 });
  const seen: string[] = [];
  h.breaker.onChange((s) => seen.push(s.state === 'closed' ? 'closed' : `${s.state}: ${s.reason}`));
  h.sink.failing = true;
  await h.queue.publish([task('A'), task('B'), task('C')]);

  // when the pipeline has failed to write them many more times than they have attempts
  await waitFor(async () => (h.sink.failedWrites >= 10 ? true : undefined), WAIT_MS, 'ten failed writes');

  // then the breaker is open and says why; nothing was acked, nacked or redelivered
  t.like(h.breaker.status, { state: 'open' });
  t.regex(h.breaker.status.state === 'closed' ? '' : h.breaker.status.reason, /sink unavailable \(test\)/);
  t.false(h.events.some((e) => e.startsWith('ack ') || e.startsWith('nack ')), h.events.join(', '));
  t.is(await h.queue.depth(), 3);
  for (const id of ['A', 'B', 'C']) t.is(await results(h, id), 0);

  // and when the sink recovers, every task is written exactly once, and acked after its write
  h.sink.failing = false;
  await drained(h);
  for (const id of ['A', 'B', 'C']) {
    t.is(await results(h, id), 1, `${id} has one result`);
    t.deepEqual(h.source.attempts.get(id), [1], `${id} was delivered once`);
    ackedAfterWrite(t, h, id);
  }
  t.deepEqual(h.breaker.status, { state: 'closed' });
  t.true(seen.some((s) => s.startsWith('open: sink unavailable (test)')), seen.join(', '));
  t.is(seen.at(-1), 'closed');
  t.is(h.observer.countedKeys.length, 3, 'each counted once');
  t.like(h.pipeline.stats, { written: 3, duplicates: 0, failedWrites: 0 });
  t.like(await h.store.job(JOB), { completed: 3, failed: 0 });
  t.deepEqual(await h.queue.deadLetters(10), []);
  t.is(h.ended(), 'running');
});

test('while the breaker is open no new delivery is worked on; they wait leased and are processed once it closes', async (t) => {
  // given a sink that is down and a first task stuck in its write
  const h = await harness(t, { maxDeliveryAttempts: 2 });
  h.sink.failing = true;
  await h.queue.publish([task('FIRST')]);
  await waitFor(async () => (h.breaker.status.state !== 'closed' ? true : undefined), WAIT_MS, 'the breaker to open');
  const writesBefore = h.sink.writes;

  // when more tasks arrive during the outage
  await h.queue.publish([task('LATER1'), task('LATER2')]);
  await waitFor(async () => (h.source.attempts.has('LATER2') ? true : undefined), WAIT_MS, 'the later tasks to be leased');
  await waitFor(async () => (h.sink.writes >= writesBefore + 3 ? true : undefined), WAIT_MS, 'more probes');

  // then only the first batch is being probed: the later ones are not in any write
  t.false(h.events.some((e) => e.includes('LATER')  && !e.startsWith('deliver')), h.events.join(', '));

  // and after recovery all three are written once, each delivered once
  h.sink.failing = false;
  await drained(h);
  for (const id of ['FIRST', 'LATER1', 'LATER2']) {
    t.is(await results(h, id), 1);
    t.deepEqual(h.source.attempts.get(id), [1]);
  }
});

test('shutdown during an outage abandons the write and nacks the batch, so the tasks stay queued', async (t) => {
  const h = await harness(t);
  h.sink.failing = true;
  await h.queue.publish([task('S')]);
  await waitFor(async () => (h.breaker.status.state !== 'closed' ? true : undefined), WAIT_MS, 'the breaker to open');
  // as the service stops: no more pulling, then the retries end (at the grace period)
  const stopping = h.pipeline.stop();
  h.stopRetrying.abort();
  await stopping;
  t.true(h.events.includes('nack S'), h.events.join(', '));
  t.true(h.pipeline.stats.failedWrites >= 1);
  t.false(h.events.includes('ack S'));
  t.is(await h.queue.depth(), 1);
});

test('a failing write is retried in process while the task stays leased, without a redelivery', async (t) => {
  const h = await harness(t);
  h.sink.failNext = 2;
  await h.queue.publish([task('R')]);
  await drained(h);
  t.is(h.sink.failedWrites, 2);
  t.deepEqual(h.source.attempts.get('R'), [1], 'delivered once');
  t.false(h.events.includes('nack R'));
  t.is(await results(h, 'R'), 1);
  t.like(h.pipeline.stats, { written: 1, failedWrites: 0 });
});

test('a write that landed but whose answer was lost is written again in process, stored once, and never counted twice', async (t) => {
  const h = await harness(t);
  h.sink.loseAnswers = 1;
  await h.queue.publish([task('LOST')]);
  await drained(h);
  t.deepEqual(h.source.attempts.get('LOST'), [1]);
  t.is(await results(h, 'LOST'), 1);
  t.like(h.pipeline.stats, { written: 0, duplicates: 1 }, 'the replay is recognised as one');
  t.like(await h.store.job(JOB), { completed: 1, failed: 0 });
  // The sinks' documented trade-off (sinks/gcp.ts): a lost answer loses the live count rather than
  // risk doubling it; the embedded store's windows recount it from stored rows after a restart.
  t.deepEqual(h.observer.countedKeys, []);
});

test('a result the sink refuses for good fails its own task alone: failure record, processing_error, dead letter, ack', async (t) => {
  // given a sink that refuses the result of one drawing among several
  const h = await harness(t);
  h.sink.refuse.add('POISON');
  await h.queue.publish([task('OK1'), task('POISON'), task('OK2')]);

  // when they have been processed
  await drained(h);

  // then the others are written and acked; the refused one was delivered once and dead-lettered with the reason
  for (const id of ['OK1', 'OK2']) {
    t.is(await results(h, id), 1);
    ackedAfterWrite(t, h, id);
  }
  t.is(await results(h, 'POISON'), 0);
  t.deepEqual(h.source.attempts.get('POISON'), [1]);
  const order = h.events.filter((e) => e.endsWith(' POISON'));
  t.deepEqual(order.slice(-3), ['written POISON', 'dead-letter POISON', 'ack POISON'], order.join(', '));
  const letters = await h.queue.deadLetters(10);
  t.deepEqual(letters.map((l) => [l.drawingId, l.reasonCode]), [['POISON', 'result_rejected']]);
  t.regex(letters[0]?.reasonMessage ?? '', /refused the result: row_too_large: too large \(test\)/);
  const anomalies = await h.store.anomalies(new Date(0), 10);
  t.deepEqual(anomalies.map((a) => [a.type, a.drawingId]), [['processing_error', 'POISON']]);
  t.like(await h.store.job(JOB), { completed: 2, failed: 1, pending: 0 });
  t.like(h.pipeline.stats, { written: 2, rejected: 1 });
  t.is(h.observer.countedKeys.length, 3, 'two results and one failure, each once');

  // and later writes succeed: nothing of the refused item is re-sent
  const writes = h.sink.writes;
  await h.queue.publish([task('AFTER')]);
  await drained(h);
  t.is(await results(h, 'AFTER'), 1);
  t.true(h.sink.writes > writes);
  t.deepEqual(h.breaker.status, { state: 'closed' });
});

test('malformed tasks are dead-lettered, recorded and acked at once, and the next good task succeeds', async (t) => {
  // given a bad version, a body that is not JSON, and a good task behind them
  const h = await harness(t);
  await h.queue.publish([
    task('BAD', 2, { version_b: [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1 }] }),
    rawTask('NOT-JSON', '{"drawing_id": "NOT-JSON", '),
    task('GOOD'),
  ]);

  // when they have been processed
  await drained(h);

  // then the bad ones were delivered once, recorded, dead-lettered, then acked
  for (const id of ['BAD', 'NOT-JSON']) {
    t.deepEqual(h.source.attempts.get(id), [1], `${id} is never retried`);
    const deadLettered = h.events.indexOf(`dead-letter ${id}`);
    t.true(h.events.indexOf(`written ${id}`) < deadLettered, `recorded before it is dead-lettered: ${h.events.join(', ')}`);
    t.true(deadLettered >= 0 && deadLettered < h.events.indexOf(`ack ${id}`), h.events.join(', '));
    ackedAfterWrite(t, h, id);
  }
  const letters = await h.queue.deadLetters(10);
  t.deepEqual(
    letters.map((l) => [l.drawingId, l.reasonCode]).sort(),
    [
      ['BAD', 'malformed_version'],
      ['NOT-JSON', 'malformed_task'],
    ],
  );
  t.regex(letters.find((l) => l.drawingId === 'BAD')?.reasonMessage ?? '', /BAD.*version_b.*object 0.*"height"/);
  const anomalies = await h.store.anomalies(new Date(0), 10);
  t.deepEqual(anomalies.map((a) => [a.type, a.drawingId]).sort(), [
    ['malformed_input', 'BAD'],
    ['malformed_input', 'NOT-JSON'],
  ]);

  // and the good one behind them succeeded
  t.is(await results(h, 'GOOD'), 1);
  t.like(await h.store.job(JOB), { completed: 1, failed: 2 });
  t.like(h.pipeline.stats, { malformed: 2, written: 1, retried: 0 });
  t.is(h.observer.countedKeys.length, 3);
});

test('malformed input is not dead-lettered while its record cannot be written, and is dead-lettered once after', async (t) => {
  // given a sink that is down and a malformed task
  const h = await harness(t, { maxDeliveryAttempts: 2 });
  h.sink.failing = true;
  await h.queue.publish([task('BAD', 2, { version_b: 'not json' })]);
  await waitFor(async () => (h.sink.failedWrites >= 5 ? true : undefined), WAIT_MS, 'five failed writes');
  t.deepEqual(h.source.attempts.get('BAD'), [1], 'no attempt spent on the outage');

  // then nothing went to the dead letters while its record could not be written
  t.false(h.events.some((e) => e.startsWith('dead-letter')), h.events.join(', '));
  t.deepEqual(await h.queue.deadLetters(10), []);

  // and once the sink is back it is recorded, dead-lettered once, acked, counted once
  h.sink.failing = false;
  await drained(h);
  t.is(h.events.filter((e) => e === 'dead-letter BAD').length, 1);
  t.true(h.events.indexOf('written BAD') < h.events.indexOf('dead-letter BAD'), h.events.join(', '));
  t.is((await h.queue.deadLetters(10)).length, 1);
  t.is(h.observer.countedKeys.length, 1);
});

test('a dead letter that cannot be sent leaves the message unacked; the redelivery sends it, counted once', async (t) => {
  // given a malformed task whose first dead letter fails
  const h = await harness(t);
  h.source.failDeadLetterOnce.add('BAD');
  await h.queue.publish([task('BAD', 2, { version_a: { not: 'an array' } }), task('GOOD')]);

  // when they have been processed
  await drained(h);

  // then it was nacked, redelivered, dead-lettered once and acked; its record was counted once
  t.deepEqual(h.source.attempts.get('BAD'), [1, 2]);
  const order = h.events.filter((e) => e.endsWith(' BAD'));
  t.deepEqual(order, ['written BAD', 'dead-letter failed BAD', 'nack BAD', 'written BAD', 'dead-letter BAD', 'ack BAD']);
  const letters = await h.queue.deadLetters(10);
  t.deepEqual(letters.map((l) => [l.drawingId, l.reasonCode]), [['BAD', 'malformed_task']]);
  t.is(h.observer.countedKeys.length, 2, `BAD and GOOD, each once: ${h.observer.countedKeys.join(', ')}`);
  t.is(new Set(h.observer.countedKeys).size, 2);
  t.is(await results(h, 'GOOD'), 1);
  t.like(await h.store.job(JOB), { completed: 1, failed: 1 });
});

test('a load that fails transiently is retried with backoff and then succeeds', async (t) => {
  const h = await harness(t);
  mkdirSync(path.join(h.inputDir, 'flaky'));
  writeFileSync(path.join(h.inputDir, 'flaky', 'a.json'), JSON.stringify([obj('D1', 0)]));
  writeFileSync(path.join(h.inputDir, 'flaky', 'b.json'), JSON.stringify([obj('D1', 3)]));
  h.input.down.set('flaky/a.json', 2);

  await h.queue.publish([
    rawTask('FLAKY', JSON.stringify({ drawing_id: 'FLAKY', job_id: JOB, version_a_uri: 'flaky/a.json', version_b_uri: 'flaky/b.json' })),
  ]);
  await drained(h);

  t.deepEqual(h.source.attempts.get('FLAKY'), [1, 2, 3]);
  t.deepEqual(h.events.filter((e) => e.endsWith(' FLAKY')), ['nack FLAKY', 'nack FLAKY', 'written FLAKY', 'ack FLAKY']);
  t.is((await h.store.changes('FLAKY', 1))[0]?.moved[0]?.description, 'D1 moved 3.0 units east');
  t.like(h.pipeline.stats, { retried: 2, exhausted: 0, written: 1 });
  t.deepEqual(await h.store.anomalies(new Date(0), 10), []);
  t.deepEqual(await h.queue.deadLetters(10), []);
});

test('a load that always fails is recorded as failed with a processing_error after 5 attempts and dead-lettered by the queue', async (t) => {
  // given storage that never answers for one task, and a good task beside it
  const h = await harness(t, { maxDeliveryAttempts: 5 });
  h.input.down.set('down/a.json', Infinity);
  await h.queue.publish([
    rawTask('DOWN', JSON.stringify({ drawing_id: 'DOWN', job_id: JOB, version_a_uri: 'down/a.json', version_b_uri: 'down/b.json' })),
    task('OK'),
  ]);

  // when the queue has given up on it
  await drained(h);

  // then it was tried five times, recorded as failed, and handed to the dead-letter table
  t.deepEqual(h.source.attempts.get('DOWN'), [1, 2, 3, 4, 5]);
  const last = h.events.lastIndexOf('nack DOWN');
  t.true(h.events.indexOf('written DOWN') >= 0 && h.events.indexOf('written DOWN') < last, h.events.join(', '));
  t.like(await h.store.job(JOB), { completed: 1, failed: 1, pending: 0 });
  const [anomaly] = await h.store.anomalies(new Date(0), 10);
  t.like(anomaly, { type: 'processing_error', drawingId: 'DOWN', severity: 'high' });
  t.like(anomaly?.details ?? {}, { code: 'storage_unavailable', attempts: 5 });
  const letters = await h.queue.deadLetters(10);
  t.deepEqual(letters.map((l) => [l.drawingId, l.reasonCode, l.attempts]), [['DOWN', MAX_ATTEMPTS_REASON, 5]]);
  t.like(h.pipeline.stats, { retried: 4, exhausted: 1, written: 1 });
  t.is(await results(h, 'OK'), 1);
});

test('a duplicated task yields one result counted once, in one batch or across batches', async (t) => {
  // given the same task_id published twice at once, and an identical body without task_id twice
  const h = await harness(t, { batchMaxWaitMs: 200 });
  const dup = task('DUP', 2, { task_id: 'dup-1' });
  const hashed = task('HASHED', 4);
  await h.queue.publish([dup, dup, hashed, hashed]);
  await drained(h);

  // and once more after the first copies are done
  await h.queue.publish([dup, hashed]);
  await drained(h);

  t.is(await results(h, 'DUP'), 1);
  t.is(await results(h, 'HASHED'), 1);
  t.is(h.observer.countedKeys.filter((k) => k === 'dup-1').length, 1, 'DUP counted once');
  t.is(new Set(h.observer.countedKeys).size, h.observer.countedKeys.length, `nothing counted twice: ${h.observer.countedKeys}`);
  t.is(h.observer.countedKeys.length, 2);
  t.like(h.pipeline.stats, { written: 2, duplicates: 4 });
  t.like(await h.store.job(JOB), { completed: 2 });
});

test('a thrown non-domain error in one task never ends the stream', async (t) => {
  // given a diff that throws a TypeError once, and a plain string once, and an observer that throws once
  const thrown = new Set<string>();
  const h = await harness(t, {
    diff: async (request) => {
      if (request.drawingId === 'TYPE-ERROR' && !thrown.has('TYPE-ERROR')) {
        thrown.add('TYPE-ERROR');
        throw new TypeError("Cannot read properties of undefined (reading 'x')");
      }
      if (request.drawingId === 'STRING' && !thrown.has('STRING')) {
        thrown.add('STRING');
        // Some dependency code throws strings; the pipeline must survive that too.
        throw 'something odd';
      }
      return diffPair(request);
    },
  });
  h.observer.throwOnce.add('OBSERVER');

  // when they are processed among good tasks
  await h.queue.publish([task('TYPE-ERROR'), task('STRING'), task('OBSERVER'), task('GOOD-1')]);
  await drained(h);
  await h.queue.publish([task('GOOD-2')]);
  await drained(h);

  // then the stream is still running and every task has its one result
  t.is(h.ended(), 'running');
  for (const id of ['TYPE-ERROR', 'STRING', 'OBSERVER', 'GOOD-1', 'GOOD-2']) t.is(await results(h, id), 1, id);
  t.deepEqual(h.source.attempts.get('TYPE-ERROR'), [1, 2], 'an unexpected error is retried');
  t.deepEqual(h.source.attempts.get('STRING'), [1, 2]);
  t.deepEqual(h.source.attempts.get('OBSERVER'), [1], 'a durable result is acked even if counting it failed');
  t.like(await h.store.job(JOB), { completed: 5, failed: 0 });
  t.is(h.pipeline.stats.lastError?.message, 'something odd');
});

test('stop() stops pulling and drains in-flight work: it is written and acked, the rest stays queued', async (t) => {
  // given diffs that wait for a gate, and more tasks than can be in flight
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const started: string[] = [];
  const h = await harness(t, {
    concurrency: 2,
    maxOutstanding: 3,
    diff: async (request) => {
      started.push(request.drawingId);
      await gate;
      return diffPair(request);
    },
  });
  const ids = Array.from({ length: 8 }, (_, i) => `S${i}`);
  await h.queue.publish(ids.map((id) => task(id)));
  await waitFor(async () => (started.length === 2 ? true : undefined), WAIT_MS, 'two diffs in flight');

  // when stop is asked for while they are in flight
  let stopped = false;
  const stopping = h.pipeline.stop().then(() => (stopped = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.false(stopped, 'stop waits for in-flight work');
  open();
  await stopping;

  // then everything that was taken from the queue is written and acked, the rest is still queued
  t.is(h.ended(), 'completed');
  const taken = [...h.source.attempts.keys()];
  t.true(taken.length >= 2 && taken.length <= 3, `taken: ${taken}`);
  for (const id of taken) {
    t.is(await results(h, id), 1, `${id} was written`);
    ackedAfterWrite(t, h, id);
  }
  t.is(await h.queue.depth(), ids.length - taken.length, 'nothing lost, nothing acked without a result');
  t.is(h.pipeline.stats.inFlight, 0);
  for (const id of ids.filter((i) => !taken.includes(i))) t.is(await results(h, id), 0);
});
