/**
 * The embedded store's page reader under a file it cannot read (another process holds an
 * exclusive lock): each read fails at its deadline instead of queueing behind the stuck one, the
 * stuck reader thread is replaced, and reads beyond a bound are refused at once, so reads
 * abandoned during the lock never pile up. The stuck thread is never terminated: a thread
 * terminated inside a better-sqlite3 call that then throws aborts the whole process, which this
 * test did (in its own process, then) until the thread was left to end by itself.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { TransientError } from '../../src/domain/errors.js';
import { DATABASE_FILE, openLocalStore } from '../../sinks/local-store/index.js';
import { LocalChangePages } from '../../sinks/local-store/change-pages.js';
import { result } from '../support/sink-compliance.js';

/** A store with one result of drawing D1, whose file another connection holds exclusively. */
async function lockedStore(t: ExecutionContext): Promise<{ file: string; blocker: Database.Database }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'buildtrace-pages-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const store = openLocalStore({ dataDir });
  await store.writeBatch({ results: [result({ taskKey: 'k1', drawingId: 'D1', createdAt: new Date() })], failures: [], anomalies: [] });
  await store.close();
  const file = path.join(dataDir, DATABASE_FILE);

  // another process takes the file for itself: readers wait out their busy timeout (5 s, past
  // the deadline; a reader thread starting under tsx takes about a second, hence no shorter one)
  const blocker = new Database(file);
  blocker.pragma('locking_mode = EXCLUSIVE');
  blocker.exec('BEGIN EXCLUSIVE');
  blocker.exec("INSERT INTO jobs (job_id, tasks_created, created_at) VALUES ('lock', 0, '2026-01-01T00:00:00.000Z')");
  t.teardown(() => blocker.open && blocker.close());
  return { file, blocker };
}

test('reads of a locked file fail at their deadline, the reader is replaced, excess reads are refused at once, and reading resumes after', async (t) => {
  const { file, blocker } = await lockedStore(t);
  const pages = new LocalChangePages(file, { deadlineMs: 3_000, maxWaiting: 8, maxRetiring: 1 });
  t.teardown(() => pages.close());

  const reads = Array.from({ length: 20 }, () => pages.latest('D1', 10));
  t.is(pages.waiting, 8, 'no more than maxWaiting reads wait');
  const outcomes = await Promise.allSettled(reads);
  const messages = outcomes.map((o) => (o.status === 'rejected' && o.reason instanceof TransientError ? o.reason.message : 'answered'));
  const tally: Record<string, number> = {};
  for (const m of messages) tally[m] = (tally[m] ?? 0) + 1;
  // the reads past the bound refused at once, the waiting ones failed at the deadline, nothing else
  t.deepEqual(tally, {
    'the result store is busy: 8 reads are waiting already': 12,
    'the result reader did not answer within 3 s': 8,
  });
  t.is(pages.recycled, 1, 'the stuck reader was replaced once');
  t.is(pages.waiting, 0);

  // the stuck thread has not ended yet (it was retired in this very turn of the event loop): with
  // one such thread allowed, reads are refused
  t.is(pages.retiringThreads, 1);
  const refused = await pages.latest('D1', 10).then(
    () => 'answered',
    (err: Error) => err.message,
  );
  t.regex(refused, /busy: 1 reads past their deadline are still running/);
  // ...until the thread sees it was given up, between two slices of its busy wait, and ends
  while (pages.retiringThreads > 0) await setTimeout(50);
  t.is(pages.waiting, 0);

  blocker.exec('ROLLBACK');
  blocker.close();
  // a fresh reader answers
  t.is((await pages.latest('D1', 10))?.head.drawing_id, 'D1');
});

test('close() during a read stuck on a locked file fails the read at once and waits for the thread to end by itself', async (t) => {
  const { file } = await lockedStore(t);
  const pages = new LocalChangePages(file);
  const read = pages.latest('D1', 10).then(
    () => 'answered',
    (err: Error) => err.message,
  );
  await setTimeout(300); // the thread is in its busy wait
  const closed = pages.close();
  t.is(await read, 'the result store is closing');
  t.is(pages.retiringThreads, 1, 'the thread is left to finish its statement');
  await closed;
  t.is(pages.retiringThreads, 0, 'close() returned once the thread had ended');
});
