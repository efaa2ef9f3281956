/**
 * The pages of `GET /changes` for stores that hold a result in one piece (`wholeResultPages`,
 * BigQuery's path): following a cursor reads the whole result once, not once per page, and the
 * result kept for that is let go after a while.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import { wholeResultPages } from '../../sinks/change-pages.js';
import { openLocalStore } from '../../sinks/local-store/index.js';
import type { ResultStore } from '../../src/domain/sink.js';
import { batchOf, result } from '../support/sink-compliance.js';

const moved = (i: number) => ({
  id: `M${i}`,
  type: 'door',
  from: { x: i, y: 0 },
  to: { x: i + 3, y: 0 },
  dx: 3,
  dy: 0,
  direction: 'east' as const,
  distance: 3,
  description: `M${i} moved 3.0 units east`,
});

test('following a cursor reads the whole result once while it is kept, and again after it was let go', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'buildtrace-pages-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const store = openLocalStore({ dataDir });
  t.teardown(() => store.close());
  const items = Array.from({ length: 25 }, (_, i) => moved(i));
  await store.writeBatch(
    batchOf({
      results: [
        result({
          taskKey: 'k1',
          drawingId: 'D1',
          createdAt: new Date('2026-11-29T10:00:00Z'),
          changes: { added: [], removed: [], moved: items, modified: [], summary: '25 moved.' },
        }),
      ],
    }),
  );
  let reads = 0;
  const counting: Pick<ResultStore, 'changes'> = {
    changes: (drawingId, limit) => {
      reads += 1;
      return store.changes(drawingId, limit);
    },
  };
  let now = 0;
  const pages = wholeResultPages(counting, 100, { cacheMs: 1_000, clock: () => now });

  const [head] = await pages.summaries('D1', 1);
  reads = 0;
  const seen: unknown[] = [];
  for (let offset = 0; offset < 25; offset += 10) {
    const page = await pages.items('D1', head!.ref, 'moved', offset, 10);
    t.is(page?.head.counts.moved, 25);
    seen.push(...(JSON.parse(Buffer.from(page!.items.json).toString('utf8')) as unknown[]));
  }
  t.deepEqual(seen, items, 'every item once, in order');
  t.is(reads, 1, 'three pages, one whole read');

  now += 1_000;
  await pages.items('D1', head!.ref, 'moved', 20, 10);
  t.is(reads, 2, 'read again once the kept result expired');
  t.is(await pages.items('D2', head!.ref, 'moved', 0, 10), null, 'a cursor is only good for its drawing');
});
