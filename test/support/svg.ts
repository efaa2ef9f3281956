/**
 * Reads an overlay the way a client would: a strict XML parse (fast-xml-parser's validator, then
 * its tree) and small queries over the tree, so tests count classes instead of matching text.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface SvgNode {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly SvgNode[];
  /** Text directly inside the element, entities decoded. */
  readonly text: string;
}

/** Parses an SVG document, throwing with the parser's reason when it is not well-formed XML. */
export function parseSvg(svg: string): SvgNode {
  const valid = XMLValidator.validate(svg);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
    processEntities: true,
    htmlEntities: false,
  });
  const tree = parser.parse(svg) as unknown[];
  const nodes = tree.map(toNode).filter((n): n is SvgNode => n !== null);
  const root = nodes.find((n) => n.name === 'svg');
  if (!root) throw new Error('no <svg> root element');
  return root;
}

function toNode(raw: unknown): SvgNode | null {
  const entry = raw as Record<string, unknown>;
  const name = Object.keys(entry).find((k) => k !== ':@');
  if (name === undefined || name === '#text' || name.startsWith('?')) return null;
  const children = (entry[name] as unknown[]).map(toNode).filter((n): n is SvgNode => n !== null);
  const text = (entry[name] as Record<string, unknown>[])
    .filter((c) => '#text' in c)
    .map((c) => String(c['#text']))
    .join('');
  return { name, attributes: (entry[':@'] as Record<string, string>) ?? {}, children, text };
}

/** Every element below (and including) `node`, depth first. */
export function* walk(node: SvgNode): Generator<SvgNode> {
  yield node;
  for (const c of node.children) yield* walk(c);
}

/** Elements whose `class` holds `token`. */
export function withClass(root: SvgNode, token: string): SvgNode[] {
  return [...walk(root)].filter((n) => (n.attributes.class ?? '').split(/\s+/).includes(token));
}

/** How many elements carry each change class. */
export function classCounts(root: SvgNode): { added: number; removed: number; moved: number; modified: number } {
  return {
    added: withClass(root, 'added').length,
    removed: withClass(root, 'removed').length,
    moved: withClass(root, 'moved').length,
    modified: withClass(root, 'modified').length,
  };
}
