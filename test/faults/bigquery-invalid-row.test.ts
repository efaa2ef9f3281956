/**
 * One row BigQuery refuses for good among 1,000 good ones, through the real service on the GCP
 * sinks' local servers (SOURCE=local): the local BigQuery server answers `invalid` for one
 * drawing's change_results row every time. Before the failure model, the writer kept that row and
 * re-sent it with every later insert, so every later batch failed and the whole GCP path wedged
 * until restart. Now that task alone fails (failure row, processing_error, dead letter with the
 * reason, acked), the other 999 complete, and the writes after it succeed.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { getJson, postJson, startService, tempDir, waitFor } from '../support/service-process.js';
import { startGcpFakes } from '../support/fault-gcp.js';

const GOOD = 999;
const POISON = 'poison_0500';

const obj = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });
const pair = (drawingId: string, dx: number) => ({ drawing_id: drawingId, version_a: [obj('D1', 0), obj('W1', 5)], version_b: [obj('D1', dx), obj('W1', 5)] });

test('one invalid row among 1,000 good ones fails that task alone; the other 999 and every later write succeed', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dataDir = tempDir('buildtrace-faults-invalid-row-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const service = await startService(
    { ...gcp.env, SOURCE: 'local', DATA_DIR: dataDir, CONCURRENCY: '2', REPLICA_ID: 'faults-invalid', LOG_LEVEL: 'warn' },
    { timeoutMs: 60_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));

  // given BigQuery refuses one drawing's result row as invalid, every time it is sent
  gcp.bigquery.failRows({ table: 'change_results', match: (row) => row.drawing_id === POISON, reason: 'invalid', times: 1_000_000 });

  // when a job of 1,000 pairs holding it is processed
  const pairs = Array.from({ length: GOOD + 1 }, (_, i) => (i === 500 ? pair(POISON, 3) : pair(`good_${String(i).padStart(4, '0')}`, 2)));
  const posted = await postJson(`${service.url}/process`, { version_pairs: pairs });
  t.is(posted.status, 202, JSON.stringify(posted.body));
  const job = await waitFor(
    async () => {
      const status = (await getJson(`${service.url}/jobs/${posted.body.job_id}`)).body;
      return status.pending === 0 ? status : undefined;
    },
    180_000,
    'the job to finish',
  );

  // then that task alone failed, and every other completed
  t.like(job, { tasks_created: GOOD + 1, completed: GOOD, failed: 1, pending: 0 });
  t.is((await getJson(`${service.url}/changes?drawing_id=${POISON}`)).status, 404);
  t.is((await getJson(`${service.url}/changes?drawing_id=good_0499`)).body.moved.length, 1);

  // and it was dead-lettered with the reason, and raised a processing_error
  const db = new Database(path.join(dataDir, 'buildtrace.db'), { readonly: true });
  t.teardown(() => db.close());
  const letters = db.prepare('SELECT drawing_id, reason_code, reason_message FROM dead_letters').all() as {
    drawing_id: string;
    reason_code: string;
    reason_message: string;
  }[];
  t.is(letters.length, 1);
  t.like(letters[0], { drawing_id: POISON, reason_code: 'result_rejected' });
  t.regex(letters[0]!.reason_message, /invalid_row/);
  const health = (await getJson(`${service.url}/health`)).body;
  const errors = health.anomalies.filter((a: { type: string }) => a.type === 'processing_error');
  t.deepEqual(errors.map((a: { drawing_id: string }) => a.drawing_id), [POISON]);
  t.is(errors[0].details.code, 'result_rejected');

  // and the writes after it succeed, none of them carrying the refused row again
  const sentWithPoison = () =>
    gcp.bigquery.insertRequests('change_results').filter((b) => b.rows.some((r) => r.json.drawing_id === POISON)).length;
  const poisonSends = sentWithPoison();
  const later = await postJson(`${service.url}/process`, { version_pairs: Array.from({ length: 20 }, (_, i) => pair(`later_${i}`, 4)) });
  t.is(later.status, 202);
  await waitFor(
    async () => ((await getJson(`${service.url}/jobs/${later.body.job_id}`)).body.completed === 20 ? true : undefined),
    60_000,
    'the later job',
  );
  t.is(sentWithPoison(), poisonSends, 'the refused row is never re-sent behind later writes');
  t.true(poisonSends <= 2, `the refused row was sent ${poisonSends} times (once, plus at most one redelivery)`);
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
});
