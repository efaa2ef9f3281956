/**
 * The kinds of change the overlay draws, as one table: the SVG class, the legend's words and
 * colour, where a result keeps a kind's items, and what each item says about where the object
 * was and is. A new kind of item (e.g. `renamed`) is one more line here; the renderer only reads
 * the table. Colours follow the review tools people know: added green, removed red, modified
 * amber, moved blue.
 */
import { pyFixed1 } from '../domain/python-format.js';
import type { AddedItem, ChangeSet, ModifiedItem, MovedItem, Point, RemovedItem, RenamedItem } from '../domain/types.js';

export interface Size {
  readonly width: number;
  readonly height: number;
}

/** What one item tells about its object; the renderer fills the gaps from the versions, if read. */
export interface Placement {
  readonly beforeAt?: Point;
  readonly beforeSize?: Size;
  readonly afterAt?: Point;
  readonly afterSize?: Size;
  /** Written beside the arrow from the old place to the new one. */
  readonly arrowLabel?: string;
}

/** The part of a result the overlay draws. */
export type OverlayChanges = Pick<ChangeSet, 'added' | 'removed' | 'moved' | 'modified' | 'renamed'>;

export interface ItemKind {
  /** The `class` of each object's group, and the key of the result's list. */
  readonly name: string;
  readonly label: string;
  readonly colour: string;
  readonly items: (changes: OverlayChanges) => readonly { readonly id: string; readonly description: string }[];
  readonly place: (item: never) => Placement;
}

function kind<T extends { readonly id: string; readonly description: string }>(def: {
  name: string;
  label: string;
  colour: string;
  items: (changes: OverlayChanges) => readonly T[] | undefined;
  place: (item: T) => Placement;
}): ItemKind {
  return { ...def, items: (c) => def.items(c) ?? [], place: def.place as (item: never) => Placement };
}

const size = (g: Size): Size => ({ width: g.width, height: g.height });

export const ITEM_KINDS: readonly ItemKind[] = [
  kind<AddedItem>({ name: 'added', label: 'added', colour: '#1a7f37', items: (c) => c.added, place: (i) => ({ afterAt: i.to, afterSize: size(i.to) }) }),
  kind<RemovedItem>({ name: 'removed', label: 'removed', colour: '#cf222e', items: (c) => c.removed, place: (i) => ({ beforeAt: i.from, beforeSize: size(i.from) }) }),
  kind<MovedItem>({
    name: 'moved',
    label: 'moved (old place ghosted)',
    colour: '#0969da',
    items: (c) => c.moved,
    place: (i) => ({ beforeAt: i.from, afterAt: i.to, arrowLabel: pyFixed1(i.distance) }),
  }),
  kind<ModifiedItem>({
    name: 'modified',
    label: 'modified (old size ghosted)',
    colour: '#9a6700',
    items: (c) => c.modified,
    place: (i) => ({ beforeSize: size(i.from), afterSize: size(i.to) }),
  }),
  // Geometry matching (MATCH_FALLBACK): the same object under a new id; it keeps no geometry of
  // its own, so it is placed from version B where that can be read, else listed in the tray.
  kind<RenamedItem>({ name: 'renamed', label: 'renamed (same place, new id)', colour: '#8250df', items: (c) => c.renamed, place: () => ({}) }),
];

/** Grey, for objects that did not change (drawn only when both versions could be read). */
export const UNCHANGED_COLOUR = '#8c959f';
