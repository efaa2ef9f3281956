/**
 * The simulator's command line: --help, one clear line and exit status 2 for every bad argument
 * (in process and as the real script), the same seed writing the same files, and the progress
 * display on a terminal and in a log.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseSimulateArgs, runSimulateCli, USAGE, type SimulateIo } from '../../src/simulate/cli.js';
import { Progress, formatBytes, formatDuration } from '../../src/simulate/progress.js';
import type { TruthFile } from '../../src/simulate/truth.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

function io(): SimulateIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    progress: { write: (s: string) => (err += s), isTTY: false },
    stdout: () => out,
    stderr: () => err,
  };
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under `dir` with its bytes, by relative path. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[path.relative(dir, p)] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

test('--help prints the usage and exits 0', async (t) => {
  const cap = io();
  t.is(await runSimulateCli(['--help'], cap, {}), 0);
  t.is(cap.stdout(), USAGE);
  for (const flag of ['--out', '--pubsub', '--url', '--objects', '--malformed-rate', '--half-rate', '--spike', '--seed', '--truth']) {
    t.true(USAGE.includes(flag), flag);
  }
});

const BAD: readonly [string[], RegExp][] = [
  [[], /^simulate: no target: give one of --out DIR/],
  [['--out', 'x', '--url', 'http://127.0.0.1:1'], /--out and --url cannot be combined/],
  [['--out', 'x', '--objects', '5'], /--objects must be a whole number from 10 to 100000, got "5"/],
  [['--out', 'x', '--objects', '100001'], /--objects must be a whole number from 10 to 100000/],
  [['--out', 'x', '--pairs', '0'], /--pairs must be a whole number from 1/],
  [['--out', 'x', '--pairs', '1.5'], /--pairs must be a whole number/],
  [['--out', 'x', '--pairs', '10', '--drawings', '11'], /--drawings must be a whole number from 1 to 10, got "11"/],
  [['--out', 'x', '--malformed-rate', '2'], /--malformed-rate must be a number from 0 to 1, got "2"/],
  [['--out', 'x', '--half-rate', 'lots'], /--half-rate must be a number from 0 to 1, got "lots"/],
  [['--out', 'x', '--malformed-rate', '0.7', '--half-rate', '0.5'], /add up to 1.2; together they must be at most 1/],
  [['--out', 'x', '--seed=-3'], /--seed must be a whole number from 0 to 4294967295/],
  [['--out', 'x', '--seed', '4294967296'], /--seed must be a whole number/],
  [['--out', 'x', '--prefix=-bad'], /--prefix "-bad" makes drawing ids such as "-bad0099", which are not/],
  [['--out', 'x', '--prefix', '-bad'], /^simulate: --prefix needs a value; write one that starts with a dash as --prefix=VALUE \(see --help\)\n$/],
  [['--out', 'gs://Bad_Bucket/x'], /is not gs:\/\/BUCKET\/PREFIX with a valid bucket name/],
  [['--out', 's3://bucket/x'], /only local directories and gs:\/\/ are supported/],
  [['--url', 'not a url'], /--url "not a url" is not a URL/],
  [['--url', 'ftp://127.0.0.1'], /must be http:\/\/ or https:\/\//],
  [['--out', 'x', '--batch', '10'], /--batch applies only with --url/],
  [['--out', 'x', '--wait'], /--wait applies only with --url/],
  [['--url', 'http://127.0.0.1:1', '--run-id', 'r'], /--run-id applies only with --pubsub/],
  [['--url', 'http://127.0.0.1:1', '--batch', '0'], /--batch must be a whole number from 1/],
  [['--pubsub', 'drawing-processing-tasks'], /--pubsub needs GOOGLE_CLOUD_PROJECT/],
  [['--pubsub', 'go'], /is not a topic id/],
  [['--out', 'x', '--bogus'], /Unknown option '--bogus' \(see --help\)\n$/],
  [['--out', 'x', 'stray'], /Unexpected argument 'stray' \(see --help\)\n$/],
  [['--out'], /--out/],
];

for (const [argv, message] of BAD) {
  test(`bad arguments exit 2 with one line: ${argv.join(' ') || '(none)'}`, async (t) => {
    const cap = io();
    t.is(await runSimulateCli(argv, cap, {}), 2);
    t.regex(cap.stderr(), message);
    t.is(cap.stderr().trim().split('\n').length, 1, cap.stderr());
    t.is(cap.stdout(), '');
  });
}

test('the real script exits 2 on bad arguments and 0 on --help', async (t) => {
  const script = path.join(ROOT, 'src/simulate.ts');
  const bad = await run(process.execPath, ['--import', 'tsx', script, '--out', 'x', '--objects', '5'], { cwd: ROOT }).then(
    () => null,
    (err: { code: number; stderr: string }) => err,
  );
  t.is(bad?.code, 2);
  t.regex(bad?.stderr ?? '', /^simulate: --objects must be a whole number from 10 to 100000, got "5"\n$/);
  const help = await run(process.execPath, ['--import', 'tsx', script, '-h'], { cwd: ROOT });
  t.is(help.stdout, USAGE);
});

test('flags are parsed into the scenario and the target', (t) => {
  const args = parseSimulateArgs(
    ['--url', 'http://127.0.0.1:8080/', '--pairs', '1_000', '--objects', '100', '--drawings', '10', '--malformed-rate', '.1', '--half-rate', '0.05', '--spike', '--seed', '7', '--batch', '50', '--wait', '--wait-timeout', '30'],
    {},
  );
  if (args === 'help') return t.fail();
  t.like(args.scenario, { seed: 7, pairs: 1000, objects: 100, drawings: 10, malformedRate: 0.1, halfRate: 0.05, spike: true, modifiedRate: 0 });
  t.deepEqual(args.target, { kind: 'http', url: 'http://127.0.0.1:8080', batch: 50, maxBodyBytes: 10 * 1024 * 1024, waitMs: 30_000 });
  const pubsub = parseSimulateArgs(['--pubsub', 'drawing-processing-tasks', '--seed', '3'], { GOOGLE_CLOUD_PROJECT: 'buildtrace-test' });
  t.like(pubsub, { target: { kind: 'pubsub', topic: 'drawing-processing-tasks', projectId: 'buildtrace-test', runId: 'sim-3' } });
  const gcs = parseSimulateArgs(['--out', 'gs://buildtrace-input-p/input/'], {});
  t.like(gcs, { target: { kind: 'gcs', location: { bucket: 'buildtrace-input-p', prefix: 'input' } } });
  // without --seed a random one is chosen (and reported in the summary)
  const random = parseSimulateArgs(['--out', 'x'], {});
  if (random === 'help') return t.fail();
  t.true(Number.isInteger(random.scenario.seed) && random.scenario.seed >= 0);
});

test('the same seed writes the same files and the same truth; the summary and truth match what is on disk', async (t) => {
  const dir = tmp(t);
  const argv = (out: string, truth: string) => [
    '--out', out, '--pairs', '60', '--objects', '10', '--malformed-rate', '0.2', '--half-rate', '0.1', '--spike', '--drawings', '15',
    '--seed', '1234', '--truth', truth, '--quiet',
  ];
  const first = io();
  t.is(await runSimulateCli(argv(path.join(dir, 'one'), path.join(dir, 'one.json')), first, {}), 0, first.stderr());
  const second = io();
  t.is(await runSimulateCli(argv(path.join(dir, 'two'), path.join(dir, 'two.json')), second, {}), 0);
  t.deepEqual(tree(path.join(dir, 'two')), tree(path.join(dir, 'one')));
  t.is(second.stderr(), '', '--quiet shows no progress');

  const truth = JSON.parse(readFileSync(path.join(dir, 'one.json'), 'utf8')) as TruthFile;
  const again = JSON.parse(readFileSync(path.join(dir, 'two.json'), 'utf8')) as TruthFile;
  const { sent: s1, options: o1, ...rest1 } = truth;
  const { sent: s2, options: o2, ...rest2 } = again;
  t.deepEqual(rest2, rest1);
  t.is(s1.written, 60);
  t.is(truth.seed, 1234);
  t.is(truth.pairs, 60);
  t.is(truth.good_pairs + truth.malformed.total + truth.half_pairs, 60);
  t.is(truth.expected.missing_uploads, truth.half_pairs);
  t.is(truth.expected.malformed_failures, truth.malformed.total);
  t.is(truth.expected.results, truth.good_pairs);
  t.is(truth.spike?.drawing_id, 'drawing_0000');

  // on disk: 4 revisions of 15 drawings, a half pair is a folder with one version
  const files = Object.keys(tree(path.join(dir, 'one')));
  t.is(new Set(files.map((f) => f.split(path.sep)[0])).size, 4);
  const folders = new Map<string, number>();
  for (const f of files) folders.set(path.dirname(f), (folders.get(path.dirname(f)) ?? 0) + 1);
  t.is([...folders.values()].filter((n) => n === 1).length, truth.half_pairs);
  t.is(folders.size, 60);
  t.deepEqual(s1.storage_paths, ['rev-000', 'rev-001', 'rev-002', 'rev-003'].map((r) => path.join(dir, 'one', r)));
  t.regex(first.stdout(), /^simulate: 60 pairs to files under .* seed 1234\n/);
  t.regex(first.stdout(), new RegExp(`good pairs +${truth.good_pairs}: added ${truth.changes.added}, removed ${truth.changes.removed}, moved ${truth.changes.moved}, modified 0`));
  t.regex(first.stdout(), /malformed +\d+: not_array \d+, not_object \d+, missing_field \d+, bad_number \d+, empty_id \d+, duplicate_id \d+/);
  t.regex(first.stdout(), /spike +drawing_0000, pair 45: \d+ changes \(\d+\.\d× the mean of/);
  t.like(o1, { seed: 1234, target: 'files' });
  t.not(o2, undefined);
  t.not(s2, undefined);
});

test('a directory that cannot be written is a target failure: exit 1 with the path', async (t) => {
  const dir = tmp(t);
  const blocker = path.join(dir, 'file');
  (await import('node:fs')).writeFileSync(blocker, 'x');
  const cap = io();
  t.is(await runSimulateCli(['--out', path.join(blocker, 'sub'), '--pairs', '3', '--quiet'], cap, {}), 1);
  t.regex(cap.stderr(), /^simulate: cannot write .*file\/sub\/drawing_0000\/version_a\.json: /);
});

test('progress on a terminal: a bar redrawn in place, with rate and ETA', (t) => {
  let now = 0;
  let out = '';
  const progress = new Progress({ total: 100, stream: { write: (s: string) => (out += s), isTTY: true, columns: 200 }, clock: () => now });
  now = 1000;
  progress.advance(25, 25_000);
  t.regex(out, /^\r\x1b\[2K\[######\.+\] simulate: 25\/100 pairs \(25%\), 25\.0 pairs\/s, 25\.0 KB, ETA 3s$/);
  now = 1050; // within the redraw interval: nothing new
  progress.advance(1, 1000);
  t.is(out.split('\r').length, 2);
  now = 4000;
  progress.advance(74, 74_000);
  progress.finish();
  t.regex(out, /\[#{24}\] simulate: 100\/100 pairs \(100%\), 25\.0 pairs\/s, 100\.0 KB, ETA done\n$/);
});

test('progress without a terminal: plain lines at each tenth, none between', (t) => {
  let now = 0;
  let out = '';
  const progress = new Progress({ total: 1000, stream: { write: (s: string) => (out += s) }, clock: () => now });
  for (let i = 0; i < 1000; i++) {
    now += 2;
    progress.advance(1, 100);
  }
  progress.finish();
  const lines = out.trimEnd().split('\n');
  t.is(lines.length, 10);
  t.false(out.includes('\r') || out.includes('\x1b'));
  t.is(lines[0], 'simulate: 100/1000 pairs (10%), 500 pairs/s, 10.0 KB, ETA 2s');
  t.is(lines[9], 'simulate: 1000/1000 pairs (100%), 500 pairs/s, 100.0 KB, ETA done');
});

test('progress without a terminal: a slow run still logs every 10 s, and a stopped run shows where', (t) => {
  let now = 0;
  let out = '';
  const progress = new Progress({ total: 1000, stream: { write: (s: string) => (out += s) }, clock: () => now });
  now = 11_000;
  progress.advance(5, 10);
  now = 12_000;
  progress.advance(5, 10);
  progress.finish();
  t.deepEqual(out.trimEnd().split('\n'), [
    'simulate: 5/1000 pairs (0%), 0.5 pairs/s, 10 B, ETA 36m29s',
    'simulate: 10/1000 pairs (1%), 0.8 pairs/s, 20 B, ETA 19m48s',
  ]);
});

test('sizes and durations are formatted for people', (t) => {
  t.is(formatBytes(999), '999 B');
  t.is(formatBytes(1500), '1.5 KB');
  t.is(formatBytes(13_400_000), '13.4 MB');
  t.is(formatDuration(4.4), '4s');
  t.is(formatDuration(125), '2m05s');
  t.is(formatDuration(3720), '1h02m');
});
