/**
 * Draws a change set as one SVG picture: the plan north up (y grows north, as in the change
 * semantics) with a group per changed object, then a legend, a north arrow and a scale bar. Pure
 * and deterministic (the same result gives the same bytes), so `GET /changes/overlay.svg` and
 * `buildtrace diff --svg` draw the same picture.
 *
 * A result may hold 100,000 objects, so the picture is written into one array of strings joined
 * once: the plan's coordinates are whole thousandths of a drawing unit (an integer prints several
 * times faster than a fraction), colours and strokes are set once per layer of one kind and
 * inherited, and unchanged objects are one `<path>`.
 */
import type { DrawingObject, DrawingVersion, Point } from '../domain/types.js';
import { escapeXml } from './escape.js';
import { TextSink } from './text-sink.js';
import { ITEM_KINDS, UNCHANGED_COLOUR, type ItemKind, type OverlayChanges, type Placement, type Size } from './kinds.js';

export interface OverlayInput {
  readonly drawingId: string;
  readonly changes: OverlayChanges & { readonly summary: string };
  /**
   * Both versions, when they can still be read: unchanged objects are then drawn in grey, and
   * moved or modified objects get their full outline. Without them the picture shows what the
   * result keeps, and the legend says unchanged objects are left out.
   */
  readonly versions?: { readonly a: DrawingVersion; readonly b: DrawingVersion } | null;
  /**
   * Without `versions`: why they are not drawn, ending the legend's sentence "Unchanged objects
   * are not drawn: …". @default WITHOUT_VERSIONS
   */
  readonly withoutVersions?: string;
}

/** The legend's reason when nothing better is known. */
export const WITHOUT_VERSIONS = 'the result keeps only the changes, not its versions (sent inline)';

/** Past this many arrows, distances are not written beside them (the picture would be all text). */
export const ARROW_LABEL_LIMIT = 200;
/** Past this many drawn objects, strokes get thinner so the shapes stay visible. */
const THIN_STROKE_FROM = 2_000;
/** Past this many objects in the tray, their ids are not written under them. */
const TRAY_LABEL_LIMIT = 60;

const WIDTH = 960;
const HEADER = 44;
const PLAN_HEIGHT = 600;
const LEGEND = 104;
const MARGIN_FRACTION = 0.05;
/** Plan coordinates are written in thousandths of a drawing unit, as integers. */
const MILLI = 1000;

interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

type MutablePlacement = { -readonly [K in keyof Placement]: Placement[K] };

interface Entry {
  readonly id: string;
  readonly kinds: ItemKind[];
  readonly titles: string[];
  /** Filled field by field (first word wins), without copying: a result may hold 100,000 entries. */
  readonly place: MutablePlacement;
}

/**
 * Renders the overlay as an SVG document.
 *
 * @example
 * const svg = renderOverlay({ drawingId: 'D1', changes: diffVersions(a, b), versions: { a, b } });
 */
