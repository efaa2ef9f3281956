/**
 * What `buildtrace setup` works on: the names and settings of every resource (from the
 * configuration and the command line) and the clients that read and change them.
 */
import { PubSub } from '@google-cloud/pubsub';
import type { Storage } from '@google-cloud/storage';
import type { BigQuery } from '@google-cloud/bigquery';
import type { MetricServiceClient } from '@google-cloud/monitoring';
import type { Config } from '../config.js';
import { topologyOptions, type TopologyOptions } from '../../streams/sources/pubsub-topology.js';
import { createBigQueryClient } from '../../sinks/bigquery/config.js';
import { createStorageClient } from '../infra/storage/client.js';
import { createMonitoringClient, monitoringClientOptions } from '../infra/monitoring/config.js';
import { DashboardsServiceClient } from '@google-cloud/monitoring-dashboards';
import { AlertPolicyServiceClient, NotificationChannelServiceClient } from '@google-cloud/monitoring';
import type { MonitoringClients } from './dashboards.js';
import { monitoringVariables, type TemplateVariables } from './monitoring-files.js';
import { restClient, type RestClient } from './rest.js';

export interface SetupTarget {
  readonly projectId: string;
  /** Region of the buckets; null when the storage part is not planned. */
  readonly region: string | null;
  readonly pubsub: TopologyOptions & { readonly dlqSubscription: string };
  readonly inputBucket: string;
  readonly outputBucket: string;
  /** Objects older than this are deleted by a lifecycle rule. */
  readonly inputRetentionDays: number;
  readonly outputRetentionDays: number;
  readonly dataset: string;
  readonly bigqueryLocation: string;
  /** `buildtrace@PROJECT.iam.gserviceaccount.com`: the identity the service runs as. */
  readonly serviceAccountId: string;
  /** The Kubernetes namespace whose `buildtrace` service account may act as it (Workload Identity). */
  readonly namespace: string;
  /** The thresholds and links filled into the dashboard and alert policy files. */
  readonly monitoringVariables: TemplateVariables;
  /** An e-mail address the alert policies notify (`--notify-email`), or none. */
  readonly notifyEmail: string | null;
  readonly endpoints: {
    readonly iam: string;
    readonly resourceManager: string;
    readonly pubsub: string;
  };
}

export interface SetupClients {
  readonly pubsub: PubSub;
  readonly storage: Storage;
  readonly bigquery: BigQuery;
  readonly monitoring: MetricServiceClient;
  /** Dashboards, alert policies and notification channels (deploy/monitoring/). */
  readonly monitoringConfig: Required<MonitoringClients> & { close(): Promise<void> };
  readonly rest: RestClient;
}

export interface SetupContext {
  readonly target: SetupTarget;
  readonly clients: SetupClients;
}

/** Seven days: the dead letters' subscription keeps them this long (the API's maximum). */
export const DLQ_RETENTION_SECONDS = 7 * 86_400;

export const serviceAccountEmail = (t: SetupTarget): string => `${t.serviceAccountId}@${t.projectId}.iam.gserviceaccount.com`;

/** Clients honouring PUBSUB_EMULATOR_HOST and the *_API_ENDPOINT settings, for `config` with the project and region chosen. */
export function createSetupClients(config: Config): SetupClients {
  return {
    pubsub: new PubSub({
      projectId: config.projectId ?? undefined,
      // From the validated configuration, not only process.env, so setup can be pointed at an emulator.
      ...(config.pubsub.emulatorHost ? { apiEndpoint: config.pubsub.emulatorHost, emulatorMode: true } : {}),
    }),
    storage: createStorageClient(config),
    bigquery: createBigQueryClient(config),
    monitoring: createMonitoringClient(config),
    monitoringConfig: monitoringConfigClients(config),
    rest: restClient,
  };
}

function monitoringConfigClients(config: Config): SetupClients['monitoringConfig'] {
  const options = monitoringClientOptions(config) as never;
  const dashboards = new DashboardsServiceClient(options);
  const alerts = new AlertPolicyServiceClient(options);
  const channels = new NotificationChannelServiceClient(options);
  return {
    dashboards,
    alerts,
    channels,
    close: async () => void (await Promise.allSettled([dashboards.close(), alerts.close(), channels.close()])),
  };
}

export function setupTarget(
  config: Config & { readonly projectId: string },
  options: { region: string | null; inputRetentionDays: number; outputRetentionDays: number; namespace: string; notifyEmail?: string | null },
): SetupTarget {
  // The service's topology (src/registry.ts builds the same settings; setup may not import composition).
  const { topic, subscription, dlqTopic } = config.pubsub;
  const pubsub = topologyOptions({ topic, subscription, dlqTopic, maxDeliveryAttempts: config.maxDeliveryAttempts });
  return {
    projectId: config.projectId,
    region: options.region,
    pubsub: { ...pubsub, dlqSubscription: `${pubsub.dlqTopic}-sub` },
    inputBucket: config.gcp.inputBucket,
    outputBucket: config.gcp.outputBucket,
    inputRetentionDays: options.inputRetentionDays,
    outputRetentionDays: options.outputRetentionDays,
    dataset: config.gcp.dataset,
    bigqueryLocation: config.gcp.bigqueryLocation,
    serviceAccountId: 'buildtrace',
    namespace: options.namespace,
    monitoringVariables: monitoringVariables(config),
    notifyEmail: options.notifyEmail ?? null,
    endpoints: {
      iam: config.gcp.iamEndpoint ?? 'https://iam.googleapis.com',
      resourceManager: config.gcp.resourceManagerEndpoint ?? 'https://cloudresourcemanager.googleapis.com',
      pubsub: config.gcp.pubsubEndpoint ?? 'https://pubsub.googleapis.com',
    },
  };
}
