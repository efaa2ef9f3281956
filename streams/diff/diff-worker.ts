/**
 * Entry point of a diff worker thread: large pairs are parsed and diffed here so that a
 * 100,000-object drawing never stalls the event loop that serves the API and acks messages.
 */
import { parentPort } from 'node:worker_threads';
import { MalformedInputError } from '../../src/domain/errors.js';
import { diffPair, type DiffRequest } from './diff-pair.js';

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly changes: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly malformed: boolean;
      readonly code: string;
      readonly message: string;
      readonly drawingId: string | null;
      readonly location: MalformedInputError['location'];
    };

parentPort?.on('message', (msg: { id: number; request: DiffRequest }) => {
  let reply: WorkerReply;
  try {
    reply = { id: msg.id, ok: true, changes: diffPair(restoreBuffers(msg.request)) };
  } catch (err) {
    const malformed = err instanceof MalformedInputError;
    reply = {
      id: msg.id,
      ok: false,
      malformed,
      code: malformed ? err.code : 'internal_error',
      message: err instanceof Error ? err.message : String(err),
      drawingId: malformed ? err.drawingId : null,
      location: malformed ? err.location : {},
    };
  }
  parentPort?.postMessage(reply);
});

/** Buffers arrive as Uint8Array after structured cloning. */
function restoreBuffers(request: DiffRequest): DiffRequest {
  const fix = (raw: DiffRequest['pair']['a']): DiffRequest['pair']['a'] =>
    raw.kind === 'bytes' ? { kind: 'bytes', bytes: Buffer.from(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.byteLength) } : raw;
  return { ...request, pair: { a: fix(request.pair.a), b: fix(request.pair.b) } };
}
