/**
 * The local queue against a real SQLite file (and real processes where a crash is the point):
 * durability before publish resolves, flow control, ack/nack/dead-letter, leases that expire,
 * are extended, and are reclaimed from dead processes, and a clean stop.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import type { Observable, Subscription } from 'rxjs';
import { OptionError, TransientError } from '../../../src/domain/errors.js';
import { DATABASE_FILE } from '../../../src/infra/sqlite/database.js';
import {
  LocalQueueError,
  MAX_ATTEMPTS_REASON,
  openLocalQueue,
  type LocalQueue,
  type LocalQueueOptions,
} from '../../../streams/sources/local-queue.js';
import type { Delivery, OutgoingTask } from '../../../src/domain/source.js';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const queueModule = path.join(repoRoot, 'streams/sources/local-queue.ts');
/** Above Linux's largest pid_max (2^22): no process can have it. */
const DEAD_PID = 4_194_304 + 4242;
const WAIT_MS = 15_000;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'buildtrace-queue-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: ExecutionContext, dataDir: string, options: Partial<LocalQueueOptions> = {}): LocalQueue {
  const queue = openLocalQueue({ dataDir, maxOutstanding: 100, leaseSeconds: 60, pollIntervalMs: 20, ...options });
  t.teardown(() => queue.close());
  return queue;
}

function rawDb(t: ExecutionContext, dataDir: string): Database.Database {
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  t.teardown(() => db.close());
  return db;
}

const task = (n: number): OutgoingTask => ({
  data: Buffer.from(JSON.stringify({ drawing_id: `D${n}`, n })),
  attributes: { drawing_id: `D${n}`, n: String(n) },
});
const nOf = (d: Delivery): number => (JSON.parse(d.data.toString()) as { n: number }).n;

/** Subscribes and keeps every delivery, so a test can wait for the k-th one. */
class Inbox {
  readonly items: Delivery[] = [];
  completed = false;
  private readonly subscription: Subscription;
  private waiters: Array<() => void> = [];

  constructor(
    t: ExecutionContext,
    stream: Observable<Delivery>,
    private readonly onDelivery: (d: Delivery) => void = () => {},
  ) {
    this.subscription = stream.subscribe({
      next: (d) => {
        this.items.push(d);
        this.onDelivery(d);
        this.notify();
      },
      complete: () => {
        this.completed = true;
        this.notify();
      },
    });
    t.teardown(() => this.subscription.unsubscribe());
  }

  unsubscribe(): void {
    this.subscription.unsubscribe();
  }

  /** Resolves once `n` deliveries have arrived (fails the test after a generous guard time). */
  async waitFor(n: number): Promise<Delivery[]> {
    await this.until(() => this.items.length >= n, `${n} deliveries (have ${this.items.length})`);
    return this.items.slice(0, n);
  }

  async waitForCompletion(): Promise<void> {
    await this.until(() => this.completed, 'completion');
  }

  private async until(done: () => boolean, what: string): Promise<void> {
    if (done()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), WAIT_MS);
      const check = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a TypeScript snippet in a fresh Node process (the snippet may SIGKILL itself). */
async function child(code: string): Promise<{ stdout: string; signal: string | null }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: repoRoot });
    return { stdout, signal: null };
  } catch (err) {
    const e = err as { stdout: string; signal: string | null; stderr: string };
    if (e.signal === 'SIGKILL') return { stdout: e.stdout, signal: e.signal };
    throw new Error(`child failed: ${e.stderr}`);
  }
}

