/**
 * Crash and shutdown of the real service process on the embedded default: SIGKILL mid-stream then
 * restart loses nothing and counts nothing twice; SIGTERM drains and exits 0.
 */
import test from 'ava';
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { validateAndDiff, countChanges } from '../../src/domain/diff.js';
import { getJson, postJson, startService, tempDir, waitFor, sleep } from '../support/service-process.js';

interface Truth {
  readonly pairs: number;
  readonly added: number;
  readonly removed: number;
  readonly moved: number;
  readonly modified: number;
}

/** Writes `count` pairs in the seed layout under `<inputDir>/<folder>/` and returns the true totals. */
function writeBatch(inputDir: string, folder: string, count: number, objects: number, seed: number): Truth {
  const rand = createRandom(seed);
  const truth = { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0 };
  for (let i = 0; i < count; i++) {
    const id = `drawing_${String(i).padStart(5, '0')}`;
    const [a, b] = generatePair(rand, { objects });
    const dir = path.join(inputDir, folder, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'version_a.json'), JSON.stringify(a));
    writeFileSync(path.join(dir, 'version_b.json'), JSON.stringify(b));
    const counts = countChanges(validateAndDiff(a, b, id));
    truth.pairs += 1;
    truth.added += counts.added;
    truth.removed += counts.removed;
    truth.moved += counts.moved;
    truth.modified += counts.modified;
  }
  return truth;
}

function totals(metrics: { hourly_stats: Record<string, Record<string, number>> }): Truth {
  const sum = { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0 };
  for (const hour of Object.values(metrics.hourly_stats)) {
    for (const key of Object.keys(sum) as (keyof Truth)[]) sum[key] += hour[key] ?? 0;
  }
  return sum;
}

async function jobDone(url: string, jobId: string, total: number) {
  const { body } = await getJson(`${url}/jobs/${jobId}`);
  return body.completed + body.failed === total ? body : undefined;
}

test('SIGKILL mid-stream, then restart: every pair has exactly one result and counts are not doubled', async (t) => {
  // given a batch of pairs in the seed layout and a running service
  const dataDir = tempDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const inputDir = path.join(dataDir, 'input');
  const count = 1500;
  const truth = writeBatch(inputDir, 'batch', count, 60, 7);
  const env = { DATA_DIR: dataDir, CONCURRENCY: '2' };
  const first = await startService(env);
  t.teardown(() => void first.kill('SIGKILL'));

  const accepted = await postJson(`${first.url}/process`, { storage_path: 'batch' });
  t.is(accepted.status, 202, JSON.stringify(accepted.body));
  t.is(accepted.body.tasks_created, count);
  const jobId: string = accepted.body.job_id;

  // when the process is killed while it is working through them
  const before = await waitFor(
    async () => {
      const { body } = await getJson(`${first.url}/jobs/${jobId}`);
      return body.completed >= count * 0.1 ? body : undefined;
    },
    60_000,
    'some progress',
  );
  const metricsBefore = (await getJson(`${first.url}/metrics`)).body;
  await first.kill('SIGKILL');
  t.true(before.completed < count, `killed mid-stream (completed ${before.completed} of ${count})`);

  // then a restarted process finishes the rest
  const second = await startService(env);
  t.teardown(() => void second.kill('SIGKILL'));
  const afterRestart = (await getJson(`${second.url}/metrics`)).body;
  t.true(totals(afterRestart).pairs >= totals(metricsBefore).pairs, 'metrics survive the restart');

  const job = await waitFor(() => jobDone(second.url, jobId, count), 120_000, 'the job to finish');
  t.deepEqual(job, { job_id: jobId, tasks_created: count, completed: count, failed: 0, pending: 0 });

  const metrics = (await getJson(`${second.url}/metrics`)).body;
  t.deepEqual(totals(metrics), truth, 'hourly counts equal the ground truth: nothing lost, nothing doubled');
  t.is(metrics.latency_count, count);

  for (const i of [0, 1, Math.floor(count / 2), count - 1]) {
    const id = `drawing_${String(i).padStart(5, '0')}`;
    const history = await getJson(`${second.url}/changes?drawing_id=${id}&limit=10`);
    t.is(history.status, 200);
    t.is(history.body.length, 1, `${id} has exactly one result`);
  }
  await second.kill('SIGTERM');
});

test('SIGTERM drains in-flight work and exits 0; nothing is lost', async (t) => {
  const dataDir = tempDir();
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const count = 800;
  const truth = writeBatch(path.join(dataDir, 'input'), 'batch', count, 60, 11);
  const env = { DATA_DIR: dataDir, CONCURRENCY: '2' };
  const first = await startService(env);
  t.teardown(() => void first.kill('SIGKILL'));
  const accepted = await postJson(`${first.url}/process`, { storage_path: 'batch' });
  t.is(accepted.status, 202);
  const jobId: string = accepted.body.job_id;
  await waitFor(
    async () => ((await getJson(`${first.url}/jobs/${jobId}`)).body.completed > 0 ? true : undefined),
    60_000,
    'processing to start',
  );

  const exit = await first.kill('SIGTERM');
  t.deepEqual(exit, { code: 0, signal: null }, first.output());

  const second = await startService(env);
  t.teardown(() => void second.kill('SIGKILL'));
  const job = await waitFor(() => jobDone(second.url, jobId, count), 120_000, 'the job to finish');
  t.is(job.completed, count);
  t.deepEqual(totals((await getJson(`${second.url}/metrics`)).body), truth);
  const exit2 = await second.kill('SIGTERM');
  t.is(exit2.code, 0);
  await sleep(0);
});
