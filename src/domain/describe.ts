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

const EXAMPLES = 3;

function describeKind(parts: string[], items: readonly string[], verb: string): void {
  if (items.length === 0) return;
  parts.push(`${items.length} object(s) ${verb}: ${items.slice(0, EXAMPLES).join(', ')}`);
  // The seed makes "and N more" a sentence of its own, so it reads ". and N more"; kept as is.
  if (items.length > EXAMPLES) parts.push(`and ${items.length - EXAMPLES} more`);
}

/**
 * The seed's `generate_summary(added, removed, moved)` exactly (order moved, added, removed, up to
 * three examples each), with modified objects appended in the same style.
 *
 * @example
 * summarize([], [], ['D1 moved 2.0 units east'], []);
 * // '1 object(s) moved: D1 moved 2.0 units east.'
 */
export function summarize(
  added: readonly string[],
  removed: readonly string[],
  moved: readonly string[],
  modified: readonly string[] = [],
): string {
  const parts: string[] = [];
  describeKind(parts, moved, 'moved');
  describeKind(parts, added, 'added');
  describeKind(parts, removed, 'removed');
  describeKind(parts, modified, 'modified');
  return parts.length === 0 ? 'No changes detected.' : `${parts.join('. ')}.`;
}
