/**
 * The simulator against real receivers: `POST /process` on a real in-process service (the
 * ground truth must equal what `/metrics` then counts), files then `POST /process
 * {storage_path}`, Cloud Storage through the real client on the local fake, and Pub/Sub on the
 * official emulator.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService, type Service } from '../../src/service.js';
import { decodeTask } from '../../src/domain/task.js';
import { runSimulateCli, type SimulateIo } from '../../src/simulate/cli.js';
import { filesTarget } from '../../src/simulate/target-files.js';
import { runSimulation } from '../../src/simulate/run.js';
import type { TruthFile } from '../../src/simulate/truth.js';
import { startFakeGcs } from '../support/fake-gcs.js';
import { emulatorClient, receiveMessages, startEmulator, uniqueId } from '../support/pubsub-emulator.js';
import { freePort, getJson, postJson, waitFor } from '../support/service-process.js';

function io(): SimulateIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    progress: { write: (s: string) => (err += s), isTTY: false },
    stdout: () => out,
    stderr: () => err,
  };
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A real service on port 0 with a temporary DATA_DIR, stopped after the test. */
async function service(t: { teardown(fn: () => Promise<void>): void }, dataDir: string, env: Record<string, string> = {}): Promise<Service> {
  const config = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', BATCH_MAX_WAIT_MS: '5', ...env });
  const svc = await startService(config, silentLogger);
  t.teardown(() => svc.stop());
  return svc;
}

interface Totals {
  pairs: number;
  added: number;
  removed: number;
  moved: number;
  modified: number;
  failed: number;
  malformed: number;
}

async function metricTotals(url: string): Promise<Totals> {
  const { body } = await getJson(`${url}/metrics`);
  const totals: Totals = { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, failed: 0, malformed: 0 };
  for (const hour of Object.values(body.hourly_stats as Record<string, Totals>)) {
    for (const key of Object.keys(totals) as (keyof Totals)[]) totals[key] += hour[key] ?? 0;
  }
  return totals;
}

/** Waits until the service has counted `outcomes` pairs (results plus failures). */
function settled(url: string, outcomes: number): Promise<Totals> {
  return waitFor(
    async () => {
      const totals = await metricTotals(url);
      return totals.pairs + totals.failed >= outcomes ? totals : undefined;
    },
    60_000,
    `${outcomes} outcomes in /metrics`,
  );
}

test('POST /process target: the ground truth equals what the service counts', async (t) => {
  // given a real service and a run with every kind of pair
  const dir = tmp(t);
  const svc = await service(t, path.join(dir, 'data'));
  const truthFile = path.join(dir, 'truth.json');
  const cap = io();
  // when the simulator posts it and waits for the jobs
  const code = await runSimulateCli(
    ['--url', svc.url, '--pairs', '120', '--objects', '12', '--malformed-rate', '0.2', '--half-rate', '0.05', '--modified-rate', '0.1', '--drawings', '30', '--spike',
      '--seed', '77', '--batch', '25', '--truth', truthFile, '--wait', '--wait-timeout', '60'],
    cap,
    {},
  );
  t.is(code, 0, cap.stderr());
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as TruthFile;

  // then pairs the API must refuse were refused, the rest accepted in requests of at most 25
  t.is(truth.target, 'http');
  t.true(truth.expected.refused > 0 && truth.expected.malformed_failures > 0);
  t.is(truth.sent.refused, truth.expected.refused);
  t.is(truth.sent.unexpectedly_accepted, 0);
  t.is(truth.sent.written, truth.expected.results + truth.expected.malformed_failures);
  t.true((truth.sent.jobs?.length ?? 0) >= Math.ceil(truth.sent.written / 25));
  t.deepEqual(truth.sent.jobs_done, { completed: truth.expected.results, failed: truth.expected.malformed_failures });

  // and /metrics counts exactly the ground truth
  const totals = await settled(svc.url, truth.sent.written);
  t.deepEqual(totals, {
    pairs: truth.expected.results,
    ...truth.changes,
    failed: truth.expected.malformed_failures,
    malformed: truth.expected.malformed_failures,
  });
  t.true(truth.changes.modified > 0);

  // and the spike drawing's latest result is the spike
  const { body: latest } = await getJson(`${svc.url}/changes?drawing_id=${truth.spike?.drawing_id}`);
  const changes = latest.added.length + latest.removed.length + latest.moved.length + latest.modified.length;
  t.is(changes, truth.spike?.changes);
  t.regex(cap.stdout(), /refused +\d+ answered 400 as expected/);
});

