import test from 'ava';
import { describeAdded, describeModified, describeMoved, describeRemoved, summarize } from '../../src/domain/describe.js';

test('added, removed and moved read exactly as the seed writes them', (t) => {
  t.is(describeAdded('A3', 'door', 4, 2.5), 'A3 (door at 4.0,2.5)');
  t.is(describeAdded('B12', 'wall', -0, 1e-5), 'B12 (wall at -0.0,1e-05)');
  t.is(describeAdded('X', 'beam', 56.92038748222122, 1e16), 'X (beam at 56.92038748222122,1e+16)');
  t.is(describeRemoved('A3', 'door'), 'A3 (door)');
  t.is(describeMoved('D1', 2, 'east'), 'D1 moved 2.0 units east');
  t.is(describeMoved('D1', 0.25, 'north'), 'D1 moved 0.2 units north');
  t.is(describeMoved('D1', 4.449, 'south'), 'D1 moved 4.4 units south');
});

test('modified names each changed field in order type, width, height', (t) => {
  const from = { type: 'wall', width: 2, height: 1 };
  t.is(describeModified('W1', from, { type: 'door', width: 3.5, height: 1 }, ['type', 'width']),
    'W1 modified: type wall → door, width 2.0 → 3.5');
  t.is(describeModified('W1', from, { type: 'wall', width: 2, height: 0.5 }, ['height']), 'W1 modified: height 1.0 → 0.5');
  t.is(describeModified('W1', from, { type: 'beam', width: 2.125, height: 9 }, ['type', 'width', 'height']),
    'W1 modified: type wall → beam, width 2.0 → 2.125, height 1.0 → 9.0');
});

test('an empty summary says so', (t) => {
  t.is(summarize([], [], []), 'No changes detected.');
  t.is(summarize([], [], [], []), 'No changes detected.');
});

test('the summary lists moved, then added, then removed, up to three examples each', (t) => {
  t.is(
    summarize(['B1 (door at 1.0,2.0)'], ['A2 (wall)'], ['A1 moved 2.0 units east']),
    '1 object(s) moved: A1 moved 2.0 units east. 1 object(s) added: B1 (door at 1.0,2.0). 1 object(s) removed: A2 (wall).',
  );
  t.is(summarize([], ['a', 'b', 'c'], []), '3 object(s) removed: a, b, c.');
});

test('more than three examples keeps the seed\'s ". and N more" sentence', (t) => {
  t.is(summarize(['a', 'b', 'c', 'd', 'e'], [], []), '5 object(s) added: a, b, c. and 2 more.');
  t.is(
    summarize(['a', 'b', 'c', 'd'], ['r'], ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']),
    '6 object(s) moved: m1, m2, m3. and 3 more. 4 object(s) added: a, b, c. and 1 more. 1 object(s) removed: r.',
  );
});

test('modified objects come last, in the same style', (t) => {
  t.is(summarize([], [], [], ['W1 modified: type wall → door']), '1 object(s) modified: W1 modified: type wall → door.');
  t.is(summarize([], ['r'], [], ['m1', 'm2', 'm3', 'm4']), '1 object(s) removed: r. 4 object(s) modified: m1, m2, m3. and 1 more.');
});
