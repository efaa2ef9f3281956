/**
 * A small fixed pool of diff worker threads, started on first use. Requests queue in the pool
 * only up to the pipeline's concurrency, which already bounds how many pairs are in flight.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MalformedInputError, TransientError, ERROR_CODES, type ErrorCode } from '../../src/domain/errors.js';
import type { ChangeSet } from '../../src/domain/types.js';
import type { DiffRequest } from './diff-pair.js';
import type { ChangeList, WorkerReply, WorkerRequest } from './diff-worker.js';

interface Pending {
  readonly resolve: (c: ChangeSet) => void;
  readonly reject: (e: Error) => void;
  /** The change set's lists, filled slice by slice. */
  readonly lists: Record<ChangeList, unknown[]>;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** Under tsx (tests) the sources are `.ts`; in the build they are `.js`. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './diff-worker.ts' : './diff-worker.js', import.meta.url);

/**
 * Node 20 does not carry `--import tsx`'s loader into worker threads, so from the TypeScript
 * sources a tiny ESM bootstrap registers tsx in the worker before importing the real entry.
 */
function workerEntry(): URL | string {
  if (!FROM_SOURCE) return fileURLToPath(WORKER_URL);
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(WORKER_URL.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`);
}

export class DiffWorkerPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private next = 0;
  private closed = false;

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`Expected pool size to be a whole number from 1 and up, got ${size}`);
  }

  /** Diffs one pair on a worker; rejects as the inline path would (MalformedInputError, etc.). */
  run(request: DiffRequest): Promise<ChangeSet> {
    if (this.closed) return Promise.reject(new TransientError(ERROR_CODES.internal, 'diff worker pool is closed'));
    const slot = this.slot();
    const id = this.nextId++;
    return new Promise<ChangeSet>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, lists: { added: [], removed: [], moved: [], modified: [], renamed: [], ambiguous: [] } });
      slot.worker.postMessage({ type: 'run', id, request } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private slot(): Slot {
    if (this.slots.length < this.size) {
      const slot = this.spawn();
      this.slots.push(slot);
      return slot;
    }
    // Least-loaded worker, round-robin among equals.
    let best = this.slots[this.next % this.slots.length]!;
    for (const s of this.slots) if (s.pending.size < best.pending.size) best = s;
    this.next++;
    return best;
  }

  private spawn(): Slot {
    const worker = new Worker(workerEntry());
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      if (reply.ok && !reply.done) {
        // Ask for the next slice only now: each slice is cloned in its own turn of the event loop.
        for (const item of reply.items) p.lists[reply.list].push(item);
        slot.worker.postMessage({ type: 'next', id: reply.id } satisfies WorkerRequest);
        return;
      }
      slot.pending.delete(reply.id);
      if (reply.ok) {
        // The inline path's shape exactly: `renamed` and `ambiguous` only where geometry matching ran.
        const { renamed, ambiguous, ...idLists } = p.lists;
        const matched = reply.matched ? { renamed, ambiguous } : {};
        p.resolve({ ...(idLists as unknown as Omit<ChangeSet, 'summary'>), ...matched, summary: reply.summary } as ChangeSet);
      }
      else if (reply.malformed) p.reject(new MalformedInputError(reply.code as ErrorCode, reply.message, reply.drawingId, reply.location));
      else p.reject(new Error(reply.message));
    });
    const fail = (err: Error): void => {
      // A crashed worker fails its pairs transiently (they are retried) and is replaced on next use.
      this.slots = this.slots.filter((s) => s !== slot);
      for (const p of slot.pending.values()) p.reject(new TransientError(ERROR_CODES.internal, `diff worker failed: ${err.message}`, { cause: err }));
      slot.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (slot.pending.size > 0) fail(new Error(`exited with code ${code}`));
    });
    return slot;
  }
}