test('publish resolves only once the tasks are durable, even if the process dies right after', async (t) => {
  const dataDir = await tempDir(t);
  // given a process that publishes and is SIGKILLed the instant publish resolves
  const { signal } = await child(`
    import { openLocalQueue } from ${JSON.stringify(queueModule)};
    const queue = openLocalQueue({ dataDir: ${JSON.stringify(dataDir)}, maxOutstanding: 10, leaseSeconds: 60 });
    const tasks = Array.from({ length: 25 }, (_, n) => ({ data: Buffer.from('task-' + n), attributes: { n: String(n) } }));
    await queue.publish(tasks);
    process.kill(process.pid, 'SIGKILL');
  `);
  t.is(signal, 'SIGKILL');

  // then every task is in the file, in order, waiting for its first delivery
  const rows = rawDb(t, dataDir)
    .prepare(`SELECT data, attributes, attempts, lease_owner FROM queue ORDER BY seq`)
    .all() as Array<{ data: Buffer; attributes: string; attempts: number; lease_owner: string | null }>;
  t.is(rows.length, 25);
  t.deepEqual(
    rows.map((r) => r.data.toString()),
    Array.from({ length: 25 }, (_, n) => `task-${n}`),
  );
  t.deepEqual(JSON.parse(rows[3]!.attributes), { n: '3' });
  t.true(rows.every((r) => r.attempts === 0 && r.lease_owner === null));
});

test('deliveries carry the message, its attributes and attempt 1, in publish order', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir);
  const before = Date.now();
  await queue.publish([task(1), task(2), task(3)]);
  await queue.publish([]); // nothing to do, still resolves

  const inbox = new Inbox(t, queue.deliveries());
  const got = await inbox.waitFor(3);
  t.deepEqual(got.map(nOf), [1, 2, 3]);
  const first = got[0]!;
  t.deepEqual(first.attributes, { drawing_id: 'D1', n: '1' });
  t.is(first.deliveryAttempt, 1);
  t.true(first.publishedAt.getTime() >= before);
  t.true(first.receivedAt >= first.publishedAt.getTime());
  t.is(new Set(got.map((d) => d.id)).size, 3);
  t.true(queue.isReady());
});

test('flow control: never more than maxOutstanding deliveries unsettled at once', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir, { maxOutstanding: 3 });
  await queue.publish(Array.from({ length: 30 }, (_, n) => task(n)));
  const db = rawDb(t, dataDir);
  const leased = () => db.prepare(`SELECT count(*) FROM queue WHERE lease_owner IS NOT NULL`).pluck().get();

  let outstanding = 0;
  let maxSeen = 0;
  let holding = true;
  const held: Delivery[] = [];
  const settle = (d: Delivery) => {
    outstanding -= 1;
    d.ack();
  };
  const inbox = new Inbox(t, queue.deliveries(), (d) => {
    outstanding += 1;
    maxSeen = Math.max(maxSeen, outstanding);
    if (holding) held.push(d);
    else setTimeout(() => settle(d), Math.random() * 5);
  });

  // given nothing is settled, only three are leased and emitted however many polls pass
  await inbox.waitFor(3);
  await sleep(200);
  t.is(inbox.items.length, 3);
  t.is(leased(), 3);

  // when they are settled, the rest flow, still three at most at a time
  holding = false;
  for (const d of held) settle(d);
  await inbox.waitFor(30);
  t.is(maxSeen, 3);
  t.deepEqual(
    inbox.items.map(nOf).sort((a, b) => a - b),
    Array.from({ length: 30 }, (_, n) => n),
  );
});

test('ack removes the row; settling twice is a no-op', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir);
  await queue.publish([task(1), task(2)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [one] = await inbox.waitFor(2);
  t.is(await queue.depth(), 2);

  one!.ack();
  one!.ack();
  one!.nack(); // after an ack: must not bring the row back
  t.is(await queue.depth(), 1);
  const ids = rawDb(t, dataDir).prepare(`SELECT message_id FROM queue`).pluck().all();
  t.deepEqual(ids, [inbox.items[1]!.id]);
});