test('POST /process target: requests are halved when the server answers 413', async (t) => {
  const dir = tmp(t);
  const svc = await service(t, path.join(dir, 'data'), { MAX_PAIRS_PER_REQUEST: '7' });
  const cap = io();
  const truthFile = path.join(dir, 'truth.json');
  t.is(await runSimulateCli(['--url', svc.url, '--pairs', '40', '--seed', '5', '--batch', '30', '--quiet', '--truth', truthFile], cap, {}), 0, cap.stderr());
  const truth = JSON.parse(readFileSync(truthFile, 'utf8')) as TruthFile;
  t.is(truth.sent.written, 40);
  // 30 → 15 → 8 → 4 per request once the limit of 7 is found
  t.true((truth.sent.jobs?.length ?? 0) >= 6);
  const totals = await settled(svc.url, 40);
  t.is(totals.pairs, 40);
});

test('POST /process target: a pair over the body limit, and an unreachable server, fail with exit 1', async (t) => {
  const tooLarge = io();
  t.is(await runSimulateCli(['--url', 'http://127.0.0.1:9', '--pairs', '2', '--objects', '100', '--max-body-bytes', '4096', '--quiet'], tooLarge, {}), 1);
  t.regex(tooLarge.stderr(), /^simulate: pair 0 \(drawing_0000\) is \d+ bytes, over the request limit of 4096 bytes .*send pairs this large as files \(--out\) instead\n$/);
  const down = io();
  const port = await freePort();
  t.is(await runSimulateCli(['--url', `http://127.0.0.1:${port}`, '--pairs', '2', '--quiet'], down, {}), 1);
  t.regex(down.stderr(), new RegExp(`^simulate: cannot reach http://127\\.0\\.0\\.1:${port}/process: .*ECONNREFUSED`));
});

test('files target, then POST /process {storage_path}: pairs become tasks, half pairs missing uploads', async (t) => {
  // given files written into the service's input directory
  const dir = tmp(t);
  const dataDir = path.join(dir, 'data');
  const svc = await service(t, dataDir);
  const { truth, report } = await runSimulation({
    scenario: { seed: 31, pairs: 50, objects: 15, malformedRate: 0.15, halfRate: 0.1 },
    target: filesTarget({ dir: path.join(dataDir, 'input', 'batch-1'), revisions: 1 }),
  });
  t.deepEqual(report.storagePaths, [path.join(dataDir, 'input', 'batch-1')]);
  // when the folder is posted
  const res = await postJson(`${svc.url}/process`, { storage_path: 'batch-1' });
  // then each complete pair is a task and each lone version a missing upload
  t.is(res.status, 202, JSON.stringify(res.body));
  t.is(res.body.tasks_created, truth.expected.results + truth.expected.malformed_failures);
  t.is(res.body.missing_uploads, truth.expected.missing_uploads);
  t.true(truth.half_pairs > 0 && truth.malformed.total > 0);
  const totals = await settled(svc.url, res.body.tasks_created);
  t.deepEqual(totals, { pairs: truth.good_pairs, ...truth.changes, failed: truth.malformed.total, malformed: truth.malformed.total });
  const health = await getJson(`${svc.url}/health`);
  const missing = (health.body.anomalies as { type: string }[]).filter((a) => a.type === 'missing_upload');
  t.is(missing.length, truth.half_pairs);
});

