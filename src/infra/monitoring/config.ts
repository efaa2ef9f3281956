/**
 * How the Cloud Monitoring client is built from the validated configuration (the metric names and
 * limits, which need no client, are in metrics.ts).
 */
import { MetricServiceClient } from '@google-cloud/monitoring';
// The transport the Monitoring client itself loads (a dependency of @google-cloud/monitoring):
// channel credentials must come from that very gRPC module.
import { grpc } from 'google-gax';

/** The bearer token a loopback endpoint is offered instead of credentials (it checks none). */
export const LOOPBACK_ACCESS_TOKEN = 'buildtrace-loopback';

/** `host` (of `host:port`) is 127.0.0.0/8, ::1 or localhost: a local fake, never Google. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** What a Monitoring client is built from: the project and the endpoint override. */
export interface MonitoringClientSettings {
  readonly projectId: string | null;
  readonly gcp: { readonly monitoringEndpoint: string | null };
}

type ClientOptions = NonNullable<ConstructorParameters<typeof MetricServiceClient>[0]>;

/**
 * For a loopback endpoint: plaintext gRPC (a local fake has no certificate) and an auth client
 * with a fixed token, so Application Default Credentials are never looked up. gRPC carries no
 * call credentials over an insecure channel, so the token is what the client would use for
 * anything else it asks of its auth client.
 */
function loopbackOptions(): Partial<ClientOptions> {
  const authClient = {
    getRequestHeaders: async () => new Headers({ authorization: `Bearer ${LOOPBACK_ACCESS_TOKEN}` }),
  };
  return { sslCreds: grpc.credentials.createInsecure(), authClient } as unknown as Partial<ClientOptions>;
}

/**
 * A MetricServiceClient (gRPC) with Application Default Credentials, and
 * `MONITORING_API_ENDPOINT` (host:port, TLS) when set, e.g. a private endpoint. A loopback
 * host:port is a local fake: plaintext, and no credentials.
 *
 * @example
 * const client = createMonitoringClient(loadConfig({ GOOGLE_CLOUD_PROJECT: 'p', MONITORING_API_ENDPOINT: '127.0.0.1:9060' }));
 */
export function createMonitoringClient(config: MonitoringClientSettings): MetricServiceClient {
  return new MetricServiceClient(monitoringClientOptions(config));
}

/**
 * The options every Cloud Monitoring client is built with (metrics, and setup's dashboards, alert
 * policies and notification channels, which share the endpoint): project, `MONITORING_API_ENDPOINT`,
 * and plaintext without credentials for a loopback fake.
 */
export function monitoringClientOptions(config: MonitoringClientSettings): ClientOptions {
  const endpoint = config.gcp.monitoringEndpoint;
  const at = endpoint ? endpoint.lastIndexOf(':') : -1;
  const host = endpoint ? endpoint.slice(0, at).replace(/^\[|\]$/g, '') : '';
  return {
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(endpoint ? { apiEndpoint: host, port: Number(endpoint.slice(at + 1)) } : {}),
    ...(endpoint && isLoopbackHost(host) ? loopbackOptions() : {}),
  };
}
