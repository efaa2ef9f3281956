/**
 * `buildtrace dead-letters` on the embedded default: the real local queue (its own dead-letter
 * path fills the table), the real service in process for the replay that ends in a result, and
 * the command run in process and, for the exit codes a user sees, as a real process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { firstValueFrom } from 'rxjs';
import { take, toArray } from 'rxjs/operators';
import { runCli } from '../../src/cli.js';
import { deadLettersWith } from '../../src/cli/dead-letters.js';
import { encodeTask } from '../../src/domain/task.js';
import { DATABASE_FILE } from '../../src/infra/sqlite/database.js';
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import { call, launchApi, obj, postJson, waitForJob } from '../support/api-fixture.js';
import { freePort, REPO_ROOT, waitFor } from '../support/service-process.js';

const A = [obj('D1', 'door', 0, 0)];
const B = [obj('D1', 'door', 3, 0)];

function tempDataDir(t: ExecutionContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-dead-letters-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function rawDb(t: ExecutionContext, dataDir: string): Database.Database {
  const db = new Database(path.join(dataDir, DATABASE_FILE));
  t.teardown(() => db.close());
  return db;
}

/** The command in process, with only the environment given (no inherited SOURCE or PUBSUB_*). */
async function run(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string; lines: string[] }> {
  let stdout = '';
  let stderr = '';
  const io = { out: (s: string) => (stdout += s), err: (s: string) => (stderr += s) };
  const code = await deadLettersWith(args, io, env);
  return { code, stdout, stderr, lines: stdout.split('\n').filter(Boolean) };
}

/** Dead-letters `count` tasks through the queue's own path (deliver, deadLetter, ack), oldest first. */
async function deadLetterTasks(dataDir: string, count: number): Promise<void> {
  const queue = openLocalQueue({ dataDir, maxOutstanding: 100, leaseSeconds: 30 });
  try {
    const tasks = Array.from({ length: count }, (_, i) =>
      encodeTask({ drawingId: `DL-${i}`, jobId: 'job-dl', taskId: `job-dl:${i}`, versions: { kind: 'inline', a: A, b: B }, uploadedAt: null }),
    );
    // one at a time, so created_at orders them
    for (const task of tasks) await queue.publish([task]);
    const deliveries = await firstValueFrom(queue.deliveries().pipe(take(count), toArray()));
    for (const d of deliveries) {
      const i = Number(d.attributes.task_id!.split(':')[1]);
      await d.deadLetter({ code: 'sink_unavailable', message: `outage ${i}: "store" down`, drawingId: `DL-${i}` });
      d.ack();
      await new Promise((r) => setTimeout(r, 3));
    }
  } finally {
    await queue.close();
  }
}

const tables = (db: Database.Database) => ({
  dead: db.prepare('SELECT * FROM dead_letters ORDER BY created_at, rowid').all(),
  queue: db.prepare('SELECT message_id, data, attributes, attempts, lease_owner FROM queue ORDER BY seq').all(),
});

test('list shows every dead letter, oldest first, and leaves them; --limit shows the oldest N', async (t) => {
  const dataDir = tempDataDir(t);
  await deadLetterTasks(dataDir, 4);
  const db = rawDb(t, dataDir);
  const before = tables(db);
  t.is(before.dead.length, 4);

  const listed = await run({ DATA_DIR: dataDir }, 'list');
  t.is(listed.code, 0, listed.stderr);
  t.is(listed.stderr, '');
  t.deepEqual(listed.lines.slice(0, 4), [0, 1, 2, 3].map(
    (i) => `listed       task_id=job-dl:${i} job_id=job-dl drawing_id=DL-${i} error_code=sink_unavailable error_message=${JSON.stringify(`outage ${i}: "store" down`)}`,
  ));
  t.regex(listed.lines[4]!, /^Total: 4 dead letter\(s\) on local queue .*buildtrace\.db, left in place$/);
  t.is(listed.lines.length, 5);
  t.deepEqual(tables(db), before, 'nothing moved');

  const two = await run({ DATA_DIR: dataDir }, 'list', '--limit', '2');
  t.is(two.code, 0, two.stderr);
  t.deepEqual(two.lines.slice(0, 2).map((l) => /task_id=(\S+)/.exec(l)![1]), ['job-dl:0', 'job-dl:1']);
  t.regex(two.lines[2]!, /^Total: 2 dead letter/);
  t.deepEqual(tables(db), before);
});

