/**
 * Draws a change set as one SVG picture: the plan north up (y grows north, as in the change
 * semantics) with a group per changed object, then a legend, a north arrow and a scale bar. Pure
 * and deterministic (the same result gives the same bytes), so `GET /changes/overlay.svg` and
 * `buildtrace diff --svg` draw the same picture, and built by string concatenation because a
 * result may hold 100,000 objects.
 */
import type { DrawingObject, DrawingVersion, Point } from '../domain/types.js';
import { escapeXml } from './escape.js';
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
}

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
  const unit = Math.max(view.width, view.height);

  const trayCell = unplaced.length === 0 ? 0 : Math.max(4, Math.min(28, Math.floor(Math.sqrt((WIDTH * 320) / unplaced.length))));
  const trayColumns = trayCell === 0 ? 0 : Math.floor((WIDTH - 32) / trayCell);
  const trayHeight = trayCell === 0 ? 0 : 28 + Math.ceil(unplaced.length / trayColumns) * trayCell + 8;
  const height = HEADER + PLAN_HEIGHT + LEGEND + trayHeight;

  const counts = ITEM_KINDS.map((k) => [k, k.items(input.changes).length] as const);
  const strokePx = placed.length + (unchanged?.length ?? 0) >= THIN_STROKE_FROM ? 0.5 : 1.5;
  // Strokes in drawing units worth `strokePx` on screen: set once per group and inherited, which
  // keeps a 100,000-object picture far smaller than a non-scaling stroke on every shape would.
  const scale = Math.min(WIDTH / view.width, PLAN_HEIGHT / view.height);
  const pen: Pen = {
    width: n4(strokePx / scale),
    dash: `${n4(4 / scale)} ${n4(3 / scale)}`,
    marker: unit * 0.006,
    fontSize: n(unit * 0.02),
    labelArrows: input.changes.moved.length <= ARROW_LABEL_LIMIT,
  };
  const out: string[] = [];
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>\n`,
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-labelledby="overlay-title overlay-desc" font-family="system-ui, sans-serif">\n`,
    `<title id="overlay-title">Changes to drawing ${escapeXml(input.drawingId)}</title>\n`,
    `<desc id="overlay-desc">${escapeXml(input.changes.summary)}</desc>\n`,
    `<rect class="background" width="${WIDTH}" height="${height}" fill="#ffffff"/>\n`,
    `<text x="16" y="28" font-size="18" font-weight="600" fill="#1f2328">Drawing ${escapeXml(input.drawingId)}: ${counts
      .map(([k, n]) => `${n} ${k.name}`)
      .join(', ')}</text>\n`,
  );

  // The plan, in drawing units with y negated (north up); the viewBox fits every shape with a margin.
  out.push(
    `<svg class="plan" data-stroke-px="${strokePx}" x="0" y="${HEADER}" width="${WIDTH}" height="${PLAN_HEIGHT}" viewBox="${n(view.x)} ${n(-(view.y + view.height))} ${n(view.width)} ${n(view.height)}" preserveAspectRatio="xMidYMid meet">\n`,
    `<defs>${ITEM_KINDS.map(
      (k) =>
        `<marker id="arrow-${k.name}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="${n(unit * 0.018)}" markerHeight="${n(unit * 0.018)}" orient="auto"><path d="M0 0L10 5L0 10z" fill="${k.colour}"/></marker>`,
    ).join('')}</defs>\n`,
    `<rect class="plan-frame" x="${n(view.x)}" y="${n(-(view.y + view.height))}" width="${n(view.width)}" height="${n(view.height)}" fill="#f6f8fa" stroke="#d0d7de" stroke-width="${n4(1 / scale)}"/>\n`,
  );
  if (unchanged && unchanged.length > 0) {
    out.push(
      `<path class="unchanged" d="${unchanged.map(boxPath).join('')}" fill="${UNCHANGED_COLOUR}" fill-opacity="0.25" stroke="${UNCHANGED_COLOUR}" stroke-width="${pen.width}"><title>${unchanged.length} unchanged object(s)</title></path>\n`,
    );
  }
  placed.forEach((e, i) => out.push(drawEntry(e, shapes[i]!, pen)));
  out.push(`</svg>\n`);

  out.push(legend(counts, unchanged, view, HEADER + PLAN_HEIGHT));
  if (unplaced.length > 0) out.push(tray(unplaced, HEADER + PLAN_HEIGHT + LEGEND, trayCell, trayColumns));
  out.push(`</svg>\n`);
  return out.join('');
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

/** Fills places and sizes the items do not carry from the versions, and returns the unchanged objects (as in B). */
function fillFromVersions(entries: Map<string, Entry>, versions: { readonly a: DrawingVersion; readonly b: DrawingVersion }): Box[] {
  const inA = new Map<string, DrawingObject>();
  for (const o of versions.a) inA.set(o.id, o);
  const unchanged: Box[] = [];
  for (const o of versions.b) {
    const e = entries.get(o.id);
    if (e === undefined) {
      if (inA.has(o.id)) unchanged.push(o);
      continue;
    }
    // A drawing object is itself a point and a size.
    e.place.afterAt ??= o;
    e.place.afterSize ??= o;
  }
  for (const [id, e] of entries) {
    const o = inA.get(id);
    if (o) {
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
  /** Stroke width in drawing units. */
  readonly width: string;
  readonly dash: string;
  /** Radius of the marker drawn where only a place is known. */
  readonly marker: number;
  readonly fontSize: string;
  readonly labelArrows: boolean;
}

function drawEntry(e: Entry, outline: Outlines, pen: Pen): string {
  const k = e.kinds[0] as ItemKind;
  const { before, after } = outline;
  let body = '';
  const moved = before && after && (before.x !== after.x || before.y !== after.y);
  const resized = before && after && isBox(before) && isBox(after) && (before.width !== after.width || before.height !== after.height);
  if (before && (!after || moved || resized)) {
    // Gone (removed) or the old outline of a moved or resized object: dashed and ghosted.
    body += shape(before, after ? `fill-opacity="0.05" stroke-opacity="0.5" stroke-dasharray="${pen.dash}"` : `fill-opacity="0.2" stroke-dasharray="${pen.dash}"`, pen.marker);
  }
  if (after) body += shape(after, 'fill-opacity="0.3"', pen.marker);
  if (moved && before && after) {
    const from = centre(before);
    const to = centre(after);
    body += `<line x1="${n(from.x)}" y1="${n(-from.y)}" x2="${n(to.x)}" y2="${n(-to.y)}" marker-end="url(#arrow-${k.name})"/>`;
    if (pen.labelArrows && e.place.arrowLabel !== undefined) {
      body += `<text x="${n((from.x + to.x) / 2)}" y="${n(-(from.y + to.y) / 2)}" font-size="${pen.fontSize}" stroke="none" text-anchor="middle" dy="-0.3em">${escapeXml(e.place.arrowLabel)}</text>`;
    }
  }
  return `<g class="${e.kinds.map((x) => x.name).join(' ')}" data-id="${escapeXml(e.id)}" fill="${k.colour}" stroke="${k.colour}" stroke-width="${pen.width}"><title>${escapeXml(e.titles.join('; '))}</title>${body}</g>\n`;
}

function shape(s: Box | Point, attributes: string, marker: number): string {
  if (isBox(s)) return `<rect x="${n(s.x)}" y="${n(-(s.y + s.height))}" width="${n(Math.abs(s.width))}" height="${n(Math.abs(s.height))}" ${attributes}/>`;
  // Only the place is known (the result does not keep the size): a marker there.
  return `<circle cx="${n(s.x)}" cy="${n(-s.y)}" r="${n(marker)}" ${attributes}/>`;
}

function centre(s: Box | Point): Point {
  return isBox(s) ? { x: s.x + s.width / 2, y: s.y + s.height / 2 } : s;
}

function boxPath(o: Box): string {
  return `M${n(o.x)} ${n(-(o.y + o.height))}h${n(o.width)}v${n(o.height)}h${n(-o.width)}z`;
}

function legend(counts: readonly (readonly [ItemKind, number])[], unchanged: Box[] | null, view: Box, top: number): string {
  let s = `<g class="legend" transform="translate(16 ${top + 12})" font-size="13" fill="#1f2328">`;
  let x = 0;
  for (const [k, count] of counts) {
    s += `<rect class="swatch" data-kind="${k.name}" x="${x}" y="0" width="14" height="14" fill="${k.colour}" fill-opacity="0.3" stroke="${k.colour}"/>`;
    s += `<text x="${x + 20}" y="12">${escapeXml(k.label)}: ${count}</text>`;
    x += 20 + (k.label.length + 8) * 7;
  }
  s += unchanged
    ? `<rect class="swatch" data-kind="unchanged" x="0" y="24" width="14" height="14" fill="${UNCHANGED_COLOUR}" fill-opacity="0.25" stroke="${UNCHANGED_COLOUR}"/><text x="20" y="36">unchanged: ${unchanged.length} (grey)</text>`
    : `<text x="0" y="36">Unchanged objects are not drawn: the stored result keeps only the changes.</text>`;

  // North arrow and scale bar; one unit of the drawing is `scale` pixels on the plan.
  const scale = Math.min(WIDTH / view.width, PLAN_HEIGHT / view.height);
  const length = niceLength(140 / scale);
  const px = length * scale;
  s += `<g class="north" transform="translate(${WIDTH - 60} 36)"><path d="M0 -30L8 -8L0 -13L-8 -8z" fill="#1f2328"/><text x="0" y="8" text-anchor="middle" font-weight="600">N</text></g>`;
  s += `<g class="scale-bar" transform="translate(0 60)"><path d="M0 0v10h${n(px)}v-10" fill="none" stroke="#1f2328" stroke-width="2"/><text x="${n(px + 8)}" y="12">${n(length)} unit${length === 1 ? '' : 's'}</text></g>`;
  return `${s}</g>\n`;
}

/** Objects whose place the result does not keep (modified only, versions unread): listed by size. */
function tray(entries: readonly Entry[], top: number, cell: number, columns: number): string {
  let s = `<g class="tray" transform="translate(16 ${top})"><text x="0" y="16" font-size="13" fill="#1f2328">Changed in place; the stored result keeps no position for these ${entries.length} object(s):</text>\n`;
  const labels = entries.length <= TRAY_LABEL_LIMIT;
  entries.forEach((e, i) => {
    const k = e.kinds[0] as ItemKind;
    const x = (i % columns) * cell;
    const y = 28 + Math.floor(i / columns) * cell;
    const label = labels ? `<text x="${x + cell / 2}" y="${y + cell - 2}" font-size="7" text-anchor="middle" fill="#1f2328">${escapeXml(e.id.slice(0, 6))}</text>` : '';
    s += `<g class="${e.kinds.map((x) => x.name).join(' ')}" data-id="${escapeXml(e.id)}"><title>${escapeXml(e.titles.join('; '))}</title><rect x="${x + 1}" y="${y + 1}" width="${cell - 2}" height="${cell - 2}" fill="${k.colour}" fill-opacity="0.3" stroke="${k.colour}"/>${label}</g>\n`;
  });
  return `${s}</g>\n`;
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

/** Numbers to three decimals: enough for a picture, and much shorter than full precision. */
function n(v: number): string {
  const r = Math.round(v * 1000) / 1000;
  return Object.is(r, -0) ? '0' : String(r);
}
