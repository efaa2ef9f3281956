/**
 * A backlog many times the flow-control limit, of larger pairs: with MAX_OUTSTANDING_MESSAGES=100
 * and 1,800 waiting pairs of 1,000 objects each (about 430 MiB of inline tasks), the process must
 * hold only what flow control allows, so its memory does not follow the backlog, on the embedded
 * queue and on the official Pub/Sub emulator alike; and every run must complete with the
 * simulator's counts.
 *
 * On the emulator the bound is not MAX_OUTSTANDING_MESSAGES itself: the emulator ignores
 * streaming-pull flow control and packs what is waiting into large responses, which the client
 * holds pending once received (a subscriber allowed 100 messages and 8 MiB was sent 2,000 small
 * messages, 40 MB, at once). The client then stops reading until it has room, so memory follows
 * the size of those responses, not the backlog; real Pub/Sub stops at the configured limits.
 */
import anyTest from 'ava';
import { rmSync } from 'node:fs';
import { runSimulation } from '../../src/simulate/run.js';
import { pubsubTarget } from '../../src/simulate/target-pubsub.js';
import type { ScenarioOptions } from '../../src/simulate/scenario.js';
import { getJson, sleep, startService, tempDir, type ServiceProcess } from '../support/service-process.js';
import { freshTopologyAndDataDir, serviceEnv, withEmulator, type EmulatorContext } from '../support/pubsub-e2e.js';
import { RssSampler } from '../support/fault-rss.js';
import { watchQueue } from '../support/fault-queue.js';
import { enqueueScenario } from '../support/fault-enqueue.js';
import { hourlyTotals, inlineTruth } from '../support/fault-truth.js';

const test = withEmulator(anyTest);

const MAX_OUTSTANDING = 100;
const PAIRS = 1_800;
const OBJECTS = 1_000;
/** A backlog six times the limit, for comparison: long enough for V8 to size its heap for the work. */
const SMALL = 600;
/** Extra peak RSS allowed for the eighteen-times backlog over the six-times one. */
const MAX_EXTRA_MB = 100;

/**
 * Watches a service drain its backlog: RSS every 250 ms, and `during` (e.g. the queue's leases)
 * each time, until /metrics counts every good pair. Returns the RSS account.
 */
async function drainWatched(
  t: import('ava').ExecutionContext,
  service: ServiceProcess,
  rss: RssSampler,
  pairs: number,
  during: () => void = () => {},
): Promise<{ seconds: number }> {
  const started = Date.now();
  rss.phase = 'draining';
  for (;;) {
    during();
    const { body } = await getJson(`${service.url}/metrics`).catch(async (err: unknown) => {
      // A socket closed under a reused connection is retried once; a process that is gone says
      // why, from its own output.
      await sleep(250);
      if (service.child.exitCode === null && service.child.signalCode === null) return getJson(`${service.url}/metrics`);
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? '';
      throw new Error(`GET /metrics failed (${(err as Error).message} ${cause}); exit ${service.child.exitCode}/${service.child.signalCode}: ${service.output().slice(-3000)}`);
    });
    if (hourlyTotals(body).pairs >= pairs) break;
    if (Date.now() - started > 300_000) throw new Error(`backlog not drained in 300 s: ${hourlyTotals(body).pairs} of ${pairs}`);
    if (service.child.exitCode !== null) throw new Error(`service exited: ${service.output().slice(-2000)}`);
    await sleep(250);
  }
  rss.sample();
  const seconds = (Date.now() - started) / 1000;
  t.log(`drained ${pairs} pairs in ${seconds.toFixed(1)} s (${(pairs / seconds).toFixed(0)} pairs/s)`);
  return { seconds };
}

const scenario = (seed: number, pairs: number, prefix: string): ScenarioOptions => ({ seed, pairs, objects: OBJECTS, drawingPrefix: prefix });

interface Drained {
  readonly backlogMb: number;
  readonly peakMb: number;
  readonly maxLeased: number | null;
}

