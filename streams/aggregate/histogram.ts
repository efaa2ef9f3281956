/**
 * One histogram shape for every latency histogram in every replica, so any two of them add
 * exactly; recording clamps instead of throwing because a latency value must never crash the
 * pipeline (and an out-of-range value aborts the WebAssembly engine).
 */
import { inflateSync } from 'node:zlib';
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  initWebAssemblySync,
  WasmHistogram,
  type BuildRequest,
  type Histogram,
} from 'hdr-histogram-js';
import { CodedError } from '../../src/domain/errors.js';

export type { Histogram };

/** 24 hours in µs: a pair older than a day is clamped to the top bucket, not dropped. */
export const HIGHEST_TRACKABLE_US = 24 * 60 * 60 * 1_000_000;

/**
 * Whether the WebAssembly engine could be loaded. Measured on this project's machine (1e6
 * recorded values, warm): WASM ≈ 20–35 ns per record and ≈ 16–25 µs for p95+p99; plain JS
 * ≈ 100–140 ns per record, over the 60 ns budget. JS remains the fallback where WebAssembly
 * is unavailable; every histogram of the process then uses it, so `add` never mixes engines.
 */
export const HISTOGRAM_ENGINE: 'wasm' | 'js' = loadEngine();

/**
 * The build request every histogram uses. 32-bit buckets: a bucket overflows only after 2^32
 * values within one 0.1 % latency band of one merged view, far beyond this service's rates,
 * and halve the memory of 64-bit buckets (≈ 14 MB against ≈ 23 MB for 50 histograms).
 */
export const HISTOGRAM_REQUEST: Readonly<BuildRequest> = Object.freeze({
  bitBucketSize: 32,
  autoResize: false,
  lowestDiscernibleValue: 1,
  highestTrackableValue: HIGHEST_TRACKABLE_US,
  numberOfSignificantValueDigits: 3,
  useWebAssembly: HISTOGRAM_ENGINE === 'wasm',
} as const);

/** Largest decompressed encoding accepted: a full histogram of this shape is far smaller. */
const MAX_DECODED_BYTES = 4 * 1024 * 1024;
// HdrHistogram V2 encoding cookies (HdrHistogram's encoding spec); the low nibble holds flags.
const V2_COMPRESSED_COOKIE = 0x1c849304;
const V2_COOKIE = 0x1c849303;
const COOKIE_FLAGS_MASK = ~0xf0;
const HEADER_BYTES = 40;

export const HISTOGRAM_ERROR_CODES = {
  invalidHistogram: 'invalid_histogram',
  incompatibleHistogram: 'incompatible_histogram',
} as const;
export type HistogramErrorCode = (typeof HISTOGRAM_ERROR_CODES)[keyof typeof HISTOGRAM_ERROR_CODES];

/** A stored histogram that cannot be decoded, or was built with another shape and cannot be added. */
export class HistogramDecodeError extends CodedError<HistogramErrorCode> {
  override readonly name = 'HistogramDecodeError';
}

function loadEngine(): 'wasm' | 'js' {
  try {
    initWebAssemblySync();
    const probe = build({ useWebAssembly: true });
    const wasm = probe instanceof WasmHistogram;
    probe.destroy();
    return wasm ? 'wasm' : 'js';
  } catch {
    return 'js';
  }
}

/** The exact highest trackable value a built histogram reports (HDR may round it up). */
const BUILT_HIGHEST = (() => {
  const probe = build(HISTOGRAM_REQUEST);
  const highest = probe.highestTrackableValue;
  probe.destroy();
  return highest;
})();

/**
 * A new empty histogram of the shared shape. With the WASM engine its memory is outside the JS
 * heap: whoever creates one must call `destroy()` when discarding it.
 *
 * @example
 * const h = newHistogram();
 * recordMs(h, 12.5);
 * h.destroy();
 */
export function newHistogram(): Histogram {
  return build(HISTOGRAM_REQUEST);
}

/**
 * Records a value in µs, never throwing: negatives (clock skew) and NaN record as 0, values above
 * 24 h record as the maximum, fractions round to the nearest µs.
 */
export function recordMicros(histogram: Histogram, micros: number): void {
  histogram.recordValue(clampMicros(micros));
}

/** Records a value given in ms (µs precision), clamped like `recordMicros`. */
export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(clampMicros(ms * 1000));
}

/** The integer µs value `recordMicros` stores for `micros`. */
export function clampMicros(micros: number): number {
  if (!(micros > 0)) return 0;
  if (micros >= HIGHEST_TRACKABLE_US) return HIGHEST_TRACKABLE_US;
  return Math.round(micros);
}

/** `encodeIntoCompressedBase64`, the form rollups persist. */
export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

/** The encoding of an empty histogram of the shared shape. */
export const EMPTY_HISTOGRAM: string = (() => {
  const h = newHistogram();
  const encoded = encodeHistogram(h);
  h.destroy();
  return encoded;
})();

