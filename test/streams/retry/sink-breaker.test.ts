import test from 'ava';
import { SinkBreaker, WriteAbandonedError, type BreakerStatus } from '../../../streams/retry/sink-breaker.js';

const settings = { failuresToOpen: 2, probeInitialMs: 5, probeMaxMs: 20 };

/** A write that fails `failures` times with `message`, then answers `value`; counts its calls. */
function flaky<T>(failures: number, value: T, message = 'down (test)') {
  const calls = { n: 0 };
  const call = async () => {
    calls.n += 1;
    if (calls.n <= failures) throw new Error(message);
    return value;
  };
  return { call, calls };
}

test('a write that succeeds leaves the breaker closed and reports nothing', async (t) => {
  const breaker = new SinkBreaker(settings);
  const seen: BreakerStatus[] = [];
  breaker.onChange((s) => seen.push(s));
  t.is(await breaker.write(async () => 42, new AbortController().signal), 42);
  t.deepEqual(breaker.status, { state: 'closed' });
  t.deepEqual(seen, []);
});

test('one failure fewer than the threshold is retried without opening', async (t) => {
  const breaker = new SinkBreaker(settings);
  const seen: string[] = [];
  breaker.onChange((s) => seen.push(s.state));
  const { call, calls } = flaky(1, 'ok');
  t.is(await breaker.write(call, new AbortController().signal), 'ok');
  t.is(calls.n, 2);
  t.deepEqual(seen, []);
});

test('an outage opens the breaker with the last error as reason, probes, and closes on the first success', async (t) => {
  let now = 1_000_000;
  const breaker = new SinkBreaker(settings, () => now);
  const seen: BreakerStatus[] = [];
  breaker.onChange((s) => seen.push(s));
  const { call, calls } = flaky(6, 'ok', 'SQLITE_BUSY: database is locked');

  const writing = breaker.write(call, new AbortController().signal);
  const waiting = new Promise<void>((resolve) =>
    breaker.onChange((s) => {
      if (s.state === 'open') resolve();
    }),
  );
  await waiting;
  now += 1;
  t.like(breaker.status, { state: 'open', reason: 'SQLITE_BUSY: database is locked' });
  t.deepEqual((breaker.status as { since: Date }).since, new Date(1_000_000));
  let resumed = false;
  const gate = breaker.whenClosed(new AbortController().signal).then(() => (resumed = true));
  t.false(resumed);

  t.is(await writing, 'ok');
  await gate;
  t.true(resumed, 'a waiter is released when the breaker closes');
  t.is(calls.n, 7, 'every failure was a real call: nothing is skipped or doubled');
  t.deepEqual(breaker.status, { state: 'closed' });
  t.deepEqual(seen[0], { state: 'open', reason: 'SQLITE_BUSY: database is locked', since: new Date(1_000_000) });
  t.true(seen.some((s) => s.state === 'half-open'), seen.map((s) => s.state).join(','));
  t.is(seen.at(-1)?.state, 'closed');
});

test('abort (shutdown) ends the retries with WriteAbandonedError carrying the last failure', async (t) => {
  const breaker = new SinkBreaker(settings);
  const stop = new AbortController();
  const { call } = flaky(Number.POSITIVE_INFINITY, 'never', 'still down');
  const writing = breaker.write(call, stop.signal);
  await new Promise<void>((resolve) => breaker.onChange((s) => s.state === 'open' && resolve()));
  stop.abort();
  const err = await t.throwsAsync(writing, { instanceOf: WriteAbandonedError });
  t.regex(err!.message, /still down/);
  // and a gate waiting on the open breaker is released by the abort too
  await t.notThrowsAsync(breaker.whenClosed(stop.signal));
});

test('a listener that throws does not stop the others from hearing the change', async (t) => {
  const breaker = new SinkBreaker({ ...settings, failuresToOpen: 1 });
  const heard: string[] = [];
  breaker.onChange(() => {
    throw new Error('listener bug');
  });
  const off = breaker.onChange((s) => heard.push(s.state));
  const { call } = flaky(1, 'ok');
  await breaker.write(call, new AbortController().signal);
  t.true(heard.includes('open') && heard.at(-1) === 'closed', heard.join(','));
  off();
  await breaker.write(flaky(1, 'ok').call, new AbortController().signal);
  t.is(heard.filter((s) => s === 'open').length, 1, 'unsubscribed listeners hear nothing more');
});
