/**
 * The embedded store's `ChangePages`: requests go to one worker thread that reads the database
 * file read-only (WAL lets it read beside the writer) and sends back only the page asked for.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { ChangeHead, ChangeKind, ChangePages, ItemsPage, LatestPage } from '../change-pages.js';
import type { PagesReply, PagesRequest, RetireRequest } from './change-pages-worker.js';

/** Under tsx (tests) the sources are `.ts`; in the build they are `.js` (as in the diff pool). */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './change-pages-worker.ts' : './change-pages-worker.js', import.meta.url);

function workerEntry(): URL | string {
  if (!FROM_SOURCE) return fileURLToPath(WORKER_URL);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(WORKER_URL.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

type Pending = { resolve: (value: unknown) => void; reject: (err: Error) => void };
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A read not answered in this long is given up, and the reader thread replaced. */
export const PAGE_READ_DEADLINE_MS = 9_000;
/** Reads waiting for the reader at most; more are refused at once (503) instead of queueing. */
export const MAX_WAITING_PAGE_READS = 64;
/** Given-up reader threads still finishing their statement at most; past it reads are refused. */
export const MAX_RETIRING_READERS = 2;
/**
 * How long `close()` waits for reader threads to end before terminating them. A given-up thread
 * ends within one slice of its busy wait (250 ms) or one result's parse, so this is only reached
 * by a thread that is truly stuck.
 */
const CLOSE_GRACE_MS = 15_000;

export interface LocalChangePagesOptions {
  /** @default PAGE_READ_DEADLINE_MS */
  readonly deadlineMs?: number;
  /** @default MAX_WAITING_PAGE_READS */
  readonly maxWaiting?: number;
  /** @default MAX_RETIRING_READERS */
  readonly maxRetiring?: number;
}

interface Reader {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  /** Shared with the thread: 1 once the reader is given up, so it skips whatever is queued. */
  readonly retired: Int32Array;
  readonly exited: Promise<void>;
}

/**
 * The reader thread answers one request at a time, so a read stuck in it (a long busy wait on a
 * locked file, a huge result) would hold every request behind it. Each read therefore has a
 * deadline: past it the read fails with everything queued on that thread, the thread is retired
 * and the next read starts a fresh one; no more than `maxWaiting` reads ever wait at once, and
 * no more than `maxRetiring` retired threads ever run at once.
 *
 * A retired thread is never terminated: it finishes the SQLite call it is in and then ends by
 * itself. `Worker.terminate()` during a better-sqlite3 call that then throws (SQLITE_BUSY after
 * the busy wait) aborts the whole process (FATAL ERROR: v8::ToLocalChecked Empty MaybeLocal).
 * The thread waits for a lock in short slices (change-pages-worker.ts), so it is never long
 * inside such a call.
 *
 * @example
 * const pages = new LocalChangePages(path.join(dataDir, DATABASE_FILE));
 * const page = await pages.latest('D1', 1000);
 */
export class LocalChangePages implements ChangePages {
  private reader: Reader | null = null;
  private readonly retiring = new Set<Reader>();
  private nextId = 1;
  private readonly deadlineMs: number;
  private readonly maxWaiting: number;
  private readonly maxRetiring: number;
  /** Reader threads replaced after a read ran past its deadline (for tests and logs). */
  recycled = 0;

  constructor(
    private readonly file: string,
    options: LocalChangePagesOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? PAGE_READ_DEADLINE_MS;
    this.maxWaiting = options.maxWaiting ?? MAX_WAITING_PAGE_READS;
    this.maxRetiring = options.maxRetiring ?? MAX_RETIRING_READERS;
  }

  latest(drawingId: string, perKind: number): Promise<LatestPage | null> {
    return this.ask({ op: 'latest', drawingId, perKind }) as Promise<LatestPage | null>;
  }

  items(drawingId: string, ref: string, kind: ChangeKind, offset: number, limit: number): Promise<ItemsPage | null> {
    return this.ask({ op: 'items', drawingId, ref, kind, offset, limit }) as Promise<ItemsPage | null>;
  }

  summaries(drawingId: string, limit: number): Promise<ChangeHead[]> {
    return this.ask({ op: 'summaries', drawingId, limit }) as Promise<ChangeHead[]>;
  }

  /** Reads sent to the reader and not yet answered. */
  get waiting(): number {
    return this.reader?.pending.size ?? 0;
  }

  /** Retired reader threads that have not ended yet. */
  get retiringThreads(): number {
    return this.retiring.size;
  }

  /** Retires the reader and waits for every thread to end (terminating one stuck past the grace). */
  async close(): Promise<void> {
    const reader = this.reader;
    this.reader = null;
    if (reader) this.retire(reader, 'the result store is closing');
    const threads = [...this.retiring];
    let grace: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>((resolve) => (grace = setTimeout(() => resolve('stuck'), CLOSE_GRACE_MS)));
    const ended = await Promise.race([Promise.all(threads.map((r) => r.exited)), stuck]);
    clearTimeout(grace);
    // The last resort of a shutdown: terminating may abort the process (see above), waiting
    // forever would hang it.
    if (ended === 'stuck') await Promise.all(threads.map((r) => r.worker.terminate()));
  }

  private ask(request: WithoutId<PagesRequest>): Promise<unknown> {
    if (this.waiting >= this.maxWaiting) {
      return Promise.reject(new TransientError(ERROR_CODES.sinkUnavailable, `the result store is busy: ${this.maxWaiting} reads are waiting already`));
    }
    if (!this.reader && this.retiring.size >= this.maxRetiring) {
      return Promise.reject(
        new TransientError(ERROR_CODES.sinkUnavailable, `the result store is busy: ${this.retiring.size} reads past their deadline are still running`),
      );
    }
    const reader = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!reader.pending.has(id)) return;
        this.recycle(reader, `the result reader did not answer within ${this.deadlineMs / 1000} s`);
      }, this.deadlineMs);
      timer.unref();
      const done = () => clearTimeout(timer);
      reader.pending.set(id, {
        resolve: (value) => (done(), resolve(value)),
        reject: (err) => (done(), reject(err)),
      });
      reader.worker.postMessage({ ...request, id });
    });
  }

  /** Fails every read queued on `reader` and retires its thread; the next read starts another. */
  private recycle(reader: Reader, why: string): void {
    this.recycled += 1;
    this.retire(reader, why);
  }

  private retire(reader: Reader, why: string): void {
    if (this.reader === reader) this.reader = null;
    failAll(reader, why);
    Atomics.store(reader.retired, 0, 1);
    Atomics.notify(reader.retired, 0);
    reader.worker.postMessage({ op: 'retire' } satisfies RetireRequest);
    this.retiring.add(reader);
  }

  /** Started on first use, and again after a crash, so a service that never pages holds no thread. */
  private started(): Reader {
    if (this.reader) return this.reader;
    const retired = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(workerEntry(), { workerData: { file: this.file, retired } });
    worker.unref();
    // Not events.once: it rejects on the 'error' a thread emits when its start-up statement throws.
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const reader: Reader = { worker, pending: new Map(), retired, exited };
    worker.on('message', (reply: PagesReply) => {
      const waiting = reader.pending.get(reply.id);
      if (!waiting) return;
      reader.pending.delete(reply.id);
      if (reply.ok) waiting.resolve(reply.value);
      else waiting.reject(new TransientError(ERROR_CODES.sinkUnavailable, `the result store could not be read: ${reply.message}`));
    });
    const fail = (why: string) => {
      if (this.reader === reader) this.reader = null;
      failAll(reader, why);
    };
    worker.on('error', (err) => fail(`the result reader failed: ${err.message}`));
    worker.on('exit', () => {
      this.retiring.delete(reader);
      fail('the result reader stopped');
    });
    this.reader = reader;
    return reader;
  }
}

function failAll(reader: Reader, why: string): void {
  for (const waiting of reader.pending.values()) waiting.reject(new TransientError(ERROR_CODES.sinkUnavailable, why));
  reader.pending.clear();
}
