/**
 * Shared pieces of the end-to-end tests that run the built service with `SOURCE=pubsub SINKS=local`
 * against the official emulator: the per-file emulator fixture, names, topology, the service's
 * environment, generated tasks with their ground truth, publishing with the real client, and
 * reading what the service left behind (its log lines, its SQLite file, dead letters).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ExecutionContext, TestFn } from 'ava';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import type { ChangeCounts } from '../../src/domain/types.js';
import { ensureTopology, type TopologyOptions } from '../../streams/sources/pubsub-topology.js';
import { emulatorClient, startEmulator, uniqueId, type RunningEmulator } from './pubsub-emulator.js';
import { getJson, sleep, tempDir, waitFor } from './service-process.js';

/** What a test file sharing one emulator sees in `t.context`. */
export interface EmulatorContext {
  emulator: RunningEmulator;
  pubsub: PubSub;
}

/**
 * Types ava's `test` with an {@link EmulatorContext} and registers the hooks that start one emulator
 * and a real client for the file and always stop both. Why: a cold emulator costs seconds, so a file
 * shares one, and every file must stop it even when `before` failed halfway.
 *
 * @example
 * import anyTest from 'ava';
 * const test = withEmulator(anyTest);
 * test('…', async (t) => {
 *   const { emulator, pubsub } = t.context;
 * });
 */
export function withEmulator(anyTest: TestFn): TestFn<EmulatorContext> {
  const test = anyTest as TestFn<EmulatorContext>;
  test.before(async (t) => {
    t.context.emulator = await startEmulator();
    t.context.pubsub = emulatorClient(t.context.emulator);
  });
  test.after.always(async (t) => {
    // either may be missing when starting the emulator failed
    await t.context.pubsub?.close();
    await t.context.emulator?.stop();
  });
  return test;
}

export interface PubSubNames {
  readonly topic: string;
  readonly subscription: string;
  readonly dlqTopic: string;
  /** Where dead letters are read: the topology names it `<dlqTopic>-sub`. */
  readonly dlqSubscription: string;
}

/** Topic, subscription and dead-letter names no other test uses. */
export function freshNames(): PubSubNames {
  const dlqTopic = uniqueId('dlq');
  return { topic: uniqueId('tasks'), subscription: uniqueId('workers'), dlqTopic, dlqSubscription: `${dlqTopic}-sub` };
}

/**
 * Creates the topology before the service starts, with a 10 s ack deadline and a short retry
 * policy (1–2 s backoff) so retries and dead-lettering fit in a test; the service then finds it
 * and leaves it as it is (ensureTopology never modifies what exists).
 */
export async function createTopology(pubsub: PubSub, names: PubSubNames, overrides: Partial<TopologyOptions> = {}): Promise<void> {
  await ensureTopology(pubsub, {
    topic: names.topic,
    subscription: names.subscription,
    dlqTopic: names.dlqTopic,
    maxDeliveryAttempts: 5,
    ackDeadlineSeconds: 10,
    minBackoffSeconds: 1,
    maxBackoffSeconds: 2,
    ...overrides,
  });
}

/**
 * Fresh names with their topology created on the file's emulator (as `createTopology`), and an
 * empty data dir under the system temp dir, removed when the test ends. Why: almost every service
 * test starts from exactly this, and a data dir left behind would fill the disk over many runs.
 *
 * @example
 * const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-drain-');
 * const service = await startService(serviceEnv(t.context.emulator, names, dataDir));
 */
export async function freshTopologyAndDataDir(
  t: ExecutionContext<EmulatorContext>,
  dataDirPrefix: string,
  overrides: Partial<TopologyOptions> = {},
): Promise<{ names: PubSubNames; dataDir: string }> {
  const names = freshNames();
  await createTopology(t.context.pubsub, names, overrides);
  const dataDir = tempDir(dataDirPrefix);
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return { names, dataDir };
}

