/**
 * The two registration tables: which source and which sinks `SOURCE` and `SINKS` name. Each entry
 * opens its components from the validated configuration; nothing registers itself by import.
 * Each component is handed a small options object cut here from the configuration, so no module of
 * streams/ or sinks/ sees a setting it does not read.
 */
import path from 'node:path';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { TaskPublisher, TaskSource } from './domain/source.js';
import type { ResultSink, ResultStore } from './domain/sink.js';
import type { InputStore } from '../streams/load/input-store.js';
import type { ChangePages } from '../sinks/change-pages.js';
import type { SeriesSource } from './infra/monitoring/encode.js';
import { openLocalQueue } from '../streams/sources/local-queue.js';
import type { PubSubSourceOptions } from '../streams/sources/pubsub.js';
import type { TopologySettings } from '../streams/sources/pubsub-topology.js';
import { LocalChangePages } from '../sinks/local-store/change-pages.js';
import { DATABASE_FILE } from './infra/sqlite/database.js';
import { openLocalStore } from '../sinks/local-store/index.js';
import { localInputStore } from '../streams/load/local-files.js';
import type { GcpSinkSettings } from '../sinks/gcp.js';
import type { CloudStorageInputSettings } from '../streams/load/cloud-storage.js';
import type { AggregationSettings } from '../streams/aggregate/aggregation.js';

export interface SourceParts {
  readonly source: TaskSource;
  readonly publisher: TaskPublisher;
  /** Tasks waiting, where the source can tell (the local queue can; Pub/Sub cannot cheaply). */
  readonly backlog?: () => Promise<number>;
  /** Age of the oldest waiting task, where the source can tell (the local queue). */
  readonly oldestTaskAgeMs?: () => Promise<number>;
  close(): Promise<void>;
}

export interface SinkParts {
  readonly sink: ResultSink;
  readonly store: ResultStore;
  readonly input: InputStore;
  /** Sinks that write metrics (Cloud Monitoring) write these beside their own. */
  attachMetrics?(source: SeriesSource): void;
  /** Bounded reads of results for `GET /changes`; without it pages are cut from whole results. */
  readonly changePages?: ChangePages;
  close(): Promise<void>;
}

type Factory<T> = (config: Config, logger: Logger) => Promise<T>;

export const sourceFactories: Record<Config['source'], Factory<SourceParts>> = {
  async local(config, logger) {
    const queue = openLocalQueue({
      dataDir: config.dataDir,
      maxOutstanding: config.pubsub.maxOutstandingMessages,
      leaseSeconds: config.leaseSeconds,
      maxDeliveryAttempts: config.maxDeliveryAttempts,
      logger,
    });
    return {
      source: queue,
      publisher: queue,
      backlog: () => queue.depth(),
      oldestTaskAgeMs: () => queue.oldestTaskAgeMs(),
      close: () => queue.close(),
    };
  },

  async pubsub(config, logger) {
    // Google's client libraries are loaded only by the parts that use them: the embedded default
    // (and every test of it) starts without paying for them.
    const [{ PubSub }, { PubSubSource }, { PubSubPublisher }, { ensureTopology, topologyOptions }] = await Promise.all([
      import('@google-cloud/pubsub'),
      import('../streams/sources/pubsub.js'),
      import('../streams/sources/pubsub-publisher.js'),
      import('../streams/sources/pubsub-topology.js'),
    ]);
    // The client reads PUBSUB_EMULATOR_HOST itself; the project id is required by config.
    const pubsub = new PubSub({ projectId: config.projectId ?? undefined });
    if (shouldEnsureTopology(config)) {
      const { created } = await ensureTopology(pubsub, topologyOptions(topologySettings(config)));
      if (created.length > 0) logger.info({ created }, 'created Pub/Sub topics and subscriptions');
    }
    const source = new PubSubSource(pubsub, pubsubSourceOptions(config, logger));
    const publisher = new PubSubPublisher(pubsub, { topic: config.pubsub.topic });
    return {
      source,
      publisher,
      async close() {
        await source.close();
        await publisher.close();
        await pubsub.close();
      },
    };
  },
};

