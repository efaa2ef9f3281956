/**
 * The `POST /process` target: inline pairs in requests that stay within the server's pair and
 * body limits (halving a request the server answers 413), so the API itself is under test.
 * Pairs the API must refuse at the door (a version that is not an array, a missing version) go
 * alone, so their expected 400 costs no good pair.
 */
import { inlineTaskJson } from './inline-task.js';
import type { SimItem } from './scenario.js';
import { Bounded, SimulateError, SIMULATE_ERROR_CODES, type Fate, type Target, type TargetReport, type WrittenListener } from './target.js';

/** The server's defaults (MAX_PAIRS_PER_REQUEST, MAX_BODY_BYTES); lower them to match a server. */
export const DEFAULT_MAX_PAIRS = 1000;
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
const ENVELOPE = Buffer.byteLength('{"version_pairs":[]}');

export interface HttpTargetOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  /** Pairs per request. @default 1000 */
  readonly maxPairs?: number;
  /** Bytes per request body. @default 10 MiB */
  readonly maxBodyBytes?: number;
  /** Requests in flight. @default 2 */
  readonly concurrency?: number;
  readonly onWritten?: WrittenListener;
  /** Waits between job polls in `waitForJobs`. @default 200 */
  readonly pollMs?: number;
}

interface Entry {
  readonly json: string;
  readonly bytes: number;
}

/** Inline pairs the API refuses at the door: `parseTaskInput` wants both versions, as arrays. */
export function httpFate(item: SimItem): Fate {
  if (item.kind === 'good') return 'result';
  if (item.kind === 'half') return 'refused';
  return item.malformed.kind === 'not_array' ? 'refused' : 'malformed';
}

export interface HttpTarget extends Target {
  /** Polls `GET /jobs/:id` until every job of the run has no pending task, or the time runs out. */
  waitForJobs(timeoutMs: number): Promise<{ completed: number; failed: number }>;
}

/**
 * @example
 * const target = httpTarget({ url: 'http://127.0.0.1:8080' });
 * for (const item of scenarioItems(options)) await target.write(item);
 * const report = await target.finish();
 */
