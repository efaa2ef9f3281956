/**
 * A small fixed pool of diff worker threads, started on first use. Requests queue in the pool
 * only up to the pipeline's concurrency, which already bounds how many pairs are in flight.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MalformedInputError, TransientError, ERROR_CODES, type ErrorCode } from '../../src/domain/errors.js';
import type { ChangeSet } from '../../src/domain/types.js';
import type { DiffRequest } from './diff-pair.js';
import type { WorkerReply } from './diff-worker.js';

interface Pending {
  readonly resolve: (c: ChangeSet) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** Under tsx the sources are `.ts`; in the build they are `.js`. */
const WORKER_FILE = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './diff-worker.ts' : './diff-worker.js', import.meta.url),
);

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
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, request });
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
    const worker = new Worker(WORKER_FILE);
    const slot: Slot = { worker, pending: new Map() };
    worker.on('message', (reply: WorkerReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.changes as ChangeSet);
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