/** The environment of a service consuming `names` on the emulator, storing into `dataDir`. */
export function serviceEnv(
  emulator: Pick<RunningEmulator, 'host' | 'projectId'>,
  names: PubSubNames,
  dataDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SOURCE: 'pubsub',
    SINKS: 'local',
    GOOGLE_CLOUD_PROJECT: emulator.projectId,
    PUBSUB_EMULATOR_HOST: emulator.host,
    PUBSUB_TOPIC: names.topic,
    PUBSUB_SUBSCRIPTION: names.subscription,
    PUBSUB_DLQ_TOPIC: names.dlqTopic,
    // no GCE metadata server on a test machine: do not probe for one
    METADATA_SERVER_DETECTION: 'none',
    DATA_DIR: dataDir,
    INPUT_DIR: path.join(dataDir, 'input'),
    CONCURRENCY: '2',
    SHUTDOWN_GRACE_SECONDS: '10',
    ...extra,
  };
}

export interface Truth {
  pairs: number;
  added: number;
  removed: number;
  moved: number;
  modified: number;
}

export const emptyTruth = (): Truth => ({ pairs: 0, added: 0, removed: 0, moved: 0, modified: 0 });

export function addCounts(truth: Truth, counts: ChangeCounts): void {
  truth.pairs += 1;
  truth.added += counts.added;
  truth.removed += counts.removed;
  truth.moved += counts.moved;
  truth.modified += counts.modified;
}

/** One task body to publish, with what the diff of its pair must report. */
export interface GeneratedTask {
  readonly drawingId: string;
  readonly form: 'inline' | 'inline-string' | 'by-reference';
  readonly body: Record<string, unknown>;
  readonly counts: ChangeCounts;
  readonly summary: string;
}

/**
 * `count` tasks in turn inline (arrays), inline (JSON strings, as the seed sends them) and by
 * reference to files written under `<inputDir>/<prefix>/`, with the ground truth computed by the
 * domain's own `validateAndDiff`.
 */
export function generateTasks(
  inputDir: string,
  options: { count: number; objects: number; seed: number; prefix: string; byReferenceOnly?: boolean },
): { tasks: GeneratedTask[]; truth: Truth } {
  const rand = createRandom(options.seed);
  const truth = emptyTruth();
  const tasks: GeneratedTask[] = [];
  for (let i = 0; i < options.count; i++) {
    const drawingId = `${options.prefix}_${String(i).padStart(5, '0')}`;
    const [a, b] = generatePair(rand, { objects: options.objects, modifyProbability: 0.1 });
    const changes = validateAndDiff(a, b, drawingId);
    const counts = countChanges(changes);
    addCounts(truth, counts);
    const form = options.byReferenceOnly ? 'by-reference' : (['inline', 'inline-string', 'by-reference'] as const)[i % 3]!;
    let body: Record<string, unknown>;
    if (form === 'inline') body = { drawing_id: drawingId, version_a: a, version_b: b };
    else if (form === 'inline-string') body = { drawing_id: drawingId, version_a: JSON.stringify(a), version_b: JSON.stringify(b) };
    else {
      const dir = path.join(inputDir, options.prefix, drawingId);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'a.json'), JSON.stringify(a));
      writeFileSync(path.join(dir, 'b.json'), JSON.stringify(b));
      body = {
        drawing_id: drawingId,
        version_a_uri: `${options.prefix}/${drawingId}/a.json`,
        version_b_uri: `${options.prefix}/${drawingId}/b.json`,
      };
    }
    tasks.push({ drawingId, form, body, counts, summary: changes.summary });
  }
  return { tasks, truth };
}

/**
 * Publishes each body (objects are JSON-encoded, strings and buffers go as they are) with the real
 * client and resolves once Pub/Sub has confirmed every one; returns the message ids in order.
 */
export async function publishBodies(
  pubsub: PubSub,
  topic: string,
  bodies: readonly (Record<string, unknown> | string | Buffer)[],
  attributes: (index: number) => Record<string, string> = () => ({}),
): Promise<string[]> {
  const t = pubsub.topic(topic, { batching: { maxMessages: 100, maxMilliseconds: 10 } });
  const ids = await Promise.all(
    bodies.map((body, i) =>
      t.publishMessage({
        data: Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
        attributes: attributes(i),
      }),
    ),
  );
  await t.flush();
  return ids;
}

/** The sums over `hourly_stats` of a `/metrics` body. */
export function totals(metrics: { hourly_stats: Record<string, Record<string, number>> }): Truth & { failed: number } {
  const sum = { ...emptyTruth(), failed: 0 };
  for (const hour of Object.values(metrics.hourly_stats)) {
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += hour[key] ?? 0;
  }
  return sum;
}

