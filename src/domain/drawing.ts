/**
 * Validation of one drawing version, in one pass and without copying objects that are already
 * well formed, because it runs on every pair and must cost little beside `JSON.parse` itself.
 */
import { ERROR_CODES, MalformedInputError } from './errors.js';
import type { DrawingObject } from './types.js';
import { isWellFormed } from './text.js';

export type VersionName = 'a' | 'b';

/** A validated version and the index of each id in it, which the diff reuses. */
export interface IndexedVersion {
  readonly objects: DrawingObject[];
  readonly indexById: Map<string, number>;
}

/**
 * What Python's `float()` accepts, less what we refuse anyway: surrounding whitespace (the set
 * `float()` strips: `str.isspace` less \x1c–\x1f, not JavaScript's `\s`), a sign, digits with
 * single underscores between them, an optional fraction and exponent. `inf` and `nan` are left
 * out because they are not finite; hex is left out because `float()` refuses it too. Non-ASCII
 * digits, which `float()` also takes, are not accepted.
 */
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const DIGITS = '\\d(?:_?\\d)*';
const PY_FLOAT = new RegExp(
  `^${PY_SPACE}*([+-]?(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?)${PY_SPACE}*$`,
);

/**
 * Validates one drawing version and returns its objects.
 *
 * Objects whose numbers are already numbers are returned as they are (extra fields kept and
 * ignored); an object with numeric strings (`"4.5"`, accepted as the seed's `float()` does) is
 * replaced by a copy holding numbers.
 *
 * @param value the parsed JSON of the version
 * @param drawingId named in error messages
 * @param which `a` or `b`, named in error messages as `version_a` / `version_b`
 * @throws MalformedInputError (`malformed_version`) naming the drawing, the version, the object
 *   index (0-based) and the field, with `location` set.
 *
 * @example
 * validateVersion([{ id: 'D1', type: 'door', x: 4, y: '2', width: 1, height: 2 }], 'D7', 'a');
 * // → [{ id: 'D1', type: 'door', x: 4, y: 2, width: 1, height: 2 }]
 */
export function validateVersion(value: unknown, drawingId: string, which: VersionName): DrawingObject[] {
  return indexVersion(value, drawingId, which).objects;
}

/**
 * {@link validateVersion}, also returning where each id is (the duplicate check builds that map
 * anyway, and the diff needs it).
 */
export function indexVersion(value: unknown, drawingId: string, which: VersionName): IndexedVersion {
  const list = versionArray(value, drawingId, which);
  const n = list.length;
  const objects: DrawingObject[] = [];
  const indexById = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const obj = validateObject(list[i], drawingId, which, i);
    const first = indexById.get(obj.id);
    if (first !== undefined) throw duplicateId(drawingId, which, i, obj.id, first);
    indexById.set(obj.id, i);
    objects.push(obj);
  }
  return { objects, indexById };
}

/**
 * The version itself must be an array.
 *
 * @throws MalformedInputError naming the drawing and the version.
 */
export function versionArray(value: unknown, drawingId: string, which: VersionName): readonly unknown[] {
  if (Array.isArray(value)) return value;
  throw new MalformedInputError(
    ERROR_CODES.malformedVersion,
    `drawing ${drawingId}, version_${which}: must be a JSON array of objects, got ${describeValue(value)}`,
    drawingId,
    { version: which },
  );
}

/**
 * Validates object `index` of a version (everything but the uniqueness of its id).
 *
 * @throws MalformedInputError naming the drawing, the version, the index and the field.
 */