export function renderOverlay(input: OverlayInput): string {
  const entries = collect(input.changes);
  const unchanged = input.versions ? fillFromVersions(entries, input.versions) : null;

  const placed: Entry[] = [];
  const unplaced: Entry[] = [];
  for (const e of entries.values()) (hasPosition(e.place) ? placed : unplaced).push(e);

  const bounds = new Bounds();
  const shapes = placed.map((e) => outlines(e.place));
  for (const { before, after } of shapes) {
    if (before) bounds.add(before);
    if (after) bounds.add(after);
  }
  if (unchanged) for (const o of unchanged) bounds.add(o);
  const view = bounds.view();
  // The plan's larger side in plan units (thousandths): markers and labels are sized from it.
  const unit = Math.max(view.width, view.height) * MILLI;

  const trayCell = unplaced.length === 0 ? 0 : Math.max(4, Math.min(28, Math.floor(Math.sqrt((WIDTH * 320) / unplaced.length))));
  const trayColumns = trayCell === 0 ? 0 : Math.floor((WIDTH - 32) / trayCell);
  const trayHeight = trayCell === 0 ? 0 : 28 + Math.ceil(unplaced.length / trayColumns) * trayCell + 8;
  const height = HEADER + PLAN_HEIGHT + LEGEND + trayHeight;

  const counts = ITEM_KINDS.map((k) => [k, k.items(input.changes).length] as const);
  const strokePx = placed.length + (unchanged?.length ?? 0) >= THIN_STROKE_FROM ? 0.5 : 1.5;
  // Strokes in plan units worth `strokePx` on screen: set once on the plan and inherited, which
  // keeps a 100,000-object picture far smaller than a non-scaling stroke on every shape would.
  const scale = Math.min(WIDTH / (view.width * MILLI), PLAN_HEIGHT / (view.height * MILLI));
  const dash = `${n4(4 / scale)} ${n4(3 / scale)}`;
  const pen: Pen = {
    marker: Math.round(unit * 0.006),
    ghost: ` fill-opacity="0.05" stroke-opacity="0.5" stroke-dasharray="${dash}"/>`,
    gone: ` fill-opacity="0.2" stroke-dasharray="${dash}"/>`,
    solid: ` fill-opacity="0.3"/>`,
    label: `" font-size="${Math.round(unit * 0.02)}" stroke="none" text-anchor="middle" dy="-0.3em">`,
    labelArrows: input.changes.moved.length <= ARROW_LABEL_LIMIT,
  };
  const out = new TextSink();
  out.add(
    [
      `<?xml version="1.0" encoding="UTF-8"?>\n`,
      `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-labelledby="overlay-title overlay-desc" font-family="system-ui, sans-serif">\n`,
      `<title id="overlay-title">Changes to drawing ${escapeXml(input.drawingId)}</title>\n`,
      `<desc id="overlay-desc">${escapeXml(input.changes.summary)}</desc>\n`,
      `<rect class="background" width="${WIDTH}" height="${height}" fill="#ffffff"/>\n`,
      `<text x="16" y="28" font-size="18" font-weight="600" fill="#1f2328">Drawing ${escapeXml(input.drawingId)}: ${counts
        .map(([k, n]) => `${n} ${k.name}`)
        .join(', ')}</text>\n`,
    ].join(''),
  );

  // The plan, in thousandths of a unit with y negated (north up); the viewBox fits every shape with a margin.
  const top = m(-(view.y + view.height));
  out.add(
    [
      `<svg class="plan" data-stroke-px="${strokePx}" data-units-per-drawing-unit="${MILLI}" x="0" y="${HEADER}" width="${WIDTH}" height="${PLAN_HEIGHT}" viewBox="${m(view.x)} ${top} ${m(view.width)} ${m(view.height)}" preserveAspectRatio="xMidYMid meet">\n`,
      `<defs>${ITEM_KINDS.map(
        (k) =>
          `<marker id="arrow-${k.name}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="${Math.round(unit * 0.018)}" markerHeight="${Math.round(unit * 0.018)}" orient="auto"><path d="M0 0L10 5L0 10z" fill="${k.colour}"/></marker>`,
      ).join('')}</defs>\n`,
      `<rect class="plan-frame" x="${m(view.x)}" y="${top}" width="${m(view.width)}" height="${m(view.height)}" fill="#f6f8fa" stroke="#d0d7de" stroke-width="${n4(1 / scale)}"/>\n`,
      `<g class="shapes" stroke-width="${n4(strokePx / scale)}">\n`,
    ].join(''),
  );
  if (unchanged && unchanged.length > 0) {
    out.add(`<path class="unchanged" data-count="${unchanged.length}" d="`);
    for (const o of unchanged) boxPath(out, o);
    out.add(`" fill="${UNCHANGED_COLOUR}" fill-opacity="0.25" stroke="${UNCHANGED_COLOUR}"><title>${unchanged.length} unchanged object(s)</title></path>\n`);
  }
  // Entries come in the table's order of kinds (collect): one layer per first kind carries the colours.
  let layer: ItemKind | null = null;
  for (let i = 0; i < placed.length; i++) {
    const e = placed[i]!;
    const k = e.kinds[0]!;
    if (k !== layer) {
      if (layer) out.add(`</g>\n`);
      out.add(`<g class="layer" data-kind="${k.name}" fill="${k.colour}" stroke="${k.colour}">\n`);
      layer = k;
    }
    drawEntry(out, e, shapes[i]!, pen);
  }
  if (layer) out.add(`</g>\n`);
  out.add(`</g>\n</svg>\n`);

  out.add(legend(counts, unchanged, input.withoutVersions ?? WITHOUT_VERSIONS, view, HEADER + PLAN_HEIGHT));
  if (unplaced.length > 0) tray(out, unplaced, HEADER + PLAN_HEIGHT + LEGEND, trayCell, trayColumns);
  out.add(`</svg>\n`);
  return out.text();
}

