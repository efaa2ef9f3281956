/**
 * Text as every input path reads it, so a byte-order mark or a broken character means the same
 * thing in an HTTP body, a message, a version file and a JSON string inside a task: a leading BOM
 * is dropped, bytes that are not UTF-8 are refused, and a string holding a lone surrogate (which
 * JSON's `\ud800` escapes can carry) is refused rather than turned into `�` somewhere downstream.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true }); // ignoreBOM false: drops a leading BOM

/** The text without a leading byte-order mark. */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Decodes UTF-8 bytes, dropping a leading BOM.
 *
 * @throws TypeError when the bytes are not UTF-8.
 * @example
 * JSON.parse(utf8Text(await readFile(file)));
 */
export function utf8Text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** A lone surrogate: in `u` mode a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/u;

/** True when the string is well-formed Unicode (no lone surrogate). */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