test('replay --dry-run changes nothing; replay --limit N moves exactly the N oldest into the queue, whole and unspent', async (t) => {
  const dataDir = tempDataDir(t);
  await deadLetterTasks(dataDir, 5);
  const db = rawDb(t, dataDir);
  const before = tables(db);

  const dry = await run({ DATA_DIR: dataDir }, 'replay', '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.lines.filter((l) => l.startsWith('would replay ')).length, 5);
  t.regex(dry.lines.at(-1)!, /^Total: 5 dead letter\(s\) would be replayed from .* \(dry run: nothing changed\)$/);
  t.deepEqual(tables(db), before, 'a dry run changes nothing');

  const two = await run({ DATA_DIR: dataDir }, 'replay', '--limit=2');
  t.is(two.code, 0, two.stderr);
  t.deepEqual(two.lines.slice(0, 2).map((l) => /^replayed +task_id=(\S+)/.exec(l)?.[1]), ['job-dl:0', 'job-dl:1']);
  t.regex(two.lines[2]!, /^Total: 2 replayed, 0 failed, from local queue /);
  const after = tables(db);
  t.deepEqual(after.dead, before.dead.slice(2), 'the other three stay, untouched');
  // back in the queue under the same message id, body and attributes (so the same task_id), no attempt spent, unleased
  t.deepEqual(
    after.queue,
    (before.dead as Array<Record<string, unknown>>).slice(0, 2).map((d) => ({ message_id: d.message_id, data: d.data, attributes: d.attributes, attempts: 0, lease_owner: null })),
  );

  const rest = await run({ DATA_DIR: dataDir }, 'replay');
  t.is(rest.code, 0, rest.stderr);
  t.regex(rest.lines.at(-1)!, /^Total: 3 replayed, 0 failed/);
  t.is(tables(db).dead.length, 0);
  t.is(tables(db).queue.length, 5);

  const none = await run({ DATA_DIR: dataDir }, 'replay');
  t.is(none.code, 0);
  t.deepEqual(none.lines.length, 1);
  t.regex(none.lines[0]!, /^Total: 0 replayed, 0 failed/);
});

test('replayed by the running service: a good task ends in a result, one that had completed is neither stored nor counted twice, a malformed one is dead-lettered again under its task_id', async (t) => {
  const api = await launchApi();
  t.teardown(() => api.close());
  const env = { DATA_DIR: api.dataDir };

  // given a job whose good task completed and whose malformed task was dead-lettered by the service
  const accepted = await postJson(`${api.url}/process`, {
    version_pairs: [
      { drawing_id: 'GOOD-1', task_id: 'good-1', version_a: A, version_b: B },
      { drawing_id: 'BAD-1', task_id: 'bad-1', version_a: [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1 }], version_b: [] },
    ],
  });
  t.is(accepted.status, 202, accepted.text);
  const jobId = accepted.body.job_id as string;
  t.like(await waitForJob(api.url, jobId), { completed: 1, failed: 1, pending: 0 });
  const db = rawDb(t, api.dataDir);
  await waitFor(async () => (db.prepare('SELECT count(*) AS n FROM dead_letters').get() as { n: number }).n === 1 || undefined, 10_000, 'the dead letter');

  // and two good tasks put there by hand: a copy of the completed one, and one an outage gave up on
  const plant = db.prepare(
    `INSERT INTO dead_letters (message_id, data, attributes, reason_code, reason_message, drawing_id, attempts, created_at)
     VALUES (?, ?, ?, 'sink_unavailable', 'not settled after 5 delivery attempts', ?, 5, ?)`,
  );
  for (const [id, task] of [
    ['copy-of-good-1', encodeTask({ drawingId: 'GOOD-1', jobId, taskId: 'good-1', versions: { kind: 'inline', a: A, b: B }, uploadedAt: null })],
    ['outage-1', encodeTask({ drawingId: 'NEW-1', jobId: 'job-outage', taskId: 'new-1', versions: { kind: 'inline', a: A, b: B }, uploadedAt: null })],
  ] as const) {
    plant.run(id, task.data, JSON.stringify(task.attributes), task.attributes.drawing_id, Date.now());
  }

  // when all three are replayed
  const replayed = await run(env, 'replay');
  t.is(replayed.code, 0, replayed.stderr);
  t.deepEqual(replayed.lines.map((l) => /^replayed +task_id=(\S+)/.exec(l)?.[1]).slice(0, 3), ['bad-1', 'good-1', 'new-1']);
  t.regex(replayed.lines[3]!, /^Total: 3 replayed, 0 failed/);

  // then the service works them off: the outage's task has its result
  const result = await waitFor(async () => {
    const res = await call(`${api.url}/changes?drawing_id=NEW-1`);
    return res.status === 200 ? res.body : undefined;
  }, 30_000, 'the replayed task\'s result');
  t.is(result.moved[0].description, 'D1 moved 3.0 units east');
  await waitFor(async () => {
    const { n } = db.prepare('SELECT (SELECT count(*) FROM queue) + (SELECT count(*) FROM dead_letters) - 1 AS n').get() as { n: number };
    return n === 0 || undefined;
  }, 30_000, 'the queue to empty and the malformed task to be dead-lettered again');

  // and the completed task has one result, counted once; its job still says 1 completed, 1 failed
  const history = await call(`${api.url}/changes?drawing_id=GOOD-1&limit=10`);
  t.is(history.body.length, 1, 'one result for good-1');
  t.like(await waitForJob(api.url, jobId), { tasks_created: 2, completed: 1, failed: 1, pending: 0 });
  const metrics = (await call(`${api.url}/metrics`)).body;
  const hours = Object.values(metrics.hourly_stats as Record<string, Record<string, number>>);
  const sum = (key: string) => hours.reduce((n, h) => n + (h[key] ?? 0), 0);
  t.deepEqual({ pairs: sum('pairs'), moved: sum('moved'), failed: sum('failed') }, { pairs: 2, moved: 2, failed: 1 }, 'good-1 and new-1 once each, bad-1 once');
  t.is(metrics.latency_count, 2);

  // and the malformed task is back among the dead letters, under its own task_id
  const listed = await run(env, 'list');
  t.is(listed.lines.length, 2, listed.stdout);
  t.regex(listed.lines[0]!, /^listed +task_id=bad-1 job_id=\S+ drawing_id=BAD-1 error_code=malformed_version error_message=".*height/);
});

const BAD_ARGS: ReadonlyArray<readonly [string[], RegExp]> = [
  [[], /missing subcommand/],
  [['purge'], /unknown subcommand "purge": expected "list" or "replay"/],
  [['list', 'replay'], /unexpected argument "replay"/],
  [['list', '--limit', '0'], /--limit must be a whole number from 1 .*got "0"/],
  [['replay', '--limit', '-1'], /--limit must be a whole number from 1 .*got "-1"/],
  [['replay', '--limit=abc'], /--limit must be a whole number from 1 .*got "abc"/],
  [['list', '--limit', '1.5'], /--limit must be a whole number from 1 .*got "1.5"/],
  [['list', '--limit'], /--limit needs a value/],
  [['replay', '--force'], /unknown option "--force"/],
  [['list', '--dry-run'], /--dry-run applies to "replay" only/],
];

for (const [args, message] of BAD_ARGS) {
  test(`bad usage: dead-letters ${args.join(' ') || '(nothing)'} → one line, exit 2`, async (t) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(['dead-letters', ...args], { out: (s) => (stdout += s), err: (s) => (stderr += s) });
    t.is(code, 2);
    t.is(stdout, '');
    t.regex(stderr, message);
    t.regex(stderr, /^buildtrace: [^\n]+\n$/, 'exactly one line');
  });
}