export function httpTarget(options: HttpTargetOptions): HttpTarget {
  const base = options.url.replace(/\/+$/, '');
  const processUrl = `${base}/process`;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  let maxPairs = options.maxPairs ?? DEFAULT_MAX_PAIRS;
  const bounded = new Bounded(options.concurrency ?? 2);
  const jobs: { seq: number; jobId: string; tasks: number }[] = [];
  let seq = 0;
  let batch: Entry[] = [];
  let batchBytes = ENVELOPE;
  let written = 0;
  let refused = 0;
  let unexpectedlyAccepted = 0;
  let bytes = 0;

  const post = async (entries: readonly Entry[]): Promise<{ status: number; body: Record<string, unknown> | null; size: number }> => {
    const body = `{"version_pairs":[${entries.map((e) => e.json).join(',')}]}`;
    let res: Response;
    try {
      res = await fetch(processUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      throw new SimulateError(SIMULATE_ERROR_CODES.targetUnavailable, `cannot reach ${processUrl}: ${cause}`, { cause: err });
    }
    const text = await res.text();
    let parsed: Record<string, unknown> | null = null;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, size: Buffer.byteLength(body) };
  };

  const serverMessage = (body: Record<string, unknown> | null): string => {
    const error = body?.error as { code?: string; message?: string } | undefined;
    return error?.message ? `${error.code ?? 'error'}: ${error.message}` : 'no error message';
  };

  /** Sends `entries`, halving on 413 and remembering the smaller size for later requests. */
  const send = async (entries: readonly Entry[], order: number): Promise<void> => {
    const { status, body, size } = await post(entries);
    if (status === 202) {
      const jobId = typeof body?.job_id === 'string' ? body.job_id : null;
      if (jobId === null) throw new SimulateError(SIMULATE_ERROR_CODES.targetRefused, `${processUrl} answered 202 without a job_id`);
      jobs.push({ seq: order, jobId, tasks: Number(body?.tasks_created ?? entries.length) });
      written += entries.length;
      bytes += size;
      options.onWritten?.(entries.length, size);
      return;
    }
    if (status === 413 && entries.length > 1) {
      const half = Math.ceil(entries.length / 2);
      maxPairs = Math.min(maxPairs, half);
      await send(entries.slice(0, half), order);
      await send(entries.slice(half), order + 0.5);
      return;
    }
    throw new SimulateError(
      status === 413 ? SIMULATE_ERROR_CODES.tooLarge : SIMULATE_ERROR_CODES.targetRefused,
      `${processUrl} answered ${status} to ${entries.length} pair(s) (${size} bytes): ${serverMessage(body)}`,
    );
  };

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const entries = batch;
    const order = seq++;
    batch = [];
    batchBytes = ENVELOPE;
    await bounded.run(() => send(entries, order));
  };

  /** A pair the API must refuse: alone, expecting 400. */
  const sendRefused = async (entry: Entry, item: SimItem): Promise<void> => {
    const { status, body, size } = await post([entry]);
    if (status === 400) {
      refused += 1;
      bytes += size;
      options.onWritten?.(1, size);
      return;
    }
    if (status === 202) {
      unexpectedlyAccepted += 1;
      const jobId = typeof body?.job_id === 'string' ? body.job_id : null;
      if (jobId) jobs.push({ seq: seq++, jobId, tasks: 1 });
      bytes += size;
      options.onWritten?.(1, size);
      return;
    }
    throw new SimulateError(
      SIMULATE_ERROR_CODES.targetRefused,
      `${processUrl} answered ${status} to pair ${item.index} (${item.drawingId}), expected 400: ${serverMessage(body)}`,
    );
  };

  return {
    name: 'http',
    fate: httpFate,
    async write(item: SimItem) {
      const json = inlineTaskJson(item);
      const entry = { json, bytes: Buffer.byteLength(json) + 1 };
      if (ENVELOPE + entry.bytes > maxBody) {
        throw new SimulateError(
          SIMULATE_ERROR_CODES.tooLarge,
          `pair ${item.index} (${item.drawingId}) is ${entry.bytes} bytes, over the request limit of ${maxBody} bytes ` +
            '(--max-body-bytes, the server\'s MAX_BODY_BYTES); send pairs this large as files (--out) instead',
        );
      }
      if (httpFate(item) === 'refused') {
        await bounded.run(() => sendRefused(entry, item));
        return;
      }
      if (batch.length >= maxPairs || batchBytes + entry.bytes > maxBody) await flush();
      batch.push(entry);
      batchBytes += entry.bytes;
    },
    async finish(): Promise<TargetReport> {
      await flush();
      await bounded.drain();
      return {
        written,
        refused,
        unexpectedlyAccepted,
        bytes,
        jobs: [...jobs].sort((x, y) => x.seq - y.seq).map((j) => j.jobId),
        description: processUrl,
      };
    },
    async waitForJobs(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      let completed = 0;
      let failed = 0;
      for (const job of jobs) {
        for (;;) {
          const state = await jobState(`${base}/jobs/${encodeURIComponent(job.jobId)}`);
          if (state && state.pending === 0) {
            completed += state.completed;
            failed += state.failed;
            break;
          }
          if (Date.now() > deadline) {
            throw new SimulateError(
              SIMULATE_ERROR_CODES.timeout,
              `job ${job.jobId} still has ${state?.pending ?? 'unknown'} pending task(s) after ${Math.round(timeoutMs / 1000)} s`,
            );
          }
          await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
        }
      }
      return { completed, failed };
    },
    async close() {
      await bounded.drain().catch(() => undefined);
    },
  };
}

async function jobState(url: string): Promise<{ completed: number; failed: number; pending: number } | null> {
  try {
    const res = await fetch(url);
    if (res.status !== 200) {
      await res.body?.cancel();
      return null;
    }
    const body = (await res.json()) as { completed?: unknown; failed?: unknown; pending?: unknown };
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return { completed: n(body.completed), failed: n(body.failed), pending: typeof body.pending === 'number' ? body.pending : Number.NaN };
  } catch {
    return null;
  }
}
