/**
 * The contract tests of the sinks behind a fan-out (sinks/fan-out.ts), run against every records
 * sink and every freshness sink on its happy and failure paths, so each can be replaced alone:
 * a records sink answers per item (durable or rejected with a reason) and is unavailable as a
 * whole; a freshness sink names exactly the first writes and, when unavailable, leaves nothing
 * behind that would make a redelivery look like a replay. Both close twice.
 */
import type { ExecutionContext, TestFn } from 'ava';
import { TransientError } from '../../src/domain/errors.js';
import type { FreshnessSink, RecordsSink } from '../../sinks/fan-out.js';
import type { ResultRecord } from '../../src/domain/sink.js';
import { failure, result } from './gcp-fixtures.js';
import { batchOf } from './sink-compliance.js';

/** A real outage of the service behind the sink, and its end. */
export interface Outage {
  down(): Promise<void> | void;
  up(): Promise<void> | void;
}

export interface RecordsUnderTest {
  readonly sink: RecordsSink;
  readonly outage: Outage;
  /** A copy of `r` this sink refuses for good, and the code it gives. */
  readonly refusable: { make(r: ResultRecord): ResultRecord; readonly code: string };
  /** Task keys whose result is stored. */
  stored(): Promise<readonly string[]> | readonly string[];
  readonly dispose?: () => Promise<void> | void;
}

export interface FreshnessUnderTest {
  readonly sink: FreshnessSink;
  readonly outage: Outage;
  readonly dispose?: () => Promise<void> | void;
}

const unique = (() => {
  let n = 0;
  return (prefix: string) => `${prefix}-${process.pid}-${(n += 1)}`;
})();

async function opened<T extends { sink: { close(): Promise<void> }; dispose?: () => Promise<void> | void }>(
  t: ExecutionContext,
  make: (t: ExecutionContext) => Promise<T>,
): Promise<T> {
  const under = await make(t);
  t.teardown(async () => {
    await under.sink.close();
    await under.dispose?.();
  });
  return under;
}

function isUnavailable(t: ExecutionContext, err: Error | undefined): void {
  t.true(err instanceof TransientError, `a TransientError, not ${err?.name}: ${err?.message}`);
  t.is((err as TransientError).code, 'sink_unavailable');
}

export function runRecordsSinkCompliance(test: TestFn, name: string, make: (t: ExecutionContext) => Promise<RecordsUnderTest>): void {
  test(`${name} records compliance: a batch is durable, with nothing rejected`, async (t) => {
    const { sink, stored } = await opened(t, make);
    const keys = [unique('r'), unique('r')];
    const receipt = await sink.write(batchOf({ results: keys.map((k) => result(k)), failures: [failure(unique('f'))] }));
    t.is(receipt.rejected.size, 0);
    t.deepEqual([...(await stored())].sort(), [...keys].sort());
  });

  test(`${name} records compliance: a refused item is rejected alone with its code, and is not stored; later writes stand alone`, async (t) => {
    const { sink, stored, refusable } = await opened(t, make);
    const good = unique('good');
    const bad = unique('bad');
    const receipt = await sink.write(batchOf({ results: [result(good), refusable.make(result(bad))] }));
    t.deepEqual([...receipt.rejected.keys()], [bad]);
    t.is(receipt.rejected.get(bad)?.code, refusable.code);
    t.deepEqual(await stored(), [good]);
    const later = unique('later');
    t.is((await sink.write(batchOf({ results: [result(later)] }))).rejected.size, 0);
    t.deepEqual([...(await stored())].sort(), [good, later].sort());
  });

  test(`${name} records compliance: down is unavailable as a whole, and the same batch is durable once back`, async (t) => {
    const { sink, stored, outage } = await opened(t, make);
    const key = unique('r');
    await outage.down();
    isUnavailable(t, await t.throwsAsync(sink.write(batchOf({ results: [result(key)] }))));
    await t.throwsAsync(sink.healthcheck());
    await outage.up();
    t.is((await sink.write(batchOf({ results: [result(key)] }))).rejected.size, 0);
    t.deepEqual(await stored(), [key]);
    await t.notThrowsAsync(sink.healthcheck());
  });

  test(`${name} records compliance: close twice resolves both times`, async (t) => {
    const { sink } = await opened(t, make);
    await t.notThrowsAsync(sink.close());
    await t.notThrowsAsync(sink.close());
  });
}

export function runFreshnessSinkCompliance(test: TestFn, name: string, make: (t: ExecutionContext) => Promise<FreshnessUnderTest>): void {
  test(`${name} freshness compliance: fresh names exactly the first writes`, async (t) => {
    const { sink } = await opened(t, make);
    const [a, b] = [unique('a'), unique('b')];
    const first = await sink.write(batchOf({ results: [result(a)] }));
    t.deepEqual([...first.freshTasks], [a]);
    const second = await sink.write(batchOf({ results: [result(a), result(b)] }));
    t.deepEqual([...second.freshTasks], [b]);
  });

  test(`${name} freshness compliance: down is unavailable, and leaves nothing behind: the retry is fresh`, async (t) => {
    const { sink, outage } = await opened(t, make);
    const key = unique('r');
    await outage.down();
    isUnavailable(t, await t.throwsAsync(sink.write(batchOf({ results: [result(key)] }))));
    await t.throwsAsync(sink.healthcheck());
    await outage.up();
    t.deepEqual([...(await sink.write(batchOf({ results: [result(key)] }))).freshTasks], [key]);
  });

  test(`${name} freshness compliance: close twice resolves both times`, async (t) => {
    const { sink } = await opened(t, make);
    await t.notThrowsAsync(sink.close());
    await t.notThrowsAsync(sink.close());
  });
}
