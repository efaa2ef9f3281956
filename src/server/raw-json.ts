/**
 * Answers whose large parts arrive already serialised (a page of a stored result, made off the
 * event loop): their bytes are spliced into the body as they are, instead of being parsed and
 * serialised again on the event loop for every page.
 */

/** The UTF-8 bytes of JSON made elsewhere, placed verbatim by `objectJson`. */
export class RawJson {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * The UTF-8 JSON of a flat object whose `RawJson` values are spliced in as they are; other values
 * are serialised as `JSON.stringify` would (an undefined one is left out).
 *
 * @example
 * objectJson({ kind: 'moved', items: new RawJson(Buffer.from('[{"id":"D1"}]')) }).toString() // '{"kind":"moved","items":[{"id":"D1"}]}'
 */
export function objectJson(value: Readonly<Record<string, unknown>>): Buffer {
  const parts: Uint8Array[] = [];
  let text = '{';
  let first = true;
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (v instanceof RawJson) {
      parts.push(Buffer.from(text), v.bytes);
      text = '';
    } else {
      text += JSON.stringify(v);
    }
  }
  parts.push(Buffer.from(`${text}}`));
  return Buffer.concat(parts);
}