test('oldestTaskAgeMs: the age of the oldest task not yet acked, 0 when the queue is empty', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir);
  t.is(await queue.oldestTaskAgeMs(), 0);
  const before = Date.now();
  await queue.publish([task(1)]);
  await queue.publish([task(2)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [first, second] = await inbox.waitFor(2);
  const age = await queue.oldestTaskAgeMs(before + 60_000);
  t.true(age > 59_000 && age <= 60_000, `age ${age}`);

  first!.ack();
  await Promise.resolve();
  t.true((await queue.oldestTaskAgeMs(before + 60_000)) <= 60_000);
  second!.ack();
  await Promise.resolve();
  t.is(await queue.oldestTaskAgeMs(), 0);
  await queue.close();
  await t.throwsAsync(queue.oldestTaskAgeMs(), { message: /local queue oldest task failed: the queue is closed/ });
});

test('nack makes the message visible again after a backoff, as attempt 2', async (t) => {
  const dataDir = await tempDir(t);
  const backoff = { initialMs: 400, maxMs: 400 };
  const queue = open(t, dataDir, { backoff });
  await queue.publish([task(7)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [first] = await inbox.waitFor(1);

  const nackedAt = Date.now();
  first!.nack();
  await Promise.resolve(); // settles are recorded together at the end of the synchronous run
  const row = rawDb(t, dataDir).prepare(`SELECT visible_at, lease_owner, attempts FROM queue`).get() as {
    visible_at: number;
    lease_owner: string | null;
    attempts: number;
  };
  // jitter keeps between half and all of the delay
  t.true(row.visible_at >= nackedAt + backoff.initialMs / 2);
  t.true(row.visible_at <= Date.now() + backoff.initialMs);
  t.is(row.lease_owner, null);
  t.is(row.attempts, 1);

  const [, second] = await inbox.waitFor(2);
  t.is(second!.id, first!.id);
  t.is(second!.deliveryAttempt, 2);
  t.deepEqual(second!.data, first!.data);
  t.true(second!.receivedAt >= nackedAt + backoff.initialMs / 2);
  second!.ack();
  t.is(await queue.depth(), 0);
});

test('a message nacked on every attempt is dead-lettered after maxDeliveryAttempts', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir, { maxDeliveryAttempts: 3, backoff: { initialMs: 1, maxMs: 5 } });
  await queue.publish([task(9)]);
  const inbox = new Inbox(t, queue.deliveries(), (d) => d.nack());

  await inbox.waitFor(3);
  await sleep(150); // several polls: a fourth delivery would have come by now
  t.deepEqual(
    inbox.items.map((d) => d.deliveryAttempt),
    [1, 2, 3],
  );
  t.is(await queue.depth(), 0);
  const [dead] = await queue.deadLetters(10);
  t.like(dead, { messageId: inbox.items[0]!.id, reasonCode: MAX_ATTEMPTS_REASON, drawingId: 'D9', attempts: 3 });
  t.deepEqual(dead!.data, task(9).data);
  t.deepEqual(dead!.attributes, task(9).attributes);
});

test('deadLetter stores the reason durably; the caller then acks', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir);
  await queue.publish([task(4)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [d] = await inbox.waitFor(1);

  const reason = { code: 'malformed_version', message: 'version_a object 0: x is not a number', drawingId: 'D4' };
  await d!.deadLetter(reason);
  await d!.deadLetter({ ...reason, message: 'again' }); // a replay keeps the first record
  d!.ack();

  t.is(await queue.depth(), 0);
  const rows = rawDb(t, dataDir).prepare(`SELECT message_id, reason_code, reason_message, drawing_id, attempts FROM dead_letters`).all();
  t.deepEqual(rows, [{ message_id: d!.id, reason_code: reason.code, reason_message: reason.message, drawing_id: 'D4', attempts: 1 }]);
});

