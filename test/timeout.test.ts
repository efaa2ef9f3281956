import test from 'ava';
import { TIMED_OUT, within } from '../src/timeout.js';

test('within answers the value when the promise settles first', async (t) => {
  t.is(await within(Promise.resolve(7), 1_000), 7);
});

test('within answers TIMED_OUT when the promise never settles', async (t) => {
  t.is(await within(new Promise<never>(() => {}), 10), TIMED_OUT);
});

test('a rejection before the deadline rejects, as it is', async (t) => {
  await t.throwsAsync(within(Promise.reject(new RangeError('boom')), 1_000), { instanceOf: RangeError, message: 'boom' });
});
