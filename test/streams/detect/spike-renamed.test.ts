/**
 * Re-identified objects are not changes (issue 13): a result that is mostly renames is counted
 * by what really changed, so a re-export whose ids were regenerated raises no spike.
 */
import test from 'ava';
import { SpikeDetector, totalChanges } from '../../../streams/detect/spike.js';

const T0 = Date.parse('2026-11-29T10:30:00.000Z');

test('renamed objects count as unchanged: no spike for a re-export, a spike for the same count as changes', (t) => {
  t.is(totalChanges({ added: 0, removed: 0, moved: 2, modified: 0, renamed: 5000 }), 2);
  const spikes = new SpikeDetector({ clock: () => T0 });
  const observe = (key: string, counts: Parameters<typeof totalChanges>[0]) =>
    spikes.observe({ drawingId: 'D1', taskKey: key, counts, at: new Date(T0) });
  for (const key of ['k1', 'k2', 'k3']) observe(key, { added: 1, removed: 0, moved: 1, modified: 0 });
  t.deepEqual(observe('reexport', { added: 0, removed: 0, moved: 2, modified: 0, renamed: 5000 }), []);
  const spike = observe('rewrite', { added: 2500, removed: 2500, moved: 0, modified: 0 });
  t.is(spike.length, 1);
  t.is(spike[0]?.type, 'spike_detected');
});