export function validateObject(raw: unknown, drawingId: string, which: VersionName, index: number): DrawingObject {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw malformed(drawingId, which, index, undefined, `must be an object, got ${describeValue(raw)}`);
  }
  const o = raw as Record<string, unknown>;
  const { id, type, x, y, width, height } = o;
  if (typeof id !== 'string' || id.length === 0 || !isWellFormed(id)) throw badString(drawingId, which, index, 'id', id);
  if (typeof type !== 'string' || type.length === 0 || !isWellFormed(type)) throw badString(drawingId, which, index, 'type', type);
  // The common case: four finite numbers, so the parsed object itself is the result.
  if (
    typeof x === 'number' && Number.isFinite(x) &&
    typeof y === 'number' && Number.isFinite(y) &&
    typeof width === 'number' && Number.isFinite(width) &&
    typeof height === 'number' && Number.isFinite(height)
  ) {
    return o as unknown as DrawingObject;
  }
  return {
    ...o,
    id,
    type,
    x: toFinite(drawingId, which, index, 'x', x),
    y: toFinite(drawingId, which, index, 'y', y),
    width: toFinite(drawingId, which, index, 'width', width),
    height: toFinite(drawingId, which, index, 'height', height),
  };
}

/** The error for an id seen before in the same version. */
export function duplicateId(drawingId: string, which: VersionName, index: number, id: string, first: number): MalformedInputError {
  return malformed(drawingId, which, index, 'id', `duplicate id ${JSON.stringify(id)} (first at object ${first})`);
}

/**
 * Every number is finite, but the difference of two can still overflow (-1.7e308 → 1.7e308): such
 * a change cannot be measured, so the pair is malformed rather than reported as "moved inf units"
 * or stored as `null`. Only the pair that overflows is refused; the seed accepts both values alone.
 */
export function unmeasurableChange(drawingId: string, index: number, field: string, from: number, to: number): MalformedInputError {
  return malformed(
    drawingId,
    'b',
    index,
    field,
    `field "${field}" changed from ${from} to ${to}, a difference too large for a double: the change cannot be measured`,
  );
}

/**
 * Parses a number the way Python's `float()` parses a string, refusing what is not finite.
 * Returns `undefined` for anything else (including booleans, which `float()` would take).
 *
 * @example
 * parsePyFloat(' -.5 '); // -0.5
 * parsePyFloat('0x10');  // undefined
 */
export function parsePyFloat(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = PY_FLOAT.exec(value);
  if (m === null) return undefined;
  const n = Number((m[1] as string).replaceAll('_', ''));
  return Number.isFinite(n) ? n : undefined;
}

function toFinite(drawingId: string, which: VersionName, index: number, field: string, value: unknown): number {
  const n = parsePyFloat(value);
  if (n !== undefined) return n;
  // A literal such as 1e309 parses as Infinity; encodeTask writes it as the string "Infinity".
  if (value === 'Infinity' || value === '-Infinity') {
    throw malformed(drawingId, which, index, field, `field "${field}" must be a finite number, got ${value} (a number too large for a double)`);
  }
  if (value === undefined) throw malformed(drawingId, which, index, field, `field "${field}" is missing`);
  throw malformed(drawingId, which, index, field, `field "${field}" must be a finite number, got ${describeValue(value)}`);
}

function badString(drawingId: string, which: VersionName, index: number, field: string, value: unknown): MalformedInputError {
  if (value === undefined) return malformed(drawingId, which, index, field, `field "${field}" is missing`);
  if (typeof value === 'string' && value.length > 0) {
    return malformed(drawingId, which, index, field, `field "${field}" is not well-formed Unicode (it holds a lone surrogate)`);
  }
  return malformed(drawingId, which, index, field, `field "${field}" must be a non-empty string, got ${describeValue(value)}`);
}

function malformed(
  drawingId: string,
  which: VersionName,
  index: number,
  field: string | undefined,
  problem: string,
): MalformedInputError {
  return new MalformedInputError(
    ERROR_CODES.malformedVersion,
    `drawing ${drawingId}, version_${which}, object ${index}: ${problem}`,
    drawingId,
    field === undefined ? { version: which, index } : { version: which, index, field },
  );
}

const MAX_SHOWN = 40;

/**
 * A short, unambiguous rendering of an offending value for an error message: strings quoted and
 * cut to 40 characters, numbers as JavaScript prints them (so `Infinity`, not JSON's `null`).
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value;
      return JSON.stringify(shown);
    }
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'undefined':
      return 'nothing';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
