/**
 * One idempotency key on the stream path (issue 15): the built service consuming the official
 * Pub/Sub emulator. A task_id POSTed twice is one task; and a task_id a producer published straight
 * to the topic, then POSTed too, reaches the consumer twice: the second delivery stores and counts
 * nothing, and the job still ends with nothing pending, its one task counted by that one outcome.
 */
import anyTest from 'ava';
import { getJson, postJson, startService, waitFor } from '../support/service-process.js';
import { freshTopologyAndDataDir, publishBodies, serviceEnv, waitForPairs, withEmulator } from '../support/pubsub-e2e.js';

const test = withEmulator(anyTest);

const V = [{ id: 'X', type: 'door', x: 0, y: 0, width: 1, height: 1 }];
const pair = (drawingId: string, taskId: string) => ({ drawing_id: drawingId, task_id: taskId, version_a: V, version_b: [{ ...V[0], x: 5 }] });

const post = (url: string, body: unknown) => postJson(`${url}/process`, body);

const finished = (url: string, jobId: string) =>
  waitFor(async () => {
    const job = (await getJson(`${url}/jobs/${jobId}`)).body;
    return job.pending === 0 ? job : undefined;
  }, 60_000, `job ${jobId} to finish`);

test.serial('over Pub/Sub a task_id is one task, one result and one count, whether it was POSTed again or published first', async (t) => {
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-idem-');
  const service = await startService(serviceEnv(t.context.emulator, names, dataDir), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // a key POSTed, then POSTed again once processed: the second is a duplicate with nothing pending
  const first = await post(service.url, { version_pairs: [pair('PS-1', 'ps-key-1')] });
  t.is(first.status, 202);
  t.like(await finished(service.url, first.body.job_id), { tasks_created: 1, completed: 1, pending: 0 });
  const again = await post(service.url, { version_pairs: [pair('PS-1', 'ps-key-1')] });
  t.like(again.body, { tasks_created: 0, duplicates: 1 });
  t.like(await finished(service.url, again.body.job_id), { tasks_created: 0, completed: 0, pending: 0 });

  // a key a producer published straight to the topic, processed, then POSTed: queued once more (no
  // job had recorded it), its copy stores and counts nothing, and the job counts the one outcome
  await publishBodies(t.context.pubsub, names.topic, [pair('PS-2', 'ps-key-2')], () => ({ task_id: 'ps-key-2' }));
  await waitForPairs(service.url, 2, 60_000);
  const late = await post(service.url, { version_pairs: [pair('PS-2', 'ps-key-2')] });
  t.like(late.body, { tasks_created: 1, duplicates: 0 });
  t.like(await finished(service.url, late.body.job_id), { tasks_created: 1, completed: 1, failed: 0, pending: 0 });
  // three deliveries in all (the second POST queued nothing): wait for the copy to be acked
  await waitFor(async () => ((await getJson(`${service.url}/metrics`)).body.pipeline.deliveries.acked >= 3 ? true : undefined), 60_000, 'the copy to be acked');

  for (const drawing of ['PS-1', 'PS-2']) t.is((await getJson(`${service.url}/changes?drawing_id=${drawing}&limit=10`)).body.length, 1, drawing);
  t.is((await getJson(`${service.url}/metrics`)).body.pairs_total, 2);
});
