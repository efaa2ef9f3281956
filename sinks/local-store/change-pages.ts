/**
 * The embedded store's `ChangePages`: requests go to one worker thread that reads the database
 * file read-only (WAL lets it read beside the writer) and sends back only the page asked for.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { ChangeHead, ChangeKind, ChangePages, ItemsPage, LatestPage } from '../change-pages.js';
import type { PagesReply, PagesRequest } from './change-pages-worker.js';

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

/**
 * @example
 * const pages = new LocalChangePages(path.join(dataDir, DATABASE_FILE));
 * const page = await pages.latest('D1', 1000);
 */
export class LocalChangePages implements ChangePages {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(private readonly file: string) {}

  latest(drawingId: string, perKind: number): Promise<LatestPage | null> {
    return this.ask({ op: 'latest', drawingId, perKind }) as Promise<LatestPage | null>;
  }

  items(drawingId: string, ref: string, kind: ChangeKind, offset: number, limit: number): Promise<ItemsPage | null> {
    return this.ask({ op: 'items', drawingId, ref, kind, offset, limit }) as Promise<ItemsPage | null>;
  }

  summaries(drawingId: string, limit: number): Promise<ChangeHead[]> {
    return this.ask({ op: 'summaries', drawingId, limit }) as Promise<ChangeHead[]>;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  private ask(request: WithoutId<PagesRequest>): Promise<unknown> {
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  }

  /** Started on first use, and again after a crash, so a service that never pages holds no thread. */
  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(workerEntry(), { workerData: { file: this.file } });
    worker.unref();
    worker.on('message', (reply: PagesReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if (reply.ok) waiting.resolve(reply.value);
      else waiting.reject(new TransientError(ERROR_CODES.sinkUnavailable, `the result store could not be read: ${reply.message}`));
    });
    const fail = (why: string) => {
      if (this.worker === worker) this.worker = null;
      for (const waiting of this.pending.values()) waiting.reject(new TransientError(ERROR_CODES.sinkUnavailable, why));
      this.pending.clear();
    };
    worker.on('error', (err) => fail(`the result reader failed: ${err.message}`));
    worker.on('exit', () => fail('the result reader stopped'));
    this.worker = worker;
    return worker;
  }
}
