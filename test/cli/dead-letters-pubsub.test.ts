/**
 * `buildtrace dead-letters` on the official Pub/Sub emulator, beside the real service (built,
 * `SOURCE=pubsub SINKS=local`): the service dead-letters malformed tasks itself, good tasks are
 * put on the dead-letter topic by hand (as an outage or a lost ack would leave them), and the
 * command lists them without consuming, replays exactly what it is asked to, keeps each task's
 * body and `task_id`, and the restarted service works the replays off: one result per task,
 * counted once.
 */
import anyTest from 'ava';
import { deadLettersWith } from '../../src/cli/dead-letters.js';
import { obj } from '../support/api-fixture.js';
import { receiveMessages, uniqueId } from '../support/pubsub-emulator.js';
import {
  freshTopologyAndDataDir,
  openStoreFile,
  publishBodies,
  serviceEnv,
  totals,
  waitForPairs,
  withEmulator,
} from '../support/pubsub-e2e.js';
import { getJson, sleep, startService, waitFor } from '../support/service-process.js';

const test = withEmulator(anyTest);

const A = [obj('D1', 'door', 0, 0)];
const B = [obj('D1', 'door', 3, 0)];

async function run(env: Record<string, string>, ...args: string[]): Promise<{ code: number; stderr: string; lines: string[] }> {
  let stdout = '';
  let stderr = '';
  const code = await deadLettersWith(args, { out: (s) => (stdout += s), err: (s) => (stderr += s) }, env);
  return { code, stderr, lines: stdout.split('\n').filter(Boolean) };
}

const taskIds = (lines: readonly string[]) => lines.filter((l) => !l.startsWith('Total:')).map((l) => /task_id=(\S+)/.exec(l)?.[1]).sort();

test.serial('list leaves the dead letters, --dry-run changes nothing, --limit N replays N, and the replays end in one result each, counted once', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-dead-letters-');
  const env = serviceEnv(emulator, names, dataDir);
  let service = await startService(env, { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // given a completed task and two malformed ones the service dead-lettered, each with a task_id
  const good = { drawing_id: 'GOOD-1', job_id: 'job-1', task_id: 'good-1', version_a: A, version_b: B };
  const bad = (i: number) => ({ drawing_id: `BAD-${i}`, job_id: 'job-1', task_id: `bad-${i}`, version_a: [{ id: 'D1', type: 'door', x: 0, y: 0, width: 1 }], version_b: [] });
  const first = [good, bad(1), bad(2)];
  await publishBodies(pubsub, names.topic, first, (i) => ({ task_id: first[i]!.task_id, job_id: 'job-1', drawing_id: first[i]!.drawing_id }));
  await waitForPairs(service.url, 1, 60_000);
  const store = openStoreFile(dataDir);
  t.teardown(() => store.close());
  await waitFor(async () => ((store.prepare(`SELECT count(*) AS n FROM processing_metrics WHERE status = 'malformed'`).get() as { n: number }).n === 2 ? true : undefined), 30_000, 'two malformed records');

  // and two good tasks on the dead-letter topic by hand: a copy of the completed one (its ack was
  // lost), and one an outage gave up on, with the attributes the service's dead-lettering adds
  const outage = { drawing_id: 'NEW-1', job_id: 'job-2', task_id: 'new-1', version_a: A, version_b: B };
  const planted = [good, outage];
  await publishBodies(pubsub, names.dlqTopic, planted, (i) => ({
    task_id: planted[i]!.task_id,
    job_id: planted[i]!.job_id,
    drawing_id: planted[i]!.drawing_id,
    source: 'e2e',
    error_code: 'sink_unavailable',
    error_message: 'the store did not answer',
    source_subscription: names.subscription,
    original_message_id: '12345',
    delivery_attempt: '5',
  }));
  // stopped, so what follows is the command's doing alone (SIGTERM flushes its dead letters)
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());

  // when they are listed, twice
  const everyId = ['bad-1', 'bad-2', 'good-1', 'new-1'];
  const listed = await waitFor(async () => {
    const r = await run(env, 'list');
    return r.lines.length === 5 ? r : undefined;
  }, 30_000, 'four dead letters listed');
  // then both show all four: list consumed nothing
  t.is(listed.code, 0, listed.stderr);
  t.deepEqual(taskIds(listed.lines), everyId);
  t.regex(listed.lines.find((l) => l.includes('task_id=bad-1'))!, /^listed +task_id=bad-1 job_id=job-1 drawing_id=BAD-1 error_code=malformed_version error_message=".*height/);
  t.regex(listed.lines.find((l) => l.includes('task_id=new-1'))!, /^listed +task_id=new-1 job_id=job-2 drawing_id=NEW-1 error_code=sink_unavailable error_message="the store did not answer"$/);
  t.regex(listed.lines[4]!, new RegExp(`^Total: 4 dead letter\\(s\\) on Pub/Sub subscription ${names.dlqSubscription} .*, left in place$`));
  const again = await run(env, 'list');
  t.deepEqual(taskIds(again.lines), everyId, 'a second list sees the same four');
  const two = await run(env, 'list', '--limit', '2');
  t.is(taskIds(two.lines).length, 2);

  // and a dry run changes nothing either
  const dry = await run(env, 'replay', '--dry-run');
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.lines.filter((l) => l.startsWith('would replay ')).length, 4);
  t.regex(dry.lines.at(-1)!, /^Total: 4 dead letter\(s\) would be replayed .*\(dry run: nothing changed\)$/);
  const tap = uniqueId('tap');
  await pubsub.topic(names.topic).createSubscription(tap); // sees every replay from here on
  t.deepEqual(taskIds((await run(env, 'list')).lines), everyId, 'still four after the dry run');

  // when two are replayed, then the rest
  const firstTwo = await run(env, 'replay', '--limit', '2');
  t.is(firstTwo.code, 0, firstTwo.stderr);
  t.is(firstTwo.lines.filter((l) => l.startsWith('replayed ')).length, 2);
  t.regex(firstTwo.lines.at(-1)!, /^Total: 2 replayed, 0 failed, from Pub\/Sub subscription /);
  const left = taskIds((await run(env, 'list')).lines);
  t.is(left.length, 2, 'exactly two moved');
  t.deepEqual([...left, ...taskIds(firstTwo.lines)].sort(), everyId);
  const rest = await run(env, 'replay');
  t.is(rest.code, 0, rest.stderr);
  t.deepEqual(taskIds(rest.lines), left);
  const emptied = await run(env, 'list');
  t.is(emptied.lines.length, 1, emptied.lines.join('\n'));
  t.regex(emptied.lines[0]!, /^Total: 0 dead letter\(s\)/);

  // then the tasks topic got each once, with its body, its task_id and original attributes, minus the reason
  const replays = await receiveMessages(pubsub, tap, 4, { timeoutMs: 30_000, settleMs: 1_000 });
  t.deepEqual(replays.map((m) => m.attributes.task_id).sort(), everyId);
  const bodies = new Map([...first, ...planted].map((b) => [b.task_id, b]));
  for (const m of replays) {
    const id = m.attributes.task_id!;
    t.deepEqual(JSON.parse(m.data.toString('utf8')), bodies.get(id), `${id}: body unchanged`);
    for (const gone of ['error_code', 'error_message', 'source_subscription', 'original_message_id', 'delivery_attempt']) t.is(m.attributes[gone], undefined, `${id}: ${gone} dropped`);
    t.regex(m.attributes.replayed_from ?? '', new RegExp(`^${names.dlqSubscription}/\\S+$`));
  }
  t.is(replays.find((m) => m.attributes.task_id === 'new-1')!.attributes.source, 'e2e', 'original attributes kept');

  // when the service runs again
  service = await startService(env, { timeoutMs: 60_000 });
  // then the outage's task has its result, the completed one still has one, and each counts once
  const metrics = await waitForPairs(service.url, 2, 60_000);
  t.is((await getJson(`${service.url}/changes?drawing_id=NEW-1`)).status, 200);
  const redead = await waitFor(async () => {
    const r = await run(env, 'list');
    return r.lines.length === 3 ? r : undefined;
  }, 30_000, 'the malformed tasks dead-lettered again');
  t.deepEqual(taskIds(redead.lines), ['bad-1', 'bad-2'], 'dead-lettered again under their own task_id');
  await sleep(1_000);
  const settled = (await getJson(`${service.url}/metrics`)).body;
  t.like(totals(settled), { pairs: 2, moved: 2, failed: 2 }, JSON.stringify(metrics.hourly_stats));
  t.is(settled.latency_count, 2);
  t.is((await getJson(`${service.url}/changes?drawing_id=GOOD-1&limit=10`)).body.length, 1, 'one result for good-1');
  t.deepEqual(
    store.prepare(`SELECT task_key, status FROM processing_metrics ORDER BY task_key`).all(),
    [
      { task_key: 'bad-1', status: 'malformed' },
      { task_key: 'bad-2', status: 'malformed' },
      { task_key: 'good-1', status: 'completed' },
      { task_key: 'new-1', status: 'completed' },
    ],
  );
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output());
});