export const sinkFactories: Record<Config['sinks'], Factory<SinkParts>> = {
  async local(config, logger) {
    const store = openLocalStore({ dataDir: config.dataDir, replicaId: config.replicaId, logger });
    const changePages = new LocalChangePages(path.join(path.resolve(config.dataDir), DATABASE_FILE));
    return {
      sink: store,
      store,
      changePages,
      input: localInputStore({ inputDir: config.inputDir, maxBytes: config.maxVersionBytes }),
      close: async () => {
        await changePages.close();
        await store.close();
      },
    };
  },
  async gcp(config, logger) {
    const [{ createGcpSink }, { openCloudStorageInput }] = await Promise.all([import('../sinks/gcp.js'), import('../streams/load/cloud-storage.js')]);
    const sink = createGcpSink(gcpSinkSettings(config), logger);
    return {
      sink,
      store: sink,
      input: openCloudStorageInput(cloudStorageInputSettings(config)),
      close: () => sink.close(),
      attachMetrics: (source) => sink.attachMetrics(source),
    };
  },
};

/**
 * The Pub/Sub source's options from the configuration.
 *
 * @example
 * const source = new PubSubSource(new PubSub({ projectId }), pubsubSourceOptions(config, logger));
 */
export function pubsubSourceOptions(config: Config, logger?: Logger): PubSubSourceOptions {
  return {
    subscription: config.pubsub.subscription,
    dlqTopic: config.pubsub.dlqTopic,
    maxMessages: config.pubsub.maxOutstandingMessages,
    maxBytes: config.pubsub.maxOutstandingBytes,
    maxLeaseSeconds: config.pubsub.maxLeaseSeconds,
    watchdogSeconds: config.pubsub.watchdogSeconds,
    maxDeliveryAttempts: config.maxDeliveryAttempts,
    ...(logger ? { logger } : {}),
  };
}

/**
 * Whether the service should create missing Pub/Sub resources: always against the emulator, and
 * in a real project only when `PUBSUB_CREATE_TOPOLOGY=true` (production topology is usually
 * managed by infrastructure code, and creating it needs admin rights the service should not hold).
 */
export function shouldEnsureTopology(config: Config, env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return config.pubsub.emulatorHost !== null || env.PUBSUB_CREATE_TOPOLOGY === 'true';
}

/** What the Pub/Sub topology is made from. */
export function topologySettings(config: Config): TopologySettings {
  const { topic, subscription, dlqTopic } = config.pubsub;
  return { topic, subscription, dlqTopic, maxDeliveryAttempts: config.maxDeliveryAttempts };
}

/** What the GCP sink and its clients read of the configuration. */
export function gcpSinkSettings(config: Config): GcpSinkSettings {
  const { gcp } = config;
  return {
    projectId: config.projectId,
    replicaId: config.replicaId,
    gcp: {
      dataset: gcp.dataset,
      bigqueryLocation: gcp.bigqueryLocation,
      outputBucket: gcp.outputBucket,
      monitoringIntervalSeconds: gcp.monitoringIntervalSeconds,
      bigqueryEndpoint: gcp.bigqueryEndpoint,
      storageEndpoint: gcp.storageEndpoint,
      monitoringEndpoint: gcp.monitoringEndpoint,
    },
  };
}

/** What the Cloud Storage input store reads of the configuration. */
export function cloudStorageInputSettings(config: Config): CloudStorageInputSettings {
  return {
    projectId: config.projectId,
    gcp: { storageEndpoint: config.gcp.storageEndpoint, inputBucket: config.gcp.inputBucket },
    maxVersionBytes: config.maxVersionBytes,
  };
}

/** What the aggregation (windows, detectors, rollup flush, restore) reads of the configuration. */
export function aggregationSettings(config: Config): AggregationSettings {
  return {
    replicaId: config.replicaId,
    retentionHours: config.retentionHours,
    rollupFlushSeconds: config.rollupFlushSeconds,
    spikeFactor: config.spikeFactor,
    delayedUploadSeconds: config.delayedUploadSeconds,
    leaseSeconds: config.leaseSeconds,
    pubsub: { maxLeaseSeconds: config.pubsub.maxLeaseSeconds },
  };
}