test('--help prints the usage; the top-level help lists the command', async (t) => {
  let out = '';
  t.is(await runCli(['dead-letters', '--help'], { out: (s) => (out += s), err: () => undefined }), 0);
  t.regex(out, /^Usage: buildtrace dead-letters list \[--limit N\]/);
  out = '';
  t.is(await runCli(['--help'], { out: (s) => (out += s), err: () => undefined }), 0);
  t.regex(out, /buildtrace dead-letters list \[--limit N\] \| dead-letters replay \[--limit N\] \[--dry-run\]/);
});

/** The real command as a user runs it, with exactly `env` (plus PATH). */
function spawnCli(args: readonly string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli.ts', 'dead-letters', ...args],
      { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', METADATA_SERVER_DETECTION: 'none', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test('spawned: a DATA_DIR without a queue, or a Pub/Sub nobody answers at, is one line and exit 1, no stack trace', async (t) => {
  const dataDir = tempDataDir(t);
  const noDb = await spawnCli(['list'], { DATA_DIR: dataDir });
  t.is(noDb.code, 1, noDb.stderr);
  t.regex(noDb.stderr, /^buildtrace: dead-letters list: no local queue at .*buildtrace\.db: set DATA_DIR to the service's data directory\n$/);
  t.is(noDb.stdout, '');

  const port = await freePort(); // nothing listens there
  const noEmulator = await spawnCli(['replay'], {
    SOURCE: 'pubsub',
    GOOGLE_CLOUD_PROJECT: 'buildtrace-test',
    PUBSUB_EMULATOR_HOST: `127.0.0.1:${port}`,
    DATA_DIR: dataDir,
  });
  t.is(noEmulator.code, 1, noEmulator.stderr);
  t.regex(noEmulator.stderr, new RegExp(`^buildtrace: dead-letters replay: pull from subscription drawing-processing-dlq-sub failed: cannot reach Pub/Sub at 127\\.0\\.0\\.1:${port} \\(PUBSUB_EMULATOR_HOST\\)\\n$`));
  t.regex(noEmulator.stdout, /^Total: 0 replayed, 0 failed, from Pub\/Sub subscription drawing-processing-dlq-sub/);

  const badUsage = await spawnCli(['list', '--limit', 'abc'], { DATA_DIR: dataDir });
  t.is(badUsage.code, 2);
  t.regex(badUsage.stderr, /^buildtrace: --limit must be a whole number[^\n]*\n$/);
});
