/**
 * The end-to-end row: on the official Pub/Sub emulator, the same N small inline tasks are read
 * by a bare consume-and-ack loop and by the real pipeline (`startService` with SOURCE=pubsub,
 * SINKS=local), each from its own subscription of one topic, with the same flow control; the
 * row is the pipeline's pairs/s over the bare loop's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { loadConfig, type Config } from '../../src/config.js';
import { silentLogger } from '../../src/log.js';
import { startService } from '../../src/service.js';
import { topologySettings } from '../../src/registry.js';
import { runSimulation } from '../../src/simulate/run.js';
import { pubsubTarget } from '../../src/simulate/target-pubsub.js';
import { ensureTopology, topologyOptions } from '../../streams/sources/pubsub-topology.js';
import { emulatorClient, startEmulator, uniqueId, type RunningEmulator } from '../support/pubsub-emulator.js';
import { median, nowMs } from './measure.js';
import type { BenchLine } from './table.js';

export interface PubSubRowOptions {
  /** Tasks per run. */
  readonly pairs: number;
  readonly runs: number;
  readonly log?: (text: string) => void;
}

export const E2E_RATIO_TARGET = 0.75;
const PHASE_TIMEOUT_MS = 180_000;

interface Span {
  first: number;
  last: number;
}

/** Pairs per second between the first message in and the last one done. */
const rate = (n: number, s: Span) => (n - 1) / ((s.last - s.first) / 1000);

/**
 * @example
 * await pubsubRows({ pairs: 5000, runs: 3 });
 */
export async function pubsubRows(options: PubSubRowOptions): Promise<BenchLine[]> {
  options.log?.('e2e: starting the Pub/Sub emulator');
  const emulator = await startEmulator();
  const saved = { host: process.env.PUBSUB_EMULATOR_HOST, metadata: process.env.METADATA_SERVER_DETECTION };
  // The service's registry builds its client from the environment, as in production.
  process.env.PUBSUB_EMULATOR_HOST = emulator.host;
  const client = emulatorClient(emulator);
  const bare: number[] = [];
  const pipeline: number[] = [];
  try {
    for (let run = 0; run < options.runs; run++) {
      const r = await oneRun(emulator, client, run, options);
      bare.push(r.bare);
      pipeline.push(r.pipeline);
      options.log?.(`e2e: run ${run + 1}: bare ${r.bare.toFixed(0)} pairs/s, pipeline ${r.pipeline.toFixed(0)} pairs/s`);
    }
  } finally {
    await client.close().catch(() => undefined);
    await emulator.stop();
    restore('PUBSUB_EMULATOR_HOST', saved.host);
    restore('METADATA_SERVER_DETECTION', saved.metadata);
  }
  const ratio = median(pipeline.map((p, i) => p / bare[i]!));
  return [
    {
      group: 'e2e',
      what: 'end-to-end on the Pub/Sub emulator, 10-object pairs, local sinks',
      measured:
        `pipeline ${median(pipeline).toFixed(0)} pairs/s ÷ bare consume-and-ack ${median(bare).toFixed(0)} pairs/s, ` +
        `${options.pairs.toLocaleString('en-US')} tasks per run, same topic, flow control and stream count; median of ${options.runs} run(s)`,
      value: ratio,
      shown: ratio.toFixed(2),
      target: `≥ ${E2E_RATIO_TARGET}`,
      met: ratio >= E2E_RATIO_TARGET,
      details: { pairs: options.pairs, barePairsPerSecond: bare, pipelinePairsPerSecond: pipeline },
    },
  ];
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

async function oneRun(emulator: RunningEmulator, client: PubSub, run: number, options: PubSubRowOptions): Promise<{ bare: number; pipeline: number }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'buildtrace-bench-'));
  try {
    const config = loadConfig({
      SOURCE: 'pubsub',
      SINKS: 'local',
      GOOGLE_CLOUD_PROJECT: emulator.projectId,
      PUBSUB_EMULATOR_HOST: emulator.host,
      PUBSUB_TOPIC: uniqueId('bench-tasks'),
      PUBSUB_SUBSCRIPTION: uniqueId('bench-workers'),
      PUBSUB_DLQ_TOPIC: uniqueId('bench-dlq'),
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    });
    // given one topic with two subscriptions alike: the service's and the bare loop's
    const topology = topologyOptions(topologySettings(config));
    await ensureTopology(client, topology);
    const bareSubscription = uniqueId('bench-bare');
    await client.topic(topology.topic).createSubscription(bareSubscription, {
      ackDeadlineSeconds: topology.ackDeadlineSeconds,
      deadLetterPolicy: { deadLetterTopic: client.topic(topology.dlqTopic).name, maxDeliveryAttempts: topology.maxDeliveryAttempts },
      retryPolicy: { minimumBackoff: { seconds: topology.minBackoffSeconds }, maximumBackoff: { seconds: topology.maxBackoffSeconds } },
    });
    // and N tasks published to it once, so both read the same messages
    options.log?.(`e2e: run ${run + 1}: publishing ${options.pairs} tasks`);
    await runSimulation({
      scenario: { seed: 500 + run, pairs: options.pairs, objects: 10 },
      target: await pubsubTarget({ client, topic: topology.topic, runId: `bench-${run}` }),
    });
    // when each consumes them, in alternating order across runs
    const measureBare = () => bareLoop(client, bareSubscription, config, options.pairs);
    const measurePipeline = () => realPipeline(config, options.pairs);
    let bare: Span;
    let pipeline: Span;
    if (run % 2 === 0) {
      bare = await measureBare();
      pipeline = await measurePipeline();
    } else {
      pipeline = await measurePipeline();
      bare = await measureBare();
    }
    return { bare: rate(options.pairs, bare), pipeline: rate(options.pairs, pipeline) };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Acks everything, with the service's flow control and one stream, until `n` distinct messages. */
async function bareLoop(client: PubSub, subscription: string, config: Config, n: number): Promise<Span> {
  const sub = client.subscription(subscription, {
    flowControl: { maxMessages: config.pubsub.maxOutstandingMessages, maxBytes: config.pubsub.maxOutstandingBytes, allowExcessMessages: false },
    streamingOptions: { maxStreams: 1 },
  });
  const seen = new Set<string>();
  const span: Span = { first: 0, last: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bare loop: ${seen.size} of ${n} messages within ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
      sub.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sub.on('message', (message: Message) => {
        if (seen.size === 0) span.first = nowMs();
        message.ack();
        seen.add(message.id);
        if (seen.size === n && span.last === 0) {
          span.last = nowMs();
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    await sub.close();
  }
  return span;
}

/** The real service consuming from its subscription until `n` results are durably written. */
async function realPipeline(config: Config, n: number): Promise<Span> {
  const service = await startService(config, silentLogger);
  const span: Span = { first: 0, last: 0 };
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + PHASE_TIMEOUT_MS;
      const poll = setInterval(() => {
        const { received, written } = service.pipeline.stats;
        if (span.first === 0 && received > 0) span.first = nowMs();
        if (written >= n) {
          span.last = nowMs();
          clearInterval(poll);
          resolve();
        } else if (Date.now() > deadline) {
          clearInterval(poll);
          reject(new Error(`pipeline: ${written} of ${n} results within ${PHASE_TIMEOUT_MS} ms`));
        }
      }, 2);
    });
  } finally {
    await service.stop();
  }
  return span;
}