/** One entry per object id, in the table's order of kinds; an object of two kinds gets both classes. */
function collect(changes: OverlayChanges): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  for (const k of ITEM_KINDS) {
    for (const item of k.items(changes)) {
      let e = entries.get(item.id);
      if (e === undefined) {
        e = { id: item.id, kinds: [], titles: [], place: {} };
        entries.set(item.id, e);
      }
      e.kinds.push(k);
      e.titles.push(item.description);
      fill(e.place, k.place(item as never));
    }
  }
  return entries;
}

/** Sets each field of `place` that is still unknown from `from`. */
function fill(place: MutablePlacement, from: Placement): void {
  place.beforeAt ??= from.beforeAt;
  place.beforeSize ??= from.beforeSize;
  place.afterAt ??= from.afterAt;
  place.afterSize ??= from.afterSize;
  place.arrowLabel ??= from.arrowLabel;
}

/**
 * Fills places and sizes the items do not carry from the versions, and returns the unchanged
 * objects (as in B): those of B no item names. No index of the versions is built (two passes over
 * them, looking up the changed objects only), since a version may hold 100,000 objects.
 */
function fillFromVersions(entries: Map<string, Entry>, versions: { readonly a: DrawingVersion; readonly b: DrawingVersion }): Box[] {
  const unchanged: Box[] = [];
  for (const o of versions.b) {
    const e = entries.get(o.id);
    if (e === undefined) {
      // Every object of B that is new (added, or renamed by geometry matching) is an item.
      unchanged.push(o);
      continue;
    }
    // A drawing object is itself a point and a size.
    e.place.afterAt ??= o;
    e.place.afterSize ??= o;
  }
  for (const o of versions.a) {
    const e = entries.get(o.id);
    if (e !== undefined) {
      e.place.beforeAt ??= o;
      e.place.beforeSize ??= o;
    }
  }
  return unchanged;
}

function hasPosition(p: Placement): boolean {
  return p.beforeAt !== undefined || p.afterAt !== undefined;
}

/** Old and new outline: an object that did not move is at the same place in both. */
interface Outlines {
  readonly before: Box | Point | null;
  readonly after: Box | Point | null;
}

function outlines(p: Placement): Outlines {
  const hasBefore = p.beforeAt !== undefined || p.beforeSize !== undefined;
  const hasAfter = p.afterAt !== undefined || p.afterSize !== undefined;
  const bAt = p.beforeAt ?? (hasBefore ? p.afterAt : undefined);
  const aAt = p.afterAt ?? (hasAfter ? p.beforeAt : undefined);
  return { before: bAt ? withSize(bAt, p.beforeSize ?? p.afterSize) : null, after: aAt ? withSize(aAt, p.afterSize ?? p.beforeSize) : null };
}

function withSize(at: Point, size: Size | undefined): Box | Point {
  if (size === undefined) return at;
  // A drawing object read from a version is already its own box.
  if (at === (size as unknown)) return at as Box;
  return { x: at.x, y: at.y, width: size.width, height: size.height };
}

function isBox(s: Box | Point): s is Box {
  return 'width' in s;
}

