import test from 'ava';
import { StoreSnapshot, type StoreReadings } from '../../../streams/aggregate/store-snapshot.js';

/** A store whose reads are counted and resolved by hand, on a hand-moved clock. */
function harness(options: { freshMs?: number; staleMs?: number } = {}) {
  let now = 1_000_000;
  let value = 0;
  let running = 0;
  const stats = { reads: 0, maxConcurrent: 0, backgroundErrors: [] as unknown[] };
  const pending: Array<{ resolve: (r: StoreReadings) => void; reject: (e: unknown) => void; value: number }> = [];
  const snapshot = new StoreSnapshot({
    read: () => {
      stats.reads += 1;
      running += 1;
      stats.maxConcurrent = Math.max(stats.maxConcurrent, running);
      // The value the store holds when the read starts is what it answers.
      const seen = value;
      return new Promise<StoreReadings>((resolve, reject) => pending.push({ resolve, reject, value: seen })).finally(() => (running -= 1));
    },
    clock: () => now,
    freshMs: options.freshMs ?? 1_000,
    staleMs: options.staleMs ?? 10_000,
    onBackgroundError: (err) => stats.backgroundErrors.push(err),
  });
  // Lets every promise reaction queued so far run.
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    snapshot,
    stats,
    advance: (ms: number) => void (now += ms),
    write: () => void (value += 1),
    /** Answers the oldest read still open. */
    async answer() {
      await settle();
      const next = pending.shift();
      if (!next) throw new Error('no read is open');
      next.resolve({ rollups: [], dataQualityIssues: next.value });
      await settle();
    },
    async fail(message: string) {
      await settle();
      pending.shift()?.reject(new Error(message));
      await settle();
    },
    open: () => pending.length,
    /** The first request, answered: readings taken now. */
    async primed() {
      const first = snapshot.get();
      await this.answer();
      return first;
    },
  };
}

test('the first request reads the store; requests within freshMs reuse it', async (t) => {
  const h = harness();
  t.is((await h.primed()).dataQualityIssues, 0);
  h.write();
  h.advance(999);
  t.is((await h.snapshot.get()).dataQualityIssues, 0, 'a write by another replica shows after freshMs, not before');
  t.is(h.stats.reads, 1);
});

test('a write by this process is in the next answer, however fresh the readings', async (t) => {
  const h = harness();
  await h.primed();
  h.write();
  h.snapshot.changed();
  const next = h.snapshot.get();
  await h.answer();
  t.is((await next).dataQualityIssues, 1);
  t.is(h.stats.reads, 2);
});

test('readings past freshMs are served at once while one refresh runs; the one after sees it', async (t) => {
  const h = harness();
  await h.primed();
  h.write();
  h.advance(1_500);
  t.is((await h.snapshot.get()).dataQualityIssues, 0, 'served stale without waiting');
  t.is((await h.snapshot.get()).dataQualityIssues, 0);
  t.is(h.stats.reads, 2, 'one background refresh for both requests');
  await h.answer();
  t.is((await h.snapshot.get()).dataQualityIssues, 1);
  t.is(h.stats.reads, 2);
});

test('readings past staleMs are not served: the request waits for the store', async (t) => {
  const h = harness();
  await h.primed();
  h.write();
  h.advance(10_000);
  let done = false;
  const next = h.snapshot.get().then((r) => ((done = true), r));
  await Promise.resolve();
  t.false(done);
  await h.answer();
  t.is((await next).dataQualityIssues, 1);
});

test('concurrent requests share one read; a write during it queues exactly one more, never overlapping', async (t) => {
  const h = harness();
  const a = h.snapshot.get();
  const b = h.snapshot.get();
  t.is(h.open(), 1);
  h.write();
  h.snapshot.changed();
  const c = h.snapshot.get();
  const d = h.snapshot.get();
  await h.answer();
  t.is((await a).dataQualityIssues, 0);
  t.is((await b).dataQualityIssues, 0);
  t.is(h.open(), 1, 'the queued read starts once the first is done');
  await h.answer();
  t.is((await c).dataQualityIssues, 1);
  t.is((await d).dataQualityIssues, 1);
  t.is(h.stats.reads, 2);
  t.is(h.stats.maxConcurrent, 1);
});

test('a failing read rejects the requests waiting for it; the next request reads again', async (t) => {
  const h = harness();
  const first = h.snapshot.get();
  await h.fail('store down');
  await t.throwsAsync(first, { message: 'store down' });
  const second = h.snapshot.get();
  await h.answer();
  t.is((await second).dataQualityIssues, 0);
});

test('a failing background refresh keeps the previous readings and is reported', async (t) => {
  const h = harness();
  await h.primed();
  h.advance(2_000);
  t.is((await h.snapshot.get()).dataQualityIssues, 0);
  t.is((await h.snapshot.get()).dataQualityIssues, 0, 'a second request finds the refresh running');
  await h.fail('store down');
  t.is(h.stats.backgroundErrors.length, 1, 'one failed read is reported once');
  t.is((await h.snapshot.get()).dataQualityIssues, 0, 'still served, and a new refresh started');
  t.is(h.stats.reads, 3);
});

test('freshMs must lie between 0 and staleMs', (t) => {
  const read = async () => ({ rollups: [], dataQualityIssues: 0 });
  t.throws(() => new StoreSnapshot({ read, clock: Date.now, freshMs: 5, staleMs: 1 }), { instanceOf: RangeError });
  t.throws(() => new StoreSnapshot({ read, clock: Date.now, freshMs: -1, staleMs: 1 }), { instanceOf: RangeError });
});
