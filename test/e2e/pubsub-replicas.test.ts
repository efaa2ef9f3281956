/**
 * Three consumer processes on one subscription of the official Pub/Sub emulator, sharing one
 * DATA_DIR as replicas r1, r2, r3: every task is processed exactly once, the work is spread, and the
 * percentiles any replica reports (its live windows + the others' rollups, histograms added) equal
 * those of one histogram fed every stored latency.
 */
import anyTest from 'ava';
import path from 'node:path';
import { getJson, startService, waitFor, type ServiceProcess } from '../support/service-process.js';
import { closeTo, freshTopologyAndDataDir, generateTasks, openStoreFile, publishBodies, serviceEnv, totals, withEmulator } from '../support/pubsub-e2e.js';
import { newHistogram, percentileMs, recordMs } from '../../streams/aggregate/histogram.js';

const test = withEmulator(anyTest);

test('three replicas on one subscription: each task once, work spread, merged percentiles equal one histogram of every latency', async (t) => {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-replicas-');

  // given three consumer processes, one DATA_DIR, distinct replica ids
  const count = 900;
  const { tasks, truth } = generateTasks(path.join(dataDir, 'input'), { count, objects: 40, seed: 33, prefix: 'rep' });
  const replicas: ServiceProcess[] = [];
  t.teardown(async () => {
    for (const r of replicas) await r.kill('SIGKILL');
  });
  for (const id of ['r1', 'r2', 'r3']) {
    const env = serviceEnv(emulator, names, dataDir, { REPLICA_ID: id, ROLLUP_FLUSH_SECONDS: '1', MAX_OUTSTANDING_MESSAGES: '50', LOG_LEVEL: 'warn' });
    replicas.push(await startService(env, { timeoutMs: 60_000 }));
  }

  // when the tasks are published
  await publishBodies(pubsub, names.topic, tasks.map((task) => task.body));

  // then every task has exactly one result, spread over more than one replica
  const db = openStoreFile(dataDir);
  t.teardown(() => db.close());
  await waitFor(
    async () => ((db.prepare('SELECT count(*) AS n FROM change_results').get() as { n: number }).n === count ? true : undefined),
    180_000,
    `${count} results`,
  );
  const perDrawing = db.prepare('SELECT count(*) AS n FROM change_results GROUP BY drawing_id HAVING n > 1').all();
  t.deepEqual(perDrawing, [], 'no drawing has two results');
  const byReplica = db.prepare('SELECT replica_id, count(*) AS n FROM change_results GROUP BY replica_id').all() as { replica_id: string; n: number }[];
  t.log(`results per replica: ${byReplica.map((r) => `${r.replica_id} ${r.n}`).join(', ')}`);
  t.true(byReplica.length > 1, 'the work is spread over several replicas');

  // and one histogram fed every stored latency is what every replica reports, within HDR precision
  const latencies = (db.prepare("SELECT latency_ms FROM processing_metrics WHERE status = 'completed'").all() as { latency_ms: number }[]).map(
    (r) => r.latency_ms,
  );
  t.is(latencies.length, count);
  const single = newHistogram();
  for (const ms of latencies) recordMs(single, ms);
  const expected = { p50: percentileMs(single, 50), p95: percentileMs(single, 95), p99: percentileMs(single, 99) };
  single.destroy();

  for (const replica of replicas) {
    // Each replica flushes its rollups every second; wait until this one sees all three.
    const metrics = await waitFor(
      async () => {
        const { body } = await getJson(`${replica.url}/metrics`);
        return body.latency_count === count && body.replicas === 3 ? body : undefined;
      },
      30_000,
      `${replica.url} to merge all three replicas`,
    );
    t.deepEqual(totals(metrics), { ...truth, failed: 0 }, 'counts equal the ground truth');
    for (const [key, value] of Object.entries(expected)) {
      const reported = metrics[`latency_${key}`] as number;
      t.true(closeTo(reported, value, 0.01), `${key}: reported ${reported} ms, one histogram of every latency ${value} ms`);
    }
  }
  t.log(`percentiles of ${count} latencies: ${JSON.stringify(expected)}`);
});
