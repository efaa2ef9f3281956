/**
 * Text from drawings goes into SVG as character data only. Ids and types are arbitrary strings
 * from the input, so everything that XML treats as markup is escaped, and the code points XML 1.0
 * cannot carry at all (most control characters, lone surrogates, U+FFFE/U+FFFF) are replaced,
 * because one of them would make the whole picture unreadable to an XML parser.
 */

const MARKUP = /[&<>"']/g;
const ENTITY: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
// Allowed by XML 1.0: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const NEEDS_WORK = /[&<>"'\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

/**
 * Escapes a string for SVG text content and attribute values alike (`]]>` comes out as `]]&gt;`).
 *
 * @example
 * escapeXml('<script>"x"</script>'); // '&lt;script&gt;&quot;x&quot;&lt;/script&gt;'
 */
export function escapeXml(text: string): string {
  // Most ids need nothing: one test instead of two replaces, since a result may hold 100,000.
  if (!NEEDS_WORK.test(text)) return text;
  return text.replace(NOT_XML, '\uFFFD').replace(MARKUP, (c) => ENTITY[c] as string);
}
