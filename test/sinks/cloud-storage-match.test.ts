/**
 * The Cloud Storage result object carries geometry matching's fields where it ran, and has the
 * seed's shape where it did not (issue 13).
 */
import test from 'ava';
import { countChanges, diffVersions } from '../../src/domain/diff.js';
import { resultObject } from '../../sinks/cloud-storage/encode.js';
import { result } from '../support/gcp-fixtures.js';

const door = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });

test('a result object holds renamed and ambiguous only where geometry matching ran', (t) => {
  const a = [door('A1', 0), door('A2', 40), door('A3', 41)];
  const b = [door('B1', 0), door('B2', 40.5)];
  const matched = diffVersions(a, b, { match: 'geometry' });
  const body = JSON.parse(resultObject(result('t1', { changes: matched, counts: countChanges(matched) })).body as string);
  t.deepEqual(body.renamed, [{ id: 'B1', previous_id: 'A1', type: 'door', description: 'A1 is now B1 (door)' }]);
  t.deepEqual(body.ambiguous.map((g: { previous_ids: string[]; ids: string[] }) => [g.previous_ids, g.ids]), [[['A2', 'A3'], ['B2']]]);
  t.is(body.counts.renamed, 1);

  const byId = diffVersions(a, b);
  const plain = JSON.parse(resultObject(result('t2', { changes: byId, counts: countChanges(byId) })).body as string);
  t.false('renamed' in plain || 'ambiguous' in plain || 'renamed' in plain.counts);
});
