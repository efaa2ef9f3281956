import test from 'ava';
import { LruMap } from '../../../streams/detect/lru.js';

test('forgets the least recently used key past its cap; get and set count as use', (t) => {
  const lru = new LruMap<string, number>(2);
  lru.set('a', 1);
  lru.set('b', 2);
  t.is(lru.get('a'), 1); // a is now the most recent
  lru.set('c', 3); // evicts b
  t.false(lru.has('b'));
  t.true(lru.has('a'));
  lru.set('a', 10); // overwrite: still one entry, most recent
  lru.set('d', 4); // evicts c
  t.deepEqual([lru.get('a'), lru.get('c'), lru.get('d'), lru.size], [10, undefined, 4, 2]);
});

test('rejects a cap below 1', (t) => {
  t.throws(() => new LruMap(0), { instanceOf: RangeError, message: /maxEntries/ });
  t.throws(() => new LruMap(1.5), { instanceOf: RangeError });
});