/** Waits until `/metrics` at `url` counts at least `pairs` pairs and returns that body. */
export async function waitForPairs(url: string, pairs: number, timeoutMs: number): Promise<any> {
  let seen = 0;
  try {
    return await waitFor(
      async () => {
        const { body } = await getJson(`${url}/metrics`);
        seen = totals(body).pairs;
        return seen >= pairs ? body : undefined;
      },
      timeoutMs,
      `${pairs} pairs in /metrics at ${url}`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (last saw ${seen})`, { cause: err });
  }
}

/**
 * Like `waitForPairs`, but when the count has not moved for `stallMs` it calls `replay` (and
 * keeps waiting): the emulator does not reliably redeliver what a SIGKILLed subscriber had
 * leased, and a seek makes the unacknowledged messages deliverable again. Returns the metrics
 * body and how many replays it took.
 */
export async function waitForPairsReplaying(
  url: string,
  pairs: number,
  options: { timeoutMs: number; stallMs: number; replay: () => Promise<void> },
): Promise<{ metrics: any; replays: number }> {
  const deadline = Date.now() + options.timeoutMs;
  let replays = 0;
  let seen = -1;
  let movedAt = Date.now();
  for (;;) {
    const { body } = await getJson(`${url}/metrics`);
    const now = totals(body).pairs;
    if (now >= pairs) return { metrics: body, replays };
    if (now !== seen) {
      seen = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt >= options.stallMs) {
      await options.replay();
      replays += 1;
      movedAt = Date.now();
    }
    if (Date.now() > deadline) throw new Error(`only ${now} of ${pairs} pairs at ${url} within ${options.timeoutMs} ms (${replays} replays)`);
    await sleep(200);
  }
}

/** The service's SQLite file, opened read-only (the service keeps writing to it in WAL mode). */
export function openStoreFile(dataDir: string): Database.Database {
  return new Database(path.join(dataDir, 'buildtrace.db'), { readonly: true, fileMustExist: true });
}

/** The pino JSON lines the service wrote (non-JSON lines are skipped). */
export function logLines(output: string): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, any>);
    } catch {
      // a line cut by the process being killed
    }
  }
  return lines;
}

/** Delivery attempts the service logged as failed for `drawingId`, in order. */
export function failedAttempts(output: string, drawingId: string): number[] {
  return logLines(output)
    .filter((l) => l.message === 'task failed' && l.drawingId === drawingId)
    .map((l) => Number(l.attempt));
}

/**
 * Everything a plain subscriber receives (and acks) on `subscription` for `ms`: used to read dead
 * letters, and to prove a subscription holds nothing unacknowledged once past its ack deadline.
 */
export async function drain(pubsub: PubSub, subscription: string, ms: number): Promise<Message[]> {
  const received: Message[] = [];
  const sub = pubsub.subscription(subscription);
  let failure: Error | null = null;
  sub.on('error', (err: Error) => (failure = err));
  sub.on('message', (message: Message) => {
    message.ack();
    received.push(message);
  });
  await sleep(ms);
  await sub.close();
  if (failure) throw failure;
  return received;
}

/**
 * Receives (and acks) messages on `subscription` until `done` holds for what has arrived, then
 * keeps listening `settleMs` for extras. Pub/Sub delivers at least once, so a message redelivered
 * to this reader (same message id) is kept once; rejects after `timeoutMs` saying what arrived.
 */
export async function receiveUntil(
  pubsub: PubSub,
  subscription: string,
  done: (messages: readonly Message[]) => boolean,
  { timeoutMs, settleMs = 0 }: { timeoutMs: number; settleMs?: number },
): Promise<Message[]> {
  const byId = new Map<string, Message>();
  const sub = pubsub.subscription(subscription);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${byId.size} message(s) on ${subscription} within ${timeoutMs} ms, not what was awaited`)),
        timeoutMs,
      );
      sub.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
      sub.on('message', (message: Message) => {
        message.ack();
        if (!byId.has(message.id)) byId.set(message.id, message);
        if (done([...byId.values()])) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    if (settleMs > 0) await sleep(settleMs);
  } finally {
    await sub.close();
  }
  return [...byId.values()];
}

/** `|actual - expected| <= relative * expected` (HDR keeps 3 significant digits, about 0.1 %). */
export function closeTo(actual: number, expected: number, relative = 0.01): boolean {
  return Math.abs(actual - expected) <= relative * Math.max(Math.abs(expected), 1e-9);
}
