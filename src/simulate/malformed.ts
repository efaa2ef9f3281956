/**
 * Malformed drawing versions of every kind design.md names, so the dead-letter and data-quality
 * paths get real traffic (the seed's generator never made any). Each spoils one good version in
 * one place and says where, so tests can check the service's error names that very place.
 */
import type { RawDrawingObject } from './generator.js';

/** The malformed kinds of design.md (Input), in the order the simulator rotates through them. */
export const MALFORMED_KINDS = ['not_array', 'not_object', 'missing_field', 'bad_number', 'empty_id', 'duplicate_id'] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** A value written into the JSON text as it stands, for what `JSON.stringify` cannot say (1e999). */
export class RawJson {
  constructor(readonly text: string) {}
}

export interface Spoiled {
  /** The version, possibly holding `RawJson` values: serialize it with `versionText`. */
  readonly value: unknown;
  readonly kind: MalformedKind;
  /** Object index the validator must name; absent for `not_array`. */
  readonly index?: number;
  /** Field the validator must name, where one applies. */
  readonly field?: string;
  /** Which variant of the kind (e.g. `1e999` or `"twelve"` for bad_number), for the summary. */
  readonly variant: string;
}

const FIELDS = ['id', 'type', 'x', 'y', 'width', 'height'] as const;
const NUMBER_FIELDS = ['x', 'y', 'width', 'height'] as const;
/** Non-finite numbers (JSON has none, but `1e999` parses to Infinity) and strings `float()` refuses. */
const BAD_NUMBERS: readonly { readonly value: unknown; readonly variant: string }[] = [
  { value: new RawJson('1e999'), variant: '1e999' },
  { value: 'twelve', variant: '"twelve"' },
  { value: new RawJson('-1e999'), variant: '-1e999' },
  { value: '4,5', variant: '"4,5"' },
  { value: 'NaN', variant: '"NaN"' },
  { value: null, variant: 'null' },
];
const NOT_OBJECTS: readonly { readonly value: (o: RawDrawingObject) => unknown; readonly variant: string }[] = [
  { value: (o) => o.id, variant: 'string' },
  { value: () => null, variant: 'null' },
  { value: (o) => [o.id, o.type, o.x, o.y, o.width, o.height], variant: 'array' },
  { value: (o) => o.x, variant: 'number' },
];

/**
 * Spoils `objects` (a good version, left untouched) with malformation `kind`. `occurrence` picks
 * the variant (the n-th malformed pair of this kind gets variant n modulo the variants), `pick`
 * the object index and field, so a run is repeatable.
 *
 * @example
 * const bad = spoilVersion(b, 'bad_number', 0, rand); // one x, y, width or height becomes 1e999
 * versionText(bad.value); // '[…,{"id":"A3","type":"door","x":1e999,…},…]'
 */
export function spoilVersion(
  objects: readonly RawDrawingObject[],
  kind: MalformedKind,
  occurrence: number,
  pick: () => number,
): Spoiled {
  if (objects.length === 0) throw new RangeError('cannot spoil an empty version');
  const copy: unknown[] = objects.map((o) => ({ ...o }));
  const index = Math.floor(pick() * objects.length);
  const target = objects[index]!;
  const at = (n: number) => occurrence % n;
  switch (kind) {
    case 'not_array':
      // A plausible mistake: the array wrapped in an object.
      return { value: { objects: copy }, kind, variant: 'wrapped in an object' };
    case 'not_object': {
      const v = NOT_OBJECTS[at(NOT_OBJECTS.length)]!;
      copy[index] = v.value(target);
      return { value: copy, kind, index, variant: v.variant };
    }
    case 'missing_field': {
      const field = FIELDS[at(FIELDS.length)]!;
      const o = { ...target } as Record<string, unknown>;
      delete o[field];
      copy[index] = o;
      return { value: copy, kind, index, field, variant: field };
    }
    case 'bad_number': {
      const v = BAD_NUMBERS[at(BAD_NUMBERS.length)]!;
      const field = NUMBER_FIELDS[Math.floor(pick() * NUMBER_FIELDS.length)]!;
      copy[index] = { ...target, [field]: v.value };
      return { value: copy, kind, index, field, variant: v.variant };
    }
    case 'empty_id':
      copy[index] = { ...target, id: '' };
      return { value: copy, kind, index, field: 'id', variant: 'empty string' };
    case 'duplicate_id': {
      if (objects.length === 1) {
        copy.push({ ...target });
        return { value: copy, kind, index: 1, field: 'id', variant: 'repeated object' };
      }
      // The later of the two objects is the one the validator reports.
      let other = Math.floor(pick() * (objects.length - 1));
      if (other >= index) other += 1;
      const [first, second] = other < index ? [other, index] : [index, other];
      copy[second] = { ...objects[second]!, id: objects[first]!.id };
      return { value: copy, kind, index: second, field: 'id', variant: 'two objects, one id' };
    }
  }
}

const RAW_MARK = '\u0000raw:';

/**
 * The JSON text of a version, with `RawJson` values written verbatim.
 *
 * @example
 * versionText([{ x: new RawJson('1e999') }]); // '[{"x":1e999}]'
 */
export function versionText(value: unknown): string {
  let raw = false;
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof RawJson) {
      raw = true;
      return `${RAW_MARK}${v.text}`;
    }
    return v;
  });
  if (!raw) return text;
  // JSON.stringify escapes U+0000 as \u0000, which no ordinary string in a version contains.
  return text.replace(/"\\u0000raw:([^"]*)"/g, '$1');
}

/** The validator message a spoiled version must produce (design.md: names the drawing, index, field). */
export function expectedMessage(spoiled: Spoiled, drawingId: string, which: 'a' | 'b'): RegExp {
  const where = `drawing ${escape(drawingId)}, version_${which}`;
  const object = `${where}, object ${spoiled.index ?? -1}: `;
  switch (spoiled.kind) {
    case 'not_array':
      return new RegExp(`^${where}: must be a JSON array of objects, got an object$`);
    case 'not_object':
      return new RegExp(`^${object}must be an object, got `);
    case 'missing_field':
      return new RegExp(`^${object}field "${spoiled.field}" is missing$`);
    case 'bad_number':
      return new RegExp(`^${object}field "${spoiled.field}" must be a finite number, got `);
    case 'empty_id':
      return new RegExp(`^${object}field "id" must be a non-empty string, got ""$`);
    case 'duplicate_id':
      return new RegExp(`^${object}duplicate id "`);
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
