/**
 * A deadline for a call into a client library that offers none that cancels (the Google
 * BigQuery client's fetch takes no AbortSignal and ignores its `timeout`): every HTTP request
 * the call starts, however deep in the library and after however many awaits, is destroyed when
 * the deadline passes, so its connection closes instead of waiting on a hung API. Requests are
 * tied to the call by AsyncLocalStorage and seen as Node creates them (the
 * `http.client.request.start` diagnostics channel); requests started outside such a call are
 * never touched.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';

/** What a call given up at its deadline rejects with. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  constructor(readonly deadlineMs: number) {
    super(`no answer within ${deadlineMs / 1000} s; the request was cancelled`);
  }
}

const scope = new AsyncLocalStorage<AbortSignal>();
let listening = false;

function cancelWithScope(message: unknown): void {
  const signal = scope.getStore();
  if (!signal) return;
  const { request } = message as { request: ClientRequest };
  if (signal.aborted) {
    request.destroy(signal.reason as Error);
    return;
  }
  const cancel = () => request.destroy(signal.reason as Error);
  signal.addEventListener('abort', cancel, { once: true });
  request.once('close', () => signal.removeEventListener('abort', cancel));
}

/**
 * Runs `call`, rejecting with DeadlineExceededError after `ms` and destroying every HTTP request
 * it started that is still open (and any it starts later).
 *
 * @example
 * const [rows] = await withHttpDeadline(9_000, () => bigquery.query({ query }));
 */
export async function withHttpDeadline<T>(ms: number, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (!listening) {
    diagnosticsChannel.subscribe('http.client.request.start', cancelWithScope);
    listening = true;
  }
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const reason = new DeadlineExceededError(ms);
      controller.abort(reason);
      reject(reason);
    }, ms);
  });
  try {
    return await scope.run(controller.signal, () => Promise.race([call(controller.signal), expired]));
  } finally {
    clearTimeout(timer);
  }
}
