/**
 * The words of a change set, kept apart from the diff so the seed's exact wording (which clients
 * and the oracle test compare character for character) lives in one place.
 */
import { pyFixed1, pyRepr } from './python-format.js';
import type { Direction, ModifiedField, Shape } from './types.js';

/**
 * The seed's `f"{id} ({type} at {x},{y})"`.
 *
 * @example
 * describeAdded('A3', 'door', 4, 2.5); // 'A3 (door at 4.0,2.5)'
 */
export function describeAdded(id: string, type: string, x: number, y: number): string {
  return `${id} (${type} at ${pyRepr(x)},${pyRepr(y)})`;
}

/**
 * The seed's `f"{id} ({type})"`.
 *
 * @example
 * describeRemoved('A3', 'door'); // 'A3 (door)'
 */
export function describeRemoved(id: string, type: string): string {
  return `${id} (${type})`;
}

/**
 * The seed's `f"{id} moved {distance:.1f} units {direction}"`.
 *
 * @example
 * describeMoved('D1', 2, 'east'); // 'D1 moved 2.0 units east'
 */
export function describeMoved(id: string, distance: number, direction: Direction): string {
  return `${id} moved ${pyFixed1(distance)} units ${direction}`;
}

/**
 * A modification in the seed's style, numbers as the seed prints coordinates (`repr`), one clause
 * per changed field in the order type, width, height.
 *
 * @example
 * describeModified('W1', { type: 'wall', width: 2, height: 1 }, { type: 'door', width: 3.5, height: 1 },
 *   ['type', 'width']); // 'W1 modified: type wall → door, width 2.0 → 3.5'
 */
export function describeModified(id: string, from: Shape, to: Shape, fields: readonly ModifiedField[]): string {
  const clauses = fields.map((f) =>
    f === 'type' ? `type ${from.type} → ${to.type}` : `${f} ${pyRepr(from[f])} → ${pyRepr(to[f])}`,
  );
  return `${id} modified: ${clauses.join(', ')}`;
}

/** A change description, or an item carrying one. */
export type Described = string | { readonly description: string };

const text = (d: Described): string => (typeof d === 'string' ? d : d.description);

/**
 * One kind's sentence with up to three examples. The seed makes "and N more" a part of its own,
 * joined with ". ", so it reads ". and N more"; kept as is. Built by concatenation because it
 * runs for every pair.
 */
function kindSentence(items: readonly Described[], verb: string): string {
  const n = items.length;
  let s = `${n} object(s) ${verb}: ${text(items[0] as Described)}`;
  if (n > 1) s += `, ${text(items[1] as Described)}`;
  if (n > 2) s += `, ${text(items[2] as Described)}`;
  if (n > 3) s += `. and ${n - 3} more`;
  return s;
}

function append(summary: string, items: readonly Described[], verb: string): string {
  if (items.length === 0) return summary;
  return summary === '' ? kindSentence(items, verb) : `${summary}. ${kindSentence(items, verb)}`;
}

/**
 * The seed's `generate_summary(added, removed, moved)` exactly (order moved, added, removed, up to
 * three examples each), with modified objects appended in the same style. Takes the descriptions,
 * or the items that carry them.
 *
 * @example
 * summarize([], [], ['D1 moved 2.0 units east'], []);
 * // '1 object(s) moved: D1 moved 2.0 units east.'
 */
export function summarize(
  added: readonly Described[],
  removed: readonly Described[],
  moved: readonly Described[],
  modified: readonly Described[] = [],
): string {
  const summary = append(append(append(append('', moved, 'moved'), added, 'added'), removed, 'removed'), modified, 'modified');
  return summary === '' ? 'No changes detected.' : `${summary}.`;
}
