/**
 * Python's float formatting in TypeScript, because change descriptions must match the seed's
 * Python output character for character (`repr(4.0)` is `4.0`, `f"{0.25:.1f}"` is `0.2`).
 */

/**
 * Python's `repr(float)` (also what `str()` and an f-string `{x}` print): the shortest digits that
 * round-trip, in fixed notation with a trailing `.0` for whole numbers, or in exponent notation
 * when the decimal exponent is below -4 or at least 16.
 *
 * @example
 * pyRepr(4);      // '4.0'
 * pyRepr(1e-5);   // '1e-05'
 * pyRepr(1e16);   // '1e+16'
 * pyRepr(-0);     // '-0.0'
 */
export function pyRepr(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';

  const abs = Math.abs(n);
  // Between 1e-4 and 1e16 both languages print the same shortest digits in fixed notation;
  // Python only adds `.0` to whole numbers. This is the common case, so it skips the slicing.
  if (abs >= 1e-4 && abs < 1e16) {
    const s = String(n);
    return Number.isInteger(n) ? `${s}.0` : s;
  }
  const sign = n < 0 ? '-' : '';
  // toExponential() without an argument gives the same shortest round-trip digits Python uses;
  // only the layout differs, so we take the digits and the exponent and lay them out as Python does.
  const exp = abs.toExponential();
  const e = exp.indexOf('e');
  const mantissa = exp.slice(0, e);
  const exponent = Number(exp.slice(e + 1));
  const digits = mantissa.length > 1 ? mantissa[0] + mantissa.slice(2) : mantissa;
  // Python's decpt: the value is 0.<digits> × 10^decpt.
  const decpt = exponent + 1;

  if (decpt <= -4 || decpt > 16) {
    const abs = Math.abs(exponent);
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/**
 * Python's `f"{n:.1f}"`: the exact binary value rounded to one decimal, exact ties to even.
 * JavaScript's `toFixed(1)` rounds the exact value too but sends ties up and drops the sign of
 * -0, and switches to exponent notation from 1e21; those three cases are handled here.
 *
 * @example
 * pyFixed1(0.25);  // '0.2' (toFixed gives '0.3')
 * pyFixed1(0.35);  // '0.3' (0.35 is really 0.34999…)
 * pyFixed1(-0);    // '-0.0'
 */
export function pyFixed1(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';

  const abs = Math.abs(n);
  const sign = n < 0 || Object.is(n, -0) ? '-' : '';
  // Every double from 2^53 up is a whole number, so its exact decimal digits are its BigInt's.
  if (abs >= 1e21) return `${sign}${BigInt(abs).toString()}.0`;

  // A value lies exactly halfway between two tenths only when it ends in .25 or .75 (4·abs is an
  // odd integer; scaling by a power of two is exact). Halfway, the even tenth wins: .2 and .8.
  const quarter = abs * 4;
  if (Number.isInteger(quarter) && quarter % 2 === 1) {
    const whole = Math.floor(abs);
    return `${sign}${whole}.${abs - whole === 0.25 ? 2 : 8}`;
  }
  // toFixed writes the sign of negatives itself (even those that round to -0.0), but not of -0.
  return n === 0 ? `${sign}0.0` : n.toFixed(1);
}
