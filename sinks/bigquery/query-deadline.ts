/**
 * The server's half of a BigQuery read's deadline: the store passes its deadline as jobs.query's
 * `timeoutMs` (how long the API waits before answering), and this interceptor adds it as the
 * query job's `jobTimeoutMs`, so BigQuery stops the job itself and an abandoned query does not
 * keep running (and billing). The client's half, closing the connection, is withHttpDeadline's.
 * (The library sends `jobTimeoutMs` only by leaving jobs.query for jobs.insert and polling.)
 */

interface RequestOptions {
  method?: string;
  uri?: string;
  json?: Record<string, unknown>;
}

/** The part of the client (`@google-cloud/common`'s Service) that takes interceptors. */
interface Interceptable {
  interceptors: { request?: (reqOpts: RequestOptions) => RequestOptions }[];
}

const INSTALLED = Symbol.for('buildtrace.bigquery.queryDeadline');

/**
 * Sends `timeoutMs` of jobs.query as the job's limit too; idempotent. A
 * client without interceptors (not the Google library) is left as it is.
 *
 * @example
 * enforceQueryDeadlines(bigquery);
 * await bigquery.query({ query, params }, { timeoutMs: 9_000 }); // the job is stopped at ~9 s
 */
export function enforceQueryDeadlines(client: object): void {
  const target = client as Partial<Interceptable> & { [INSTALLED]?: true };
  if (!Array.isArray(target.interceptors) || target[INSTALLED]) return;
  target[INSTALLED] = true;
  target.interceptors.push({
    request(reqOpts) {
      const deadline = queryDeadline(reqOpts);
      if (deadline === null) return reqOpts;
      if (!reqOpts.json || reqOpts.method !== 'POST') return reqOpts;
      return { ...reqOpts, json: { ...reqOpts.json, jobTimeoutMs: String(deadline) } };
    },
  });
}

/** The read's deadline when the request is a jobs.query that carries one. */
function queryDeadline(reqOpts: RequestOptions): number | null {
  const uri = reqOpts.uri ?? '';
  const path = uri.split('?')[0] ?? '';
  if (!path.endsWith('/queries')) return null;
  const raw = reqOpts.json?.timeoutMs;
  const ms = typeof raw === 'string' ? Number(raw) : raw;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : null;
}