test('gs:// target: the seed layout in Cloud Storage through the real client, byte for byte the files target', async (t) => {
  const gcs = await startFakeGcs();
  t.teardown(() => gcs.close());
  gcs.createBucket('buildtrace-input-test');
  const dir = tmp(t);
  const common = ['--pairs', '20', '--seed', '9', '--half-rate', '0.2', '--malformed-rate', '0.2', '--quiet'];
  const cap = io();
  const code = await runSimulateCli(['--out', 'gs://buildtrace-input-test/input/', ...common, '--truth', path.join(dir, 't.json')], cap, {
    STORAGE_API_ENDPOINT: gcs.url,
    GOOGLE_CLOUD_PROJECT: 'buildtrace-test',
  });
  t.is(code, 0, cap.stderr());
  t.is(await runSimulateCli(['--out', path.join(dir, 'local'), ...common], io(), {}), 0);

  const objects = gcs.objects('buildtrace-input-test');
  const truth = JSON.parse(readFileSync(path.join(dir, 't.json'), 'utf8')) as TruthFile;
  t.is(objects.length, 2 * 20 - truth.half_pairs);
  for (const object of objects) {
    t.true(object.name.startsWith('input/drawing_'), object.name);
    t.is(object.contentType, 'application/json');
    t.is(object.data.toString(), readFileSync(path.join(dir, 'local', object.name.slice('input/'.length)), 'utf8'));
  }
  // single-request uploads, as the fake (and small objects) want
  t.true(gcs.requests.filter((r) => r.method === 'POST').every((r) => r.query.get('uploadType') === 'multipart'));
  t.deepEqual(truth.sent.storage_paths, ['gs://buildtrace-input-test/input/']);

  const missing = io();
  t.is(await runSimulateCli(['--out', 'gs://no-such-bucket/x', '--pairs', '1', '--quiet'], missing, { STORAGE_API_ENDPOINT: gcs.url }), 1);
  t.regex(missing.stderr(), /^simulate: cannot upload gs:\/\/no-such-bucket\/x\/drawing_0000\/version_a\.json: /);
});

test('Pub/Sub target on the emulator: one inline task per pair, decodable, with ids in attributes', async (t) => {
  const emulator = await startEmulator();
  t.teardown(() => emulator.stop());
  const pubsub = emulatorClient(emulator);
  t.teardown(() => pubsub.close());
  const topic = uniqueId('sim-topic');
  const subscription = uniqueId('sim-sub');
  await pubsub.createTopic(topic);
  await pubsub.topic(topic).createSubscription(subscription);
  const env = { GOOGLE_CLOUD_PROJECT: emulator.projectId, PUBSUB_EMULATOR_HOST: emulator.host };
  const dir = tmp(t);

  // when the simulator publishes 150 pairs, some malformed and some half
  const cap = io();
  const code = await runSimulateCli(
    ['--pubsub', topic, '--pairs', '150', '--seed', '12', '--malformed-rate', '0.1', '--half-rate', '0.1', '--truth', path.join(dir, 't.json')],
    cap,
    env,
  );
  t.is(code, 0, cap.stderr());
  const truth = JSON.parse(readFileSync(path.join(dir, 't.json'), 'utf8')) as TruthFile;
  t.is(truth.sent.written, 150);
  t.is(truth.expected.malformed_failures, truth.malformed.total + truth.half_pairs);
  t.regex(cap.stderr(), /simulate: 150\/150 pairs \(100%\)/);

  // then every message arrives once, with the run's ids, and decodes as the consumer would
  const messages = await receiveMessages(pubsub, subscription, 150, { timeoutMs: 60_000, settleMs: 500 });
  t.is(messages.length, 150);
  const ids = new Set(messages.map((m) => m.attributes.task_id));
  t.is(ids.size, 150);
  t.true([...ids].every((id) => /^sim-12:\d+$/.test(id ?? '')));
  let decoded = 0;
  let refused = 0;
  for (const m of messages) {
    t.is(m.attributes.job_id, 'sim-12');
    const attributes = m.attributes as Record<string, string>;
    try {
      const task = decodeTask(m.data, attributes);
      t.is(task.taskKey, attributes.task_id as string);
      t.is(task.drawingId, attributes.drawing_id as string);
      decoded += 1;
    } catch {
      refused += 1;
    }
  }
  // half pairs and versions that are not arrays fail decoding; the rest fail (if at all) in the diff
  t.is(refused, truth.half_pairs + truth.malformed.by_kind.not_array);
  t.is(decoded + refused, 150);

  // a topic that does not exist is a clear failure, not a hang
  const missing = io();
  t.is(await runSimulateCli(['--pubsub', 'no-such-topic', '--pairs', '1', '--quiet'], missing, env), 1);
  t.regex(missing.stderr(), /^simulate: Pub\/Sub topic no-such-topic does not exist: start the service once/);
});
