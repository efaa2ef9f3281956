/**
 * Smoke test of `npm run bench`: the quick mode of the pure rows (diff against JSON.parse and
 * the peers, the latency histogram) runs and prints its table with every row. No timing is
 * asserted: the machine is shared, and a benchmark reports rather than gates.
 */
import test from 'ava';
import { renderReport, runBench } from './bench.js';

test('quick bench of the pure rows prints one table with every row', async (t) => {
  const log: string[] = [];
  const report = await runBench({ quick: true, only: new Set(['diff', 'peers', 'histogram']), log: (s) => log.push(s) });
  const output = renderReport(report);
  const rows = output.split('\n').filter((l) => l.startsWith('| '));
  t.is(rows[0], '| what | measured | ratio/value | target | met? |');
  const whats = rows.slice(2).map((r) => r.split(' | ')[0]!.slice(2));
  t.deepEqual(whats, [
    'validate + diff, 10 objects/version',
    'validate + diff ÷ microdiff, 10 objects',
    'validate + diff ÷ jsondiffpatch, 10 objects',
    'validate + diff, 1,000 objects/version',
    'validate + diff ÷ microdiff, 1,000 objects',
    'validate + diff ÷ jsondiffpatch, 1,000 objects',
    'validate + diff, 10,000 objects/version',
    'validate + diff ÷ microdiff, 10,000 objects',
    'validate + diff ÷ jsondiffpatch, 10,000 objects',
    'latency histogram: record one value',
    'latency histogram: p95 + p99 query',
  ]);
  // every line was measured (a failure would show as n/a), with its target and verdict
  for (const line of report.lines) {
    t.true(line.value !== null && Number.isFinite(line.value) && line.value > 0, `${line.what}: ${line.measured}`);
    t.true(line.met === null || typeof line.met === 'boolean');
  }
  t.true(rows.some((r) => r.includes('≤ 1.3')));
  t.true(rows.some((r) => r.includes('≤ 60 ns')) && rows.some((r) => r.includes('≤ 100 µs')));
  t.regex(output, /QUICK smoke run/);
  t.regex(output, /time of validateAndDiff\(parsedA, parsedB\) divided by the time of\nJSON\.parse of the two versions' text/);
  t.false(report.lines.some((l) => ['e2e', 'http', 'memory', 'stall', 'overlay'].includes(l.group)), '--only keeps the other rows out');
});

test('quick HTTP row: both routes and the bare node:http peer are loaded side by side, none failing', async (t) => {
  const report = await runBench({ quick: true, only: new Set(['http']), log: () => {} });
  const whats = report.lines.map((l) => l.what);
  t.deepEqual(whats.slice(0, 2), ['GET /metrics p99 under load', 'GET /changes p99 under load']);
  t.regex(whats[2] ?? '', /^the peer: a bare node:http server, \d+-byte body/);
  t.true((report.lines[2]?.details as { bodyBytes: number }).bodyBytes > 100, 'the peer answers a body the size of /metrics');
  for (const line of report.lines) {
    const d = line.details as { requests: number; errors: number; timeouts: number; non2xx: number };
    t.true(d.requests > 0, line.what);
    t.is(d.errors + d.timeouts + d.non2xx, 0, `${line.what}: no request failed`);
    t.true(line.value !== null && Number.isFinite(line.value), line.measured);
  }
  const routes = report.lines.slice(0, 2).map((l) => l.details as { pipelinePairs: number; ratioToPeer: number | null });
  t.true(routes.every((r) => r.pipelinePairs > 0), 'the pipeline stored pairs while the routes were loaded');
  t.regex(report.lines[0]!.measured, /× the bare peer's p99|the peer p99 was 0 ms/);
});
