/**
 * The pure body of the diff stage, shared by the main thread and the diff workers: parse the
 * loaded bytes, validate both versions and diff them in one pass.
 */
import { utf8Text } from '../../src/domain/text.js';
import { MalformedInputError, ERROR_CODES } from '../../src/domain/errors.js';
import { validateAndDiff } from '../../src/domain/diff.js';
import type { ChangeSet, MatchMode } from '../../src/domain/types.js';
import type { LoadedPair, RawVersion } from '../load/load-versions.js';

export interface DiffRequest {
  readonly drawingId: string;
  readonly pair: LoadedPair;
  readonly tolerance: number;
  /** Geometry matching for this pair (src/domain/match.ts); id matching alone when absent. */
  readonly match?: MatchMode;
  readonly radius?: number;
}

function parse(raw: RawVersion, drawingId: string, which: 'a' | 'b'): unknown {
  if (raw.kind === 'value') return raw.value;
  try {
    return JSON.parse(utf8Text(raw.bytes));
  } catch (err) {
    throw new MalformedInputError(
      ERROR_CODES.malformedVersion,
      err instanceof TypeError
        ? `drawing ${drawingId}, version_${which}: not valid UTF-8 text`
        : `drawing ${drawingId}, version_${which}: not valid JSON (${(err as Error).message})`,
      drawingId,
      { version: which },
    );
  }
}

/** Parses, validates and diffs one pair; throws MalformedInputError for bad input. */
export function diffPair(request: DiffRequest): ChangeSet {
  const { drawingId, pair, tolerance, match, radius } = request;
  const a = parse(pair.a, drawingId, 'a');
  const b = parse(pair.b, drawingId, 'b');
  return validateAndDiff(a, b, drawingId, { tolerance, match, radius });
}

/** Rough size of a pair, in objects, to decide whether it is worth a worker thread. */
export function estimatedObjects(pair: LoadedPair): number {
  return weight(pair.a) + weight(pair.b);
}

/** A drawing object in JSON is about 100 bytes; the estimate only has to be right within 2×. */
const BYTES_PER_OBJECT = 100;

function weight(raw: RawVersion): number {
  if (raw.kind === 'bytes') return Math.ceil(raw.bytes.length / BYTES_PER_OBJECT);
  return Array.isArray(raw.value) ? raw.value.length : 0;
}