interface Pen {
  /** Radius of the marker drawn where only a place is known, in plan units. */
  readonly marker: number;
  /** Attribute tails, built once: the old outline of a moved or resized object, a removed one, a present one. */
  readonly ghost: string;
  readonly gone: string;
  readonly solid: string;
  /** The attributes of an arrow's label after its y. */
  readonly label: string;
  readonly labelArrows: boolean;
}

function classOf(e: Entry): string {
  return e.kinds.length === 1 ? e.kinds[0]!.name : e.kinds.map((x) => x.name).join(' ');
}

function titleOf(e: Entry): string {
  return escapeXml(e.titles.length === 1 ? e.titles[0]! : e.titles.join('; '));
}

function drawEntry(out: TextSink, e: Entry, outline: Outlines, pen: Pen): void {
  const { before, after } = outline;
  const moved = before && after && (before.x !== after.x || before.y !== after.y);
  const resized = before && after && isBox(before) && isBox(after) && (before.width !== after.width || before.height !== after.height);
  out.add(`<g class="${classOf(e)}" data-id="${escapeXml(e.id)}"><title>${titleOf(e)}</title>`);
  // Gone (removed) or the old outline of a moved or resized object: dashed and ghosted.
  if (before && (!after || moved || resized)) shape(out, before, after ? pen.ghost : pen.gone, pen.marker);
  if (after) shape(out, after, pen.solid, pen.marker);
  if (moved && before && after) {
    const from = centre(before);
    const to = centre(after);
    out.add(`<line x1="${m(from.x)}" y1="${m(-from.y)}" x2="${m(to.x)}" y2="${m(-to.y)}" marker-end="url(#arrow-${e.kinds[0]!.name})"/>`);
    if (pen.labelArrows && e.place.arrowLabel !== undefined) {
      out.add(`<text x="${m((from.x + to.x) / 2)}" y="${m(-(from.y + to.y) / 2)}${pen.label}${escapeXml(e.place.arrowLabel)}</text>`);
    }
  }
  out.add(`</g>\n`);
}

/** `tail` closes the element: its last attributes and `/>`. */
function shape(out: TextSink, s: Box | Point, tail: string, marker: number): void {
  if (isBox(s)) {
    out.add(`<rect x="${m(s.x)}" y="${m(-(s.y + s.height))}" width="${m(Math.abs(s.width))}" height="${m(Math.abs(s.height))}"${tail}`);
  } else {
    // Only the place is known (the result does not keep the size): a marker there.
    out.add(`<circle cx="${m(s.x)}" cy="${m(-s.y)}" r="${marker}"${tail}`);
  }
}

function centre(s: Box | Point): Point {
  return isBox(s) ? { x: s.x + s.width / 2, y: s.y + s.height / 2 } : s;
}

function boxPath(out: TextSink, o: Box): void {
  const w = m(o.width);
  out.add(`M${m(o.x)} ${m(-(o.y + o.height))}h${w}v${m(o.height)}h${-w}z`);
}

function legend(counts: readonly (readonly [ItemKind, number])[], unchanged: Box[] | null, withoutVersions: string, view: Box, top: number): string {
  let s = `<g class="legend" transform="translate(16 ${top + 12})" font-size="13" fill="#1f2328">`;
  let x = 0;
  for (const [k, count] of counts) {
    s += `<rect class="swatch" data-kind="${k.name}" x="${x}" y="0" width="14" height="14" fill="${k.colour}" fill-opacity="0.3" stroke="${k.colour}"/>`;
    s += `<text x="${x + 20}" y="12">${escapeXml(k.label)}: ${count}</text>`;
    x += 20 + (k.label.length + 8) * 7;
  }
  s += unchanged
    ? `<rect class="swatch" data-kind="unchanged" x="0" y="24" width="14" height="14" fill="${UNCHANGED_COLOUR}" fill-opacity="0.25" stroke="${UNCHANGED_COLOUR}"/><text x="20" y="36">unchanged: ${unchanged.length} (grey)</text>`
    : `<text class="unchanged-note" x="0" y="36">Unchanged objects are not drawn: ${escapeXml(withoutVersions)}.</text>`;

  // North arrow and scale bar; one unit of the drawing is `scale` pixels on the plan.
  const scale = Math.min(WIDTH / view.width, PLAN_HEIGHT / view.height);
  const length = niceLength(140 / scale);
  const px = length * scale;
  s += `<g class="north" transform="translate(${WIDTH - 60} 36)"><path d="M0 -30L8 -8L0 -13L-8 -8z" fill="#1f2328"/><text x="0" y="8" text-anchor="middle" font-weight="600">N</text></g>`;
  s += `<g class="scale-bar" transform="translate(0 60)"><path d="M0 0v10h${n(px)}v-10" fill="none" stroke="#1f2328" stroke-width="2"/><text x="${n(px + 8)}" y="12">${n(length)} unit${length === 1 ? '' : 's'}</text></g>`;
  return `${s}</g>\n`;
}