test('a lease that ran out is delivered again; one still held elsewhere is not', async (t) => {
  const dataDir = await tempDir(t);
  const db = rawDb(t, dataDir);
  // make the schema, then plant rows as another machine's consumer left them
  const setup = open(t, dataDir);
  await setup.close();
  const now = Date.now();
  const plant = db.prepare(
    `INSERT INTO queue (message_id, data, attributes, published_at, attempts, visible_at, lease_owner, lease_pid, lease_host, lease_until)
     VALUES (?, ?, '{}', ?, 1, ?, 'ghost', ?, 'another-host', ?)`,
  );
  plant.run('expired', Buffer.from('{"n":1}'), now - 10_000, now - 1, DEAD_PID, now - 1);
  plant.run('held', Buffer.from('{"n":2}'), now - 10_000, now + 3_600_000, DEAD_PID, now + 3_600_000);

  const queue = open(t, dataDir);
  const inbox = new Inbox(t, queue.deliveries());
  const [d] = await inbox.waitFor(1);
  t.is(d!.id, 'expired');
  t.is(d!.deliveryAttempt, 2);
  await sleep(150);
  t.is(inbox.items.length, 1, 'the live lease on another host is left alone');
  t.is(db.prepare(`SELECT lease_owner FROM queue WHERE message_id = 'held'`).pluck().get(), 'ghost');
});

test('at start-up, leases of dead processes on this host are reclaimed at once', async (t) => {
  const dataDir = await tempDir(t);
  const db = rawDb(t, dataDir);
  const setup = open(t, dataDir);
  await setup.close();
  const now = Date.now();
  const later = now + 3_600_000; // far from expiring
  const plant = db.prepare(
    `INSERT INTO queue (message_id, data, attributes, published_at, attempts, visible_at, lease_owner, lease_pid, lease_host, lease_until)
     VALUES (?, ?, '{"drawing_id":"DX"}', ?, ?, ?, ?, ?, ?, ?)`,
  );
  plant.run('dead-pid', Buffer.from('{"n":1}'), now, 1, later, 'gone', DEAD_PID, hostname(), later);
  // our own pid but an owner no queue in this process has: a previous process that had our pid
  plant.run('reused-pid', Buffer.from('{"n":2}'), now, 2, later, 'previous', process.pid, hostname(), later);
  plant.run('alive-parent', Buffer.from('{"n":3}'), now, 1, later, 'parent', process.ppid, hostname(), later);
  plant.run('other-host', Buffer.from('{"n":4}'), now, 1, later, 'far', DEAD_PID, 'another-host', later);
  // on its last attempt when its consumer died: dead-lettered instead of delivered a 4th time
  plant.run('exhausted', Buffer.from('{"n":5}'), now, 3, later, 'gone', DEAD_PID, hostname(), later);

  const queue = open(t, dataDir, { maxDeliveryAttempts: 3 });
  const inbox = new Inbox(t, queue.deliveries());
  const got = await inbox.waitFor(2);
  await sleep(150);
  t.deepEqual(
    inbox.items.map((d) => [d.id, d.deliveryAttempt]).sort(),
    [
      ['dead-pid', 2],
      ['reused-pid', 3],
    ],
  );
  t.is(got.length, 2);
  const dead = await queue.deadLetters(5);
  t.deepEqual(
    dead.map((r) => [r.messageId, r.reasonCode, r.drawingId, r.attempts]),
    [['exhausted', MAX_ATTEMPTS_REASON, 'DX', 3]],
  );
  t.is(await queue.depth(), 4);
});

test('a restart after SIGKILL resumes the unacked rows at once', async (t) => {
  const dataDir = await tempDir(t);
  // given a consumer that leases everything, acks two, and is killed mid-flight
  const { stdout, signal } = await child(`
    import { openLocalQueue } from ${JSON.stringify(queueModule)};
    const queue = openLocalQueue({ dataDir: ${JSON.stringify(dataDir)}, maxOutstanding: 10, leaseSeconds: 3600 });
    await queue.publish(Array.from({ length: 5 }, (_, n) => ({ data: Buffer.from(String(n)), attributes: {} })));
    let seen = 0;
    queue.deliveries().subscribe((d) => {
      seen += 1;
      if (seen <= 2) d.ack();
      // acks are committed at the end of the synchronous run; die on a later turn of the loop
      if (seen === 5) setImmediate(() => process.stdout.write('leased', () => process.kill(process.pid, 'SIGKILL')));
    });
  `);
  t.is(signal, 'SIGKILL');
  t.is(stdout, 'leased');

  // when a new process opens the queue, then the three in-flight rows come back (the lease is an hour)
  const queue = open(t, dataDir);
  const inbox = new Inbox(t, queue.deliveries(), (d) => d.ack());
  const got = await inbox.waitFor(3);
  t.deepEqual(got.map((d) => d.data.toString()).sort(), ['2', '3', '4']);
  t.true(got.every((d) => d.deliveryAttempt === 2));
});

