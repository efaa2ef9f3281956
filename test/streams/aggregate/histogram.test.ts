import test from 'ava';
import { build, encodeIntoCompressedBase64 } from 'hdr-histogram-js';
import {
  addEncoded,
  clampMicros,
  decodeHistogram,
  EMPTY_HISTOGRAM,
  encodeHistogram,
  HIGHEST_TRACKABLE_US,
  HISTOGRAM_ENGINE,
  HISTOGRAM_REQUEST,
  HistogramDecodeError,
  newHistogram,
  percentileMs,
  recordMicros,
  recordMs,
  summarize,
  type Histogram,
} from '../../../streams/aggregate/histogram.js';

/** Deterministic log-uniform latencies in µs (1 µs to ~160 ms), like a real latency spread. */
function latencies(count: number, seed: number): number[] {
  let state = seed;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    out.push(Math.round(Math.exp((state / 2147483648) * 12)));
  }
  return out;
}

function withHistogram<T>(fn: (h: Histogram) => T): T {
  const h = newHistogram();
  try {
    return fn(h);
  } finally {
    h.destroy();
  }
}

test('every histogram shares one shape: µs from 1 to 24 h, 3 digits, no auto-resize', (t) => {
  t.is(HISTOGRAM_REQUEST.lowestDiscernibleValue, 1);
  t.is(HISTOGRAM_REQUEST.highestTrackableValue, 24 * 3600 * 1e6);
  t.is(HISTOGRAM_REQUEST.numberOfSignificantValueDigits, 3);
  t.false(HISTOGRAM_REQUEST.autoResize);
  t.true(Object.isFrozen(HISTOGRAM_REQUEST));
  // Node 20 ships WebAssembly; the JS engine would miss the recording budget.
  t.is(HISTOGRAM_ENGINE, 'wasm');
});

test('recording clamps instead of throwing: negatives and NaN to 0, beyond 24 h to the max', (t) => {
  t.is(clampMicros(-5), 0);
  t.is(clampMicros(Number.NaN), 0);
  t.is(clampMicros(Number.NEGATIVE_INFINITY), 0);
  t.is(clampMicros(Number.POSITIVE_INFINITY), HIGHEST_TRACKABLE_US);
  t.is(clampMicros(HIGHEST_TRACKABLE_US * 10), HIGHEST_TRACKABLE_US);
  t.is(clampMicros(12.4), 12);
  t.is(clampMicros(12.6), 13);

  withHistogram((h) => {
    t.notThrows(() => {
      recordMs(h, -3);
      recordMs(h, Number.NaN);
      recordMs(h, 1e15);
      recordMicros(h, Number.POSITIVE_INFINITY);
      recordMicros(h, -1e12);
    });
    t.is(h.totalCount, 5);
    t.is(percentileMs(h, 0), 0);
    t.is(summarize(h).max, HIGHEST_TRACKABLE_US / 1000);
    // The engine survived the clamped values and keeps recording.
    recordMs(h, 2.5);
    t.is(h.totalCount, 6);
  });
});