test.serial('a missing dead-letter subscription is one line and exit 1', async (t) => {
  const { emulator } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-dead-letters-');
  const env = serviceEnv(emulator, { ...names, dlqTopic: uniqueId('nothing') }, dataDir);
  let stdout = '';
  let stderr = '';
  const code = await deadLettersWith(['list'], { out: (s) => (stdout += s), err: (s) => (stderr += s) }, env);
  t.is(code, 1);
  t.regex(stderr, /^buildtrace: dead-letters list: pull from subscription nothing-[0-9a-f]+-sub failed: not found \([^\n]*\); `buildtrace setup --apply --only pubsub` creates it\n$/);
  t.regex(stdout, /^Total: 0 dead letter/);
});

test.serial('a replay whose publish fails leaves the dead letter where it was: a failed line, exit 1, and the next list still shows it', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-dead-letters-');
  const env = serviceEnv(emulator, names, dataDir);
  const task = { drawing_id: 'KEEP-1', task_id: 'keep-1', version_a: A, version_b: B };
  await publishBodies(pubsub, names.dlqTopic, [task], () => ({ task_id: 'keep-1', error_code: 'sink_unavailable', error_message: 'down' }));

  // when the tasks topic it would go to does not exist
  const missing = uniqueId('gone');
  const failed = await run({ ...env, PUBSUB_TOPIC: missing }, 'replay');

  // then it says so, and nothing was consumed
  t.is(failed.code, 1);
  t.regex(failed.lines[0]!, /^failed +task_id=keep-1 .*\(left on the dead-letter subscription: publish to topic gone-[0-9a-f]+ failed: not found/);
  t.regex(failed.lines[1]!, /^Total: 0 replayed, 1 failed/);
  t.regex(failed.stderr, new RegExp(`^buildtrace: dead-letters replay: publish to topic ${missing} failed: not found[^\\n]*\\n$`));
  const listed = await run(env, 'list');
  t.deepEqual(taskIds(listed.lines), ['keep-1']);

  // and with the topic there, the same dead letter replays
  const replayed = await run(env, 'replay');
  t.is(replayed.code, 0, replayed.stderr);
  t.deepEqual(taskIds(replayed.lines), ['keep-1']);
  t.deepEqual(taskIds((await run(env, 'list')).lines), []);
});
