import test from 'ava';
import { pyFixed1, pyRepr } from '../../src/domain/python-format.js';
import { seedFormat } from '../oracle/run-oracle.js';

test('pyRepr prints whole numbers with .0, as float repr does', (t) => {
  t.is(pyRepr(4), '4.0');
  t.is(pyRepr(-4), '-4.0');
  t.is(pyRepr(0), '0.0');
  t.is(pyRepr(-0), '-0.0');
  t.is(pyRepr(100), '100.0');
  t.is(pyRepr(1234567890123456), '1234567890123456.0');
});

test('pyRepr keeps the shortest round-trip digits', (t) => {
  t.is(pyRepr(0.1), '0.1');
  t.is(pyRepr(2.5), '2.5');
  t.is(pyRepr(0.1 + 0.2), '0.30000000000000004');
  t.is(pyRepr(56.92038748222122), '56.92038748222122');
  t.is(pyRepr(-123.456), '-123.456');
});

test('pyRepr switches to exponent form below 1e-4 and from 1e16', (t) => {
  t.is(pyRepr(0.0001), '0.0001');
  t.is(pyRepr(0.00012), '0.00012');
  t.is(pyRepr(0.00001), '1e-05');
  t.is(pyRepr(0.000012345), '1.2345e-05');
  t.is(pyRepr(-1.5e-7), '-1.5e-07');
  t.is(pyRepr(5e-324), '5e-324');
  t.is(pyRepr(9999999999999998), '9999999999999998.0');
  t.is(pyRepr(1e16), '1e+16');
  t.is(pyRepr(1.5e16), '1.5e+16');
  t.is(pyRepr(1e100), '1e+100');
  t.is(pyRepr(Number.MAX_VALUE), '1.7976931348623157e+308');
});

test('pyRepr names the non-finite values as Python does', (t) => {
  t.is(pyRepr(Infinity), 'inf');
  t.is(pyRepr(-Infinity), '-inf');
  t.is(pyRepr(NaN), 'nan');
});

test('pyFixed1 rounds exact ties to even where toFixed rounds up', (t) => {
  t.is(pyFixed1(0.25), '0.2');
  t.is((0.25).toFixed(1), '0.3'); // the difference this function exists for
  t.is(pyFixed1(0.75), '0.8');
  t.is(pyFixed1(1.25), '1.2');
  t.is(pyFixed1(2.75), '2.8');
  t.is(pyFixed1(-0.25), '-0.2');
  t.is(pyFixed1(1024.25), '1024.2');
  t.is(pyFixed1(2 ** 50 + 0.25), '1125899906842624.2');
});

test('pyFixed1 rounds non-ties on the exact binary value', (t) => {
  t.is(pyFixed1(0.35), '0.3'); // 0.34999…
  t.is(pyFixed1(0.45), '0.5'); // 0.450000000000000011…
  t.is(pyFixed1(0.05), '0.1');
  t.is(pyFixed1(2), '2.0');
  t.is(pyFixed1(4.449999), '4.4');
  t.is(pyFixed1(0.04), '0.0');
});

test('pyFixed1 keeps the sign of zero and of negatives that round to zero', (t) => {
  t.is(pyFixed1(-0), '-0.0');
  t.is(pyFixed1(0), '0.0');
  t.is(pyFixed1(-0.04), '-0.0');
  t.is(pyFixed1(-3.14159), '-3.1');
});

test('pyFixed1 writes huge values in full, never in exponent form', (t) => {
  t.is(pyFixed1(1e21), '1000000000000000000000.0');
  t.is(pyFixed1(-1e22), '-10000000000000000000000.0');
  t.is(pyFixed1(2 ** 60), '1152921504606846976.0');
  t.is(pyFixed1(1e300).length, 303);
  t.is(pyFixed1(Infinity), 'inf');
  t.is(pyFixed1(-Infinity), '-inf');
  t.is(pyFixed1(NaN), 'nan');
});

/** A deterministic generator so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

test('pyRepr and pyFixed1 equal Python on thousands of doubles', async (t) => {
  // given doubles from every exponent (random bits), everyday coordinates, ties and boundaries
  const rand = mulberry32(20240501);
  const values: number[] = [0, -0, Infinity, -Infinity, NaN];
  const view = new DataView(new ArrayBuffer(8));
  for (let i = 0; i < 3000; i++) {
    view.setUint32(0, Math.floor(rand() * 2 ** 32));
    view.setUint32(4, Math.floor(rand() * 2 ** 32));
    values.push(view.getFloat64(0));
  }
  for (let i = 0; i < 2000; i++) values.push((rand() - 0.5) * 200, rand() * 10, (rand() - 0.5) * 10);
  for (let i = -400; i <= 400; i++) values.push(i + 0.25, i + 0.75, i + 0.05, i + 0.15, i + 0.35, i + 0.45, i / 20);
  for (let e = -330; e <= 308; e++) {
    const p = Number(`1e${e}`);
    values.push(p, -p, p * 1.5, p * (1 + Number.EPSILON), p * (1 - Number.EPSILON / 2));
  }
  for (const p of [1e16, 1e-4, 1e21, 2 ** 53]) values.push(p, p * (1 - Number.EPSILON), p * (1 + 2 * Number.EPSILON));

  // when Python formats the same bits
  const expected = await seedFormat(values);

  // then every string is the same
  t.is(expected.length, values.length);
  const mismatches: string[] = [];
  values.forEach((v, i) => {
    const e = expected[i]!;
    if (pyRepr(v) !== e.repr) mismatches.push(`repr(${v}): ours ${pyRepr(v)}, Python ${e.repr}`);
    if (pyFixed1(v) !== e.fixed1) mismatches.push(`fixed1(${v}): ours ${pyFixed1(v)}, Python ${e.fixed1}`);
  });
  t.deepEqual(mismatches.slice(0, 10), []);
});
