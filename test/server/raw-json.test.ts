/** Answers with parts serialised elsewhere (pages of stored results) are still exact JSON. */
import test from 'ava';
import { objectJson, RawJson } from '../../src/server/raw-json.js';

test('objectJson splices raw JSON bytes in place and serialises the rest as JSON.stringify would', (t) => {
  const value = { a: 'x"<', skipped: undefined, items: new RawJson(Buffer.from('[{"id":"é"}]')), n: 1.5, next: null, tail: new RawJson(Buffer.from('[]')) };
  const text = objectJson(value).toString('utf8');
  t.is(text, '{"a":"x\\"<","items":[{"id":"é"}],"n":1.5,"next":null,"tail":[]}');
  t.deepEqual(JSON.parse(text), { a: 'x"<', items: [{ id: 'é' }], n: 1.5, next: null, tail: [] });
  t.is(objectJson({}).toString(), '{}');
});
