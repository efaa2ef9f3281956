/**
 * The REST calls setup makes where no Node client library covers them (IAM service accounts,
 * Resource Manager, Pub/Sub IAM policies: the Pub/Sub emulator answers no IAM call), signed by
 * google-auth-library with Application Default Credentials, or with a fixed token for a
 * plaintext loopback endpoint (a local fake), as the BigQuery client does.
 */
import { GoogleAuth } from 'google-auth-library';
import { isPlaintextLoopback, LOOPBACK_ACCESS_TOKEN } from '../../sinks/bigquery/config.js';

export class RestError extends Error {
  override readonly name = 'RestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RestClient {
  /** The JSON answer, or null for 404. */
  get<T>(url: string): Promise<T | null>;
  post<T>(url: string, body: unknown): Promise<T>;
}

let auth: GoogleAuth | null = null;

async function headers(url: string): Promise<Record<string, string>> {
  if (isPlaintextLoopback(url)) return { authorization: `Bearer ${LOOPBACK_ACCESS_TOKEN}` };
  auth ??= new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  const client = await auth.getClient();
  const h = await client.getRequestHeaders(url);
  return Object.fromEntries(h instanceof Headers ? h.entries() : Object.entries(h as Record<string, string>));
}

async function send<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(url, {
    method,
    headers: { ...(await headers(url)), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const json = (text ? JSON.parse(text) : {}) as T & { error?: { message?: string } };
  if (!response.ok && response.status !== 404) {
    throw new RestError(response.status, `${method} ${url}: ${response.status} ${json.error?.message ?? text.slice(0, 200)}`);
  }
  return { status: response.status, json };
}

export const restClient: RestClient = {
  async get<T>(url: string) {
    const { status, json } = await send<T>('GET', url);
    return status === 404 ? null : json;
  },
  async post<T>(url: string, body: unknown) {
    const { status, json } = await send<T>('POST', url, body);
    if (status === 404) throw new RestError(404, `POST ${url}: not found`);
    return json;
  },
};