test('an empty histogram summarizes to zeros, not NaN', (t) => {
  withHistogram((h) => {
    t.deepEqual(summarize(h), { count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
    t.is(percentileMs(h, 99), 0);
  });
});

test('ms are recorded with µs precision and reported back in ms', (t) => {
  withHistogram((h) => {
    recordMs(h, 1.234);
    t.is(h.totalCount, 1);
    t.is(percentileMs(h, 50), 1.234);
  });
});

test('encode → decode keeps count, percentiles and max', (t) => {
  withHistogram((h) => {
    for (const v of latencies(20_000, 7)) recordMicros(h, v);
    const decoded = decodeHistogram(encodeHistogram(h));
    try {
      t.deepEqual(summarize(decoded), summarize(h));
    } finally {
      decoded.destroy();
    }
  });
});

test('encode → decode → add across 3 replicas gives the percentiles of one histogram fed all values', (t) => {
  // given three replicas that each saw a different part of the traffic
  const parts = [latencies(30_000, 1), latencies(50_000, 2), latencies(20_000, 3)];
  const encoded = parts.map((values) =>
    withHistogram((h) => {
      for (const v of values) recordMicros(h, v);
      return encodeHistogram(h);
    }),
  );
  const all = parts.flat();

  // when their stored encodings are added into one histogram
  const merged = newHistogram();
  const single = newHistogram();
  try {
    for (const e of encoded) addEncoded(merged, e);
    for (const v of all) recordMicros(single, v);

    // then the merge equals one histogram fed every value, bucket for bucket
    t.is(merged.totalCount, all.length);
    for (const p of [50, 90, 95, 99, 99.9, 100]) {
      t.is(merged.getValueAtPercentile(p), single.getValueAtPercentile(p), `p${p}`);
    }
    // and is within HDR precision (3 digits) of the exact percentile
    const sorted = [...all].sort((a, b) => a - b);
    for (const p of [50, 95, 99]) {
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      const got = merged.getValueAtPercentile(p);
      t.true(Math.abs(got - exact) <= exact * 0.001 + 1, `p${p}: ${got} vs exact ${exact}`);
    }
  } finally {
    merged.destroy();
    single.destroy();
  }
});

test('the empty encoding is a valid empty histogram', (t) => {
  const h = decodeHistogram(EMPTY_HISTOGRAM);
  try {
    t.is(h.totalCount, 0);
  } finally {
    h.destroy();
  }
});

test('a histogram encoded by the plain JS engine with the same shape decodes and adds', (t) => {
  const js = build({ ...HISTOGRAM_REQUEST, useWebAssembly: false });
  js.recordValue(1500);
  js.recordValue(2500);
  const encoded = encodeIntoCompressedBase64(js);
  withHistogram((h) => {
    addEncoded(h, encoded);
    t.is(h.totalCount, 2);
    t.is(percentileMs(h, 100), 2.501);
  });
});

test('decoding rejects text that is not an HDR histogram with invalid_histogram', (t) => {
  const valid = EMPTY_HISTOGRAM;
  const bad = [
    '',
    'not base64 at all!',
    'AAAA',
    Buffer.from('hello world, this is not a histogram').toString('base64'),
    valid.slice(0, 20),
    // right outer cookie, garbage compressed payload
    Buffer.concat([Buffer.from([0x1c, 0x84, 0x93, 0x14, 0, 0, 0, 4]), Buffer.from([1, 2, 3, 4])]).toString('base64'),
  ];
  for (const text of bad) {
    const err = t.throws(() => decodeHistogram(text), { instanceOf: HistogramDecodeError }, JSON.stringify(text));
    t.is(err?.code, 'invalid_histogram');
  }
  // a non-string from a loosely typed store
  t.throws(() => decodeHistogram(undefined as unknown as string), { instanceOf: HistogramDecodeError });
});

test('decoding rejects a histogram of another shape with incompatible_histogram, before adding', (t) => {
  const foreign = build({ ...HISTOGRAM_REQUEST, numberOfSignificantValueDigits: 2, useWebAssembly: false });
  foreign.recordValue(1000);
  const wider = build({ ...HISTOGRAM_REQUEST, highestTrackableValue: HIGHEST_TRACKABLE_US * 100, useWebAssembly: false });
  wider.recordValue(HIGHEST_TRACKABLE_US * 50);
  withHistogram((h) => {
    recordMs(h, 1);
    for (const other of [foreign, wider]) {
      const err = t.throws(() => addEncoded(h, encodeIntoCompressedBase64(other)), { instanceOf: HistogramDecodeError });
      t.is(err?.code, 'incompatible_histogram');
      t.regex(err?.message ?? '', /differs/);
    }
    // the target is untouched
    t.is(h.totalCount, 1);
  });
});