/** One consumer process on an embedded queue holding `pairs` large pairs; returns its peak RSS. */
async function drainLocal(t: import('ava').ExecutionContext, pairs: number, seed: number): Promise<Drained> {
  const dataDir = tempDir('buildtrace-faults-backlog-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const run = scenario(seed, pairs, `local${pairs}_`);
  const enqueued = await enqueueScenario(dataDir, run, `backlog-${pairs}`);
  const backlogMb = enqueued.bytes / 2 ** 20;
  t.log(`[local ${pairs}] queued ${enqueued.tasks} pairs, ${backlogMb.toFixed(0)} MiB, ${(enqueued.tasks / MAX_OUTSTANDING).toFixed(1)}× MAX_OUTSTANDING_MESSAGES`);

  const service = await startService(
    { DATA_DIR: dataDir, CONCURRENCY: '2', MAX_OUTSTANDING_MESSAGES: String(MAX_OUTSTANDING), LOG_LEVEL: 'warn' },
    { timeoutMs: 60_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));
  const rss = new RssSampler(service.child.pid!, 250, 'ready');
  t.teardown(() => rss.stop());
  const queue = watchQueue(dataDir);
  t.teardown(() => queue.close());
  let maxLeased = 0;
  await drainWatched(t, service, rss, inlineTruth(run).totals.pairs, () => {
    maxLeased = Math.max(maxLeased, queue.read().leased);
  });
  t.deepEqual(hourlyTotals((await getJson(`${service.url}/metrics`)).body), { ...inlineTruth(run).totals, failed: 0, malformed: 0 });
  const peakMb = rss.summary().peakMb;
  t.log(`[local ${pairs}] leased at most ${maxLeased} (limit ${MAX_OUTSTANDING}); ${rss.describe()}`);
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null });
  return { backlogMb, peakMb, maxLeased };
}

/** One consumer process on a fresh subscription holding `pairs` large pairs; returns its peak RSS. */
async function drainPubSub(t: import('ava').ExecutionContext<EmulatorContext>, pairs: number, seed: number): Promise<Drained> {
  const { emulator, pubsub } = t.context;
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-faults-backlog-ps-');
  const run = scenario(seed, pairs, `pubsub${pairs}_`);
  const { report, truth } = await runSimulation({ scenario: run, target: await pubsubTarget({ client: pubsub, topic: names.topic, runId: `backlog-${pairs}` }) });
  const backlogMb = report.bytes / 2 ** 20;
  t.log(`[pubsub ${pairs}] published ${report.written} pairs, ${backlogMb.toFixed(0)} MiB in ${truth.sent.seconds.toFixed(1)} s, ${(report.written / MAX_OUTSTANDING).toFixed(1)}× MAX_OUTSTANDING_MESSAGES`);

  const service = await startService(
    serviceEnv(emulator, names, dataDir, { MAX_OUTSTANDING_MESSAGES: String(MAX_OUTSTANDING), LOG_LEVEL: 'warn' }),
    { timeoutMs: 90_000 },
  );
  t.teardown(() => void service.kill('SIGKILL'));
  const rss = new RssSampler(service.child.pid!, 250, 'ready');
  t.teardown(() => rss.stop());
  await drainWatched(t, service, rss, inlineTruth(run).totals.pairs);
  t.deepEqual(hourlyTotals((await getJson(`${service.url}/metrics`)).body), { ...inlineTruth(run).totals, failed: 0, malformed: 0 });
  const peakMb = rss.summary().peakMb;
  t.log(`[pubsub ${pairs}] ${rss.describe()}`);
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null });
  return { backlogMb, peakMb, maxLeased: null };
}

/**
 * Memory must not follow traffic: the peak RSS of a consumer draining 18× its flow-control limit
 * stays within MAX_EXTRA_MB of one draining 6×, although the larger backlog is more than twice
 * that much bigger. An absolute bound would mostly measure V8's heap sizing, which follows the
 * allocation rate of parsing large pairs, not what is retained: on the embedded queue the peak
 * was 368, 382 and 393 MiB for backlogs of 6×, 12× and 24× the limit (145, 289, 579 MiB).
 */
function compare(t: import('ava').ExecutionContext, small: Drained, large: Drained): void {
  const extraMb = large.peakMb - small.peakMb;
  const moreBacklogMb = large.backlogMb - small.backlogMb;
  t.log(
    `peak RSS ${small.peakMb.toFixed(0)} MiB with a ${small.backlogMb.toFixed(0)} MiB backlog, ${large.peakMb.toFixed(0)} MiB with ` +
      `${large.backlogMb.toFixed(0)} MiB: ${extraMb.toFixed(0)} MiB more for ${moreBacklogMb.toFixed(0)} MiB more backlog`,
  );
  t.true(moreBacklogMb > 2 * MAX_EXTRA_MB, 'the extra backlog would break the bound if it were held');
  t.true(extraMb < MAX_EXTRA_MB, `peak RSS grew ${extraMb.toFixed(0)} MiB with the backlog (bound ${MAX_EXTRA_MB} MiB)`);
}

test.serial('embedded queue: 18× the flow-control limit of large pairs drains with RSS independent of the backlog', async (t) => {
  const small = await drainLocal(t, SMALL, 101);
  const large = await drainLocal(t, PAIRS, 102);
  t.true(large.maxLeased! <= MAX_OUTSTANDING && small.maxLeased! <= MAX_OUTSTANDING, 'never more leased than the limit');
  compare(t, small, large);
});

test.serial('Pub/Sub emulator: 18× the flow-control limit of large pairs drains with RSS independent of the backlog', async (t) => {
  const small = await drainPubSub(t, SMALL, 201);
  const large = await drainPubSub(t, PAIRS, 202);
  compare(t, small, large);
});
