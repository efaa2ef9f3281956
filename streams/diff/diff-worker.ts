/**
 * Entry point of a diff worker thread: large pairs are parsed and diffed here so that a
 * 100,000-object drawing never stalls the event loop that serves the API and acks messages.
 * A large change set goes back in slices, one per request from the main thread: cloning 30,000
 * items in one message would stall the main thread as long as diffing them there.
 */
import { parentPort } from 'node:worker_threads';
import { MalformedInputError, errorMessage } from '../../src/domain/errors.js';
import type { ChangeSet } from '../../src/domain/types.js';
import { diffPair, type DiffRequest } from './diff-pair.js';

/** Items per message back to the main thread: each clone stays well under a millisecond. */
export const SLICE_ITEMS = 500;

export type ChangeList = 'added' | 'removed' | 'moved' | 'modified' | 'renamed' | 'ambiguous';
const LISTS: readonly ChangeList[] = ['added', 'removed', 'moved', 'modified', 'renamed', 'ambiguous'];

export type WorkerRequest = { readonly type: 'run'; readonly id: number; readonly request: DiffRequest } | { readonly type: 'next'; readonly id: number };

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly list: ChangeList; readonly items: readonly unknown[]; readonly done: false }
  /** `matched`: geometry matching ran, so `renamed` and `ambiguous` belong in the result even when empty. */
  | { readonly id: number; readonly ok: true; readonly done: true; readonly summary: string; readonly matched: boolean }
  | {
      readonly id: number;
      readonly ok: false;
      readonly malformed: boolean;
      readonly code: string;
      readonly message: string;
      readonly drawingId: string | null;
      readonly location: MalformedInputError['location'];
    };

/** Change sets being sent back, by request id, as iterators over their slices. */
const sending = new Map<number, Iterator<WorkerReply>>();

function* slices(id: number, changes: ChangeSet): Generator<WorkerReply> {
  for (const list of LISTS) {
    const items = changes[list] ?? [];
    for (let i = 0; i < items.length; i += SLICE_ITEMS) {
      yield { id, ok: true, list, items: items.slice(i, i + SLICE_ITEMS), done: false };
    }
  }
  yield { id, ok: true, done: true, summary: changes.summary, matched: changes.renamed !== undefined };
}

function sendNext(id: number): void {
  const iterator = sending.get(id);
  if (!iterator) return;
  const next = iterator.next();
  if (next.done) return void sending.delete(id);
  if (next.value.ok && next.value.done) sending.delete(id);
  parentPort?.postMessage(next.value);
}

parentPort?.on('message', (msg: WorkerRequest) => {
  if (msg.type === 'next') return sendNext(msg.id);
  try {
    sending.set(msg.id, slices(msg.id, diffPair(restoreBuffers(msg.request))));
    sendNext(msg.id);
  } catch (err) {
    const malformed = err instanceof MalformedInputError;
    parentPort?.postMessage({
      id: msg.id,
      ok: false,
      malformed,
      code: malformed ? err.code : 'internal_error',
      message: errorMessage(err),
      drawingId: malformed ? err.drawingId : null,
      location: malformed ? err.location : {},
    } satisfies WorkerReply);
  }
});

/** Buffers arrive as Uint8Array after structured cloning. */
function restoreBuffers(request: DiffRequest): DiffRequest {
  const fix = (raw: DiffRequest['pair']['a']): DiffRequest['pair']['a'] =>
    raw.kind === 'bytes' ? { kind: 'bytes', bytes: Buffer.from(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength) } : raw;
  return { ...request, pair: { a: fix(request.pair.a), b: fix(request.pair.b) } };
}