test('leases are extended while a delivery is in flight, so a slow pair is not redelivered', async (t) => {
  const dataDir = await tempDir(t);
  const worker = open(t, dataDir, { leaseSeconds: 1.5 });
  const other = open(t, dataDir, { leaseSeconds: 1.5 });
  await worker.publish([task(1)]);
  const slow = new Inbox(t, worker.deliveries());
  const [d] = await slow.waitFor(1);
  const db = rawDb(t, dataDir);
  const leaseUntil = () => db.prepare(`SELECT lease_until FROM queue`).pluck().get() as number;
  const firstLease = leaseUntil();

  // given another consumer with room polls the same file for well over two lease periods
  const rival = new Inbox(t, other.deliveries());
  await sleep(4000);

  t.is(rival.items.length, 0);
  t.true(leaseUntil() > firstLease);
  d!.ack();
  t.is(await worker.depth(), 0);
});

test('stop completes the stream; in-flight deliveries can still be settled', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir);
  await queue.publish([task(1), task(2)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [a, b] = await inbox.waitFor(2);

  await queue.stop();
  await inbox.waitForCompletion();
  t.false(queue.isReady());

  a!.ack();
  b!.nack();
  await queue.publish([task(3)]); // the producer side still works
  await sleep(100);
  t.is(inbox.items.length, 2, 'nothing is emitted after stop');
  t.is(await queue.depth(), 2);

  const late = new Inbox(t, queue.deliveries());
  await late.waitForCompletion();
  t.is(late.items.length, 0);
});

test('close hands unsettled deliveries back without counting the attempt; reopen resumes them', async (t) => {
  const dataDir = await tempDir(t);
  const first = openLocalQueue({ dataDir, maxOutstanding: 10, leaseSeconds: 3600, pollIntervalMs: 20 });
  await first.publish([task(1), task(2), task(3)]);
  const inbox = new Inbox(t, first.deliveries());
  const [a, b] = await inbox.waitFor(3);
  a!.ack();
  await first.close();
  b!.ack(); // settling after close is a harmless no-op
  await t.throwsAsync(first.publish([task(4)]), { instanceOf: TransientError, message: /closed/ });

  const second = open(t, dataDir);
  const resumed = new Inbox(t, second.deliveries());
  const got = await resumed.waitFor(2);
  t.deepEqual(got.map(nOf), [2, 3]);
  t.true(got.every((d) => d.deliveryAttempt === 1));
});

test('three consumers on one file share the backlog, each message delivered once', async (t) => {
  const dataDir = await tempDir(t);
  const queues = [0, 1, 2].map(() => open(t, dataDir, { maxOutstanding: 7 }));
  const seen: number[] = [];
  const inboxes = queues.map(
    (q) =>
      new Inbox(t, q.deliveries(), (d) => {
        seen.push(nOf(d));
        setTimeout(() => d.ack(), 5);
      }),
  );
  await queues[0]!.publish(Array.from({ length: 150 }, (_, n) => task(n)));
  await queues[1]!.publish(Array.from({ length: 150 }, (_, n) => task(150 + n)));
  await new Promise<void>((resolve, reject) => {
    const guard = setTimeout(() => reject(new Error(`only ${seen.length} of 300 delivered`)), WAIT_MS);
    const check = setInterval(() => {
      if (seen.length < 300) return;
      clearInterval(check);
      clearTimeout(guard);
      resolve();
    }, 10);
  });
  await sleep(100);
  t.is(seen.length, 300);
  t.deepEqual(
    [...seen].sort((x, y) => x - y),
    Array.from({ length: 300 }, (_, n) => n),
  );
  t.true(inboxes.every((i) => i.items.length > 0), 'every consumer took a share');
  t.is(await queues[2]!.depth(), 0);
});

