import test from 'ava';
import { TextSink } from '../../src/overlay/text-sink.js';

test('pieces come back whole and in order, across flushes and buffers, multi-byte text included', (t) => {
  const sink = new TextSink();
  const pieces: string[] = [];
  // About 3 MB, so several 1 MB buffers fill; pieces mix ASCII, two- and four-byte UTF-8 and U+FFFD.
  for (let i = 0; i < 120_000; i++) pieces.push(i % 7 === 0 ? `é${i}😀\uFFFD` : `<g data-id="${i}">`);
  pieces.push('x'.repeat(2 * 1024 * 1024));
  for (const p of pieces) sink.add(p);
  t.is(sink.text(), pieces.join(''));
});

test('an empty sink gives the empty string', (t) => {
  t.is(new TextSink().text(), '');
});
