/**
 * A drawing's history ending in a re-export that regenerated every id (issue 13): a few ordinary
 * revisions, each moving one object, give the spike detector its baseline; then the same drawing
 * comes back with new ids and two objects moved. Read by id alone the last pair is everything
 * removed and everything added, a spike; read with geometry it is two moves and renames.
 */
import type { DrawingObject } from '../../src/domain/types.js';

export const REEXPORT_OBJECTS = 200;
export const REEXPORT_MOVED = 2;
/** Revisions before the re-export: above the spike detector's minimum history of 3. */
export const HISTORY_REVISIONS = 4;

const TYPES = ['door', 'window', 'wall', 'column'] as const;

function base(): DrawingObject[] {
  return Array.from({ length: REEXPORT_OBJECTS }, (_, i) => ({
    id: `E${i}`,
    type: TYPES[i % TYPES.length] as string,
    x: (i % 20) * 30,
    y: Math.floor(i / 20) * 30,
    width: 1 + (i % 3),
    height: 2,
  }));
}

/** The ordinary revisions, in order: revision k moves object k by one unit east. */
export function historyPairs(): Array<[DrawingObject[], DrawingObject[]]> {
  const pairs: Array<[DrawingObject[], DrawingObject[]]> = [];
  let current = base();
  for (let k = 0; k < HISTORY_REVISIONS; k++) {
    const next = current.map((o, i) => (i === k ? { ...o, x: o.x + 1 } : o));
    pairs.push([current, next]);
    current = next;
  }
  return pairs;
}

/** The re-export: the last revision again, every id new, the first REEXPORT_MOVED objects moved 4 units north. */
export function reexportPair(): [DrawingObject[], DrawingObject[]] {
  const history = historyPairs();
  const last = (history.at(-1) as [DrawingObject[], DrawingObject[]])[1];
  const b = last.map((o, i) => ({ ...o, id: `R-${1000 + i}`, ...(i < REEXPORT_MOVED ? { y: o.y + 4 } : {}) }));
  return [last, b.reverse()];
}