test('a second concurrent consumer is refused; after unsubscribing, a new one resumes', async (t) => {
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir, { maxOutstanding: 1 });
  await queue.publish([task(1), task(2)]);
  const first = new Inbox(t, queue.deliveries());
  await first.waitFor(1);

  const err = await new Promise<unknown>((resolve) => queue.deliveries().subscribe({ error: resolve }));
  t.true(err instanceof LocalQueueError);
  t.is((err as LocalQueueError).code, 'already_consuming');

  first.unsubscribe();
  first.items[0]!.ack();
  const second = new Inbox(t, queue.deliveries());
  const [d] = await second.waitFor(1);
  t.is(nOf(d!), 2);
});

test('bad options are refused with a clear error', async (t) => {
  const dataDir = await tempDir(t);
  for (const [options, pattern] of [
    [{ maxOutstanding: 0 }, /maxOutstanding to be a whole number from 1 and up, got 0/],
    [{ maxOutstanding: 1.5 }, /maxOutstanding/],
    [{ leaseSeconds: 0 }, /leaseSeconds to be a number above 0/],
    [{ maxDeliveryAttempts: 0 }, /maxDeliveryAttempts/],
    [{ backoff: { initialMs: -1 } }, /backoff.initialMs/],
  ] as const) {
    const valid: LocalQueueOptions = { dataDir, maxOutstanding: 1, leaseSeconds: 1 };
    const err = t.throws(() => openLocalQueue({ ...valid, ...options }), {
      instanceOf: OptionError,
      message: pattern,
    });
    t.is(err?.code, 'invalid_option');
  }
});

test('another process holding the write lock: publish waits for it without blocking the event loop, and an ack made meanwhile is recorded after, not redelivered', async (t) => {
  // given a queue with one delivery in hand, and another connection taking the write lock
  const dataDir = await tempDir(t);
  const queue = open(t, dataDir, { maxOutstanding: 10, leaseSeconds: 30, pollIntervalMs: 10 });
  await queue.publish([task(1)]);
  const inbox = new Inbox(t, queue.deliveries());
  const [first] = await inbox.waitFor(1);
  const holder = rawDb(t, dataDir);
  holder.exec('BEGIN IMMEDIATE');

  // when the delivery is acked and a task published while the lock is held
  first!.ack();
  let published = false;
  const publishing = queue.publish([task(2)]).then(() => (published = true));
  const ticks: number[] = [];
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    ticks.push(now - last);
    last = now;
  }, 20);
  await new Promise((resolve) => setTimeout(resolve, 600));
  clearInterval(ticker);

  // then neither has happened yet, and the event loop kept ticking: no synchronous busy wait for
  // SQLite's 5 s timeout (the bound leaves room for a shared machine's hiccups, measured up to
  // 620 ms under load; the stall itself is measured in the bench's stall row)
  t.false(published);
  t.true(Math.max(...ticks) < 1_500, `longest event-loop gap ${Math.round(Math.max(...ticks))} ms`);

  // and once the lock is released, the publish lands and the ack is recorded: task 1 is gone,
  // task 2 is delivered, and task 1 is never delivered again
  holder.exec('ROLLBACK');
  await publishing;
  const [, second] = await inbox.waitFor(2);
  t.is(nOf(second!), 2);
  second!.ack();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(inbox.items.map(nOf), [1, 2]);
  t.is(await queue.depth(), 0);
});