/** Objects whose place the result does not keep (modified only, versions unread): listed by size. */
function tray(out: TextSink, entries: readonly Entry[], top: number, cell: number, columns: number): void {
  out.add(`<g class="tray" transform="translate(16 ${top})"><text x="0" y="16" font-size="13" fill="#1f2328">Changed in place; the stored result keeps no position for these ${entries.length} object(s):</text>\n`);
  const labels = entries.length <= TRAY_LABEL_LIMIT;
  entries.forEach((e, i) => {
    const k = e.kinds[0]!;
    const x = (i % columns) * cell;
    const y = 28 + Math.floor(i / columns) * cell;
    const label = labels ? `<text x="${x + cell / 2}" y="${y + cell - 2}" font-size="7" text-anchor="middle" fill="#1f2328">${escapeXml(e.id.slice(0, 6))}</text>` : '';
    out.add(`<g class="${classOf(e)}" data-id="${escapeXml(e.id)}"><title>${titleOf(e)}</title><rect x="${x + 1}" y="${y + 1}" width="${cell - 2}" height="${cell - 2}" fill="${k.colour}" fill-opacity="0.3" stroke="${k.colour}"/>${label}</g>\n`);
  });
  out.add(`</g>\n`);
}

/** 1, 2 or 5 times a power of ten, at most `max`. */
function niceLength(max: number): number {
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [5, 2, 1]) if (m * p <= max) return m * p;
  return p;
}

class Bounds {
  private minX = Infinity;
  private minY = Infinity;
  private maxX = -Infinity;
  private maxY = -Infinity;

  add(s: Box | Point): void {
    const x2 = isBox(s) ? s.x + s.width : s.x;
    const y2 = isBox(s) ? s.y + s.height : s.y;
    this.minX = Math.min(this.minX, s.x, x2);
    this.maxX = Math.max(this.maxX, s.x, x2);
    this.minY = Math.min(this.minY, s.y, y2);
    this.maxY = Math.max(this.maxY, s.y, y2);
  }

  /** The extent with a margin on every side; a square around the origin when nothing was drawn. */
  view(): Box {
    if (this.minX === Infinity) return { x: -1, y: -1, width: 12, height: 12 };
    const w = this.maxX - this.minX;
    const h = this.maxY - this.minY;
    const m = Math.max(w, h, 1) * MARGIN_FRACTION;
    // Rounded outwards so the rounded coordinates written below stay inside.
    return { x: floor3(this.minX - m), y: floor3(this.minY - m), width: ceil3(w + 2 * m + 0.002), height: ceil3(h + 2 * m + 0.002) };
  }
}

const floor3 = (v: number) => Math.floor(v * 1000) / 1000;
const ceil3 = (v: number) => Math.ceil(v * 1000) / 1000;

/** Four significant digits, for stroke widths and dashes that may be far below one unit. */
function n4(v: number): string {
  return String(Number(v.toPrecision(4)));
}

/** A plan coordinate: whole thousandths of a drawing unit (-0 prints as 0 in a template). */
function m(v: number): number {
  return Math.round(v * MILLI);
}

/** Numbers to three decimals: enough for a picture, and much shorter than full precision. */
function n(v: number): string {
  const r = Math.round(v * 1000) / 1000;
  return Object.is(r, -0) ? '0' : String(r);
}