/**
 * Decodes a rollup histogram after checking its header, so a corrupt or foreign histogram is
 * rejected with a clear error before it allocates memory or reaches `add`.
 *
 * @throws HistogramDecodeError `invalid_histogram` when the text is not an HDR V2 compressed
 *   histogram, `incompatible_histogram` when its shape differs from `HISTOGRAM_REQUEST`.
 * @example
 * const h = decodeHistogram(rollup.processingHistogram);
 * try { total.add(h); } finally { h.destroy(); }
 */
export function decodeHistogram(encoded: string): Histogram {
  const raw = inflateChecked(encoded);
  try {
    return HISTOGRAM_ENGINE === 'wasm'
      ? WasmHistogram.decode(raw, HISTOGRAM_REQUEST.bitBucketSize)
      : decodeFromCompressedBase64(encoded, HISTOGRAM_REQUEST.bitBucketSize, false);
  } catch (err) {
    throw new HistogramDecodeError(HISTOGRAM_ERROR_CODES.invalidHistogram, `histogram payload is corrupt: ${String(err)}`, {
      cause: err,
    });
  }
}

/**
 * Decodes `encoded` and adds it into `target`, releasing the decoded copy.
 *
 * @throws HistogramDecodeError as `decodeHistogram`; `target` is then unchanged.
 */
export function addEncoded(target: Histogram, encoded: string): void {
  const other = decodeHistogram(encoded);
  try {
    target.add(other);
  } finally {
    other.destroy();
  }
}

function inflateChecked(encoded: string): Uint8Array {
  const invalid = (why: string, cause?: unknown) =>
    new HistogramDecodeError(HISTOGRAM_ERROR_CODES.invalidHistogram, `not an HDR histogram: ${why}`, { cause });
  if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded.trim())) {
    throw invalid('expected base64 text');
  }
  const bytes = Buffer.from(encoded.trim(), 'base64');
  if (bytes.length < 8) throw invalid('too short');
  if ((bytes.readInt32BE(0) & COOKIE_FLAGS_MASK) !== V2_COMPRESSED_COOKIE) throw invalid('unknown encoding cookie');
  const compressedLength = bytes.readInt32BE(4);
  if (compressedLength < 0 || 8 + compressedLength > bytes.length) throw invalid('truncated');
  let raw: Buffer;
  try {
    raw = inflateSync(bytes.subarray(8, 8 + compressedLength), { maxOutputLength: MAX_DECODED_BYTES });
  } catch (err) {
    throw invalid('compressed payload does not inflate', err);
  }
  if (raw.length < HEADER_BYTES) throw invalid('header too short');
  if ((raw.readInt32BE(0) & COOKIE_FLAGS_MASK) !== V2_COOKIE) throw invalid('unknown payload cookie');
  const payloadLength = raw.readInt32BE(4);
  if (payloadLength < 0 || HEADER_BYTES + payloadLength > raw.length) throw invalid('payload truncated');
  const digits = raw.readInt32BE(12);
  const lowest = raw.readBigInt64BE(16);
  const highest = raw.readBigInt64BE(24);
  if (
    digits !== HISTOGRAM_REQUEST.numberOfSignificantValueDigits ||
    lowest !== BigInt(HISTOGRAM_REQUEST.lowestDiscernibleValue ?? 1) ||
    highest !== BigInt(BUILT_HIGHEST)
  ) {
    throw new HistogramDecodeError(
      HISTOGRAM_ERROR_CODES.incompatibleHistogram,
      `histogram shape (digits ${digits}, lowest ${lowest}, highest ${highest}) differs from ` +
        `(digits ${HISTOGRAM_REQUEST.numberOfSignificantValueDigits}, lowest ${HISTOGRAM_REQUEST.lowestDiscernibleValue}, highest ${BUILT_HIGHEST})`,
    );
  }
  return raw;
}

/** A histogram's summary in ms (µs precision); zeros when empty, never NaN. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** HDR `getValueAtPercentile` in ms; 0 for an empty histogram. */
export function percentileMs(histogram: Histogram, percentile: number): number {
  if (histogram.totalCount === 0) return 0;
  return histogram.getValueAtPercentile(percentile) / 1000;
}

/**
 * count, p50, p95, p99 and max of a histogram, in ms. The max is the top of its bucket (as the
 * percentiles are) rather than `maxValue`, which is exact live but bucket-rounded once decoded:
 * a live and a restored histogram must report the same numbers.
 */
export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0 };
  const max = Math.min(histogram.getValueAtPercentile(100), HIGHEST_TRACKABLE_US) / 1000;
  // Values past the range are recorded at its top, whose bucket reaches a little beyond it: the
  // percentiles are clamped to the max, so p95 can never read larger than the largest value.
  const at = (percentile: number) => Math.min(percentileMs(histogram, percentile), max);
  return { count: histogram.totalCount, p50: at(50), p95: at(95), p99: at(99), max };
}
