/**
 * Geometry matching on the diff workers (issue 13): a large re-export matched on a worker gives
 * exactly the inline result, `renamed` and `ambiguous` included (and absent where geometry did
 * not run), and the main thread's event loop keeps turning while the worker matches.
 */
import test from 'ava';
import { DiffWorkerPool } from '../../../streams/diff/worker-pool.js';
import { diffPair, estimatedObjects, type DiffRequest } from '../../../streams/diff/diff-pair.js';
import { loadConfig } from '../../../src/config.js';
import { reexportedPair } from '../../bench/match-row.js';

const pool = new DiffWorkerPool(1);
test.after.always(() => pool.close());

function request(a: unknown, b: unknown, match?: 'auto' | 'geometry'): DiffRequest {
  const bytes = (v: unknown) => ({ kind: 'bytes' as const, bytes: Buffer.from(JSON.stringify(v)) });
  return { drawingId: 'D1', tolerance: 0.1, ...(match ? { match, radius: 10 } : {}), pair: { a: bytes(a), b: bytes(b) } };
}

test('a re-export matched on a worker equals the inline result, renamed and ambiguous included', async (t) => {
  const { a, b, moved } = reexportedPair(3000);
  // two identical windows at one place, regenerated: an ambiguous group the slices must carry
  const twin = (id: string) => ({ id, type: 'window', x: -500, y: -500, width: 1, height: 1 });
  const withTie = request([...a, twin('T1'), twin('T2')], [...b, twin('U1'), twin('U2')], 'auto');
  const inline = diffPair(withTie);
  t.is(inline.renamed?.length, 3000 - moved);
  t.is(inline.ambiguous?.length, 1);
  t.deepEqual(await pool.run(withTie), inline);
  // by id alone the worker's answer has the seed's shape: no renamed, no ambiguous
  const byId = await pool.run(request(a, b));
  t.false('renamed' in byId || 'ambiguous' in byId);
  t.deepEqual(byId, diffPair(request(a, b)));
});

test('while a worker matches a 100,000-object re-export, the main thread keeps serving', async (t) => {
  const { a, b, moved } = reexportedPair(100_000);
  const req = request(a, b, 'auto');
  // the service's routing sends a pair this size to the pool
  t.true(estimatedObjects(req.pair) > loadConfig({}).workerThreshold);
  let ticks = 0;
  const timer = setInterval(() => void ticks++, 5);
  try {
    const changes = await pool.run(req);
    t.is(changes.renamed?.length, 100_000 - moved);
    t.is(changes.moved.length, moved);
  } finally {
    clearInterval(timer);
  }
  // a blocked loop would tick once at the end; this one ticked all along (how evenly is the bench's job)
  t.true(ticks >= 5, `the interval ticked ${ticks} times while the worker matched`);
});
