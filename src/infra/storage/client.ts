/**
 * How the Cloud Storage client is built from the validated configuration, and the sink's knobs.
 */
import { Storage } from '@google-cloud/storage';

/** Object creates in flight at once for one batch (each is a small request). */
export const DEFAULT_WRITE_CONCURRENCY = 16;

/** What the Storage client is built from: the project and the endpoint override. */
export interface StorageClientSettings {
  readonly projectId: string | null;
  readonly gcp: { readonly storageEndpoint: string | null };
}

/** What a client is for, where it differs from the default. */
export interface StorageClientOptions {
  /**
   * The client's own retries stop this long after a call's first request. For reads with a
   * deadline: a read given up at its deadline would otherwise go on retrying in the background
   * for another 15 s or so.
   */
  readonly retryForMs?: number;
}

/**
 * A Storage client: Application Default Credentials and `STORAGE_API_ENDPOINT` when set. The
 * client skips authentication for a custom endpoint unless told otherwise; an https endpoint is a
 * private Google endpoint that needs credentials, an http one a local fake that does not.
 */
export function createStorageClient(config: StorageClientSettings, options: StorageClientOptions = {}): Storage {
  const endpoint = config.gcp.storageEndpoint;
  return new Storage({
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: endpoint.startsWith('https://') } : {}),
    ...(options.retryForMs === undefined ? {} : { retryOptions: { totalTimeout: options.retryForMs / 1000 } }),
  });
}
