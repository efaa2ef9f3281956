import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import { runCli, USAGE } from '../src/cli.js';
import { validateAndDiff } from '../src/domain/diff.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const obj = (id: string, x: unknown, y: unknown, extra: Record<string, unknown> = {}) => ({ id, type: 'door', x, y, width: 1, height: 2, ...extra });
const A = [obj('A', 0, 0), obj('R', 5, 5, { type: 'wall' }), obj('S', 1, 1)];
const B = [obj('A', 2, 0, { type: 'window' }), obj('N', '4', 2.5, { type: 'beam' }), obj('S', 1.05, 1)];

/** A temp folder in the seed's layout (`D7/version_a.json`, `version_b.json`), removed after the test. */
async function files(t: ExecutionContext, a: unknown = A, b: unknown = B, name = 'D7'): Promise<{ a: string; b: string; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'buildtrace-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, name));
  const fa = path.join(dir, name, 'version_a.json');
  const fb = path.join(dir, name, 'version_b.json');
  await writeFile(fa, typeof a === 'string' ? a : JSON.stringify(a));
  await writeFile(fb, typeof b === 'string' ? b : JSON.stringify(b));
  return { a: fa, b: fb, dir };
}

/** The real command, as a user runs it. */
function spawnCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The same entry point in process, for the many usage cases. */
async function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { out: (s) => (stdout += s), err: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

test('spawned: diff prints counts, every item and the summary', async (t) => {
  const f = await files(t);
  const r = await spawnCli(['diff', f.a, f.b]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  t.is(r.stdout, [
    'drawing D7: 1 added, 1 removed, 1 moved, 1 modified',
    'added:',
    '  N (beam at 4.0,2.5)',
    'removed:',
    '  R (wall)',
    'moved:',
    '  A moved 2.0 units east',
    'modified:',
    '  A modified: type door → window',
    'summary: 1 object(s) moved: A moved 2.0 units east. 1 object(s) added: N (beam at 4.0,2.5). 1 object(s) removed: R (wall). '
      + '1 object(s) modified: A modified: type door → window.',
    '',
  ].join('\n'));
});

test('spawned: --json prints the change set', async (t) => {
  const f = await files(t);
  const r = await spawnCli(['diff', f.a, f.b, '--json', '--tolerance', '0.01']);
  t.is(r.code, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), JSON.parse(JSON.stringify(validateAndDiff(A, B, 'D7', { tolerance: 0.01 }))));
  t.is((JSON.parse(r.stdout) as { moved: unknown[] }).moved.length, 2); // S moved 0.05 counts at 0.01
});

test('--match geometry pairs regenerated ids and prints renamed and ambiguous; --match id prints what it always did', async (t) => {
  const door = (id: string, x: number) => ({ id, type: 'door', x, y: 0, width: 1, height: 2 });
  const a = [door('A1', 0), door('A2', 100), door('A3', 200), door('A4', 210)];
  const b = [door('B1', 0), door('B2', 103), door('B3', 205)];
  const f = await files(t, a, b);
  const text = await run(['diff', f.a, f.b, '--match', 'geometry', '--radius', '6']);
  t.is(text.code, 0, text.stderr);
  t.is(text.stdout, [
    'drawing D7: 1 added, 2 removed, 1 moved, 0 modified, 1 renamed, 1 ambiguous',
    'added:',
    '  B3 (door at 205.0,0.0)',
    'removed:',
    '  A3 (door)',
    '  A4 (door)',
    'moved:',
    '  B2 (was A2) moved 3.0 units east',
    'renamed:',
    '  A1 is now B1 (door)',
    'ambiguous:',
    '  door A3, A4 or B3: equally good candidates, not matched',
    'summary: 1 object(s) moved: B2 (was A2) moved 3.0 units east. 1 object(s) added: B3 (door at 205.0,0.0). '
      + '2 object(s) removed: A3 (door), A4 (door). 2 object(s) re-identified by geometry (1 only renamed). '
      + '3 object(s) in 1 ambiguous group(s) left as removed and added: door A3, A4 or B3: equally good candidates, not matched.',
    '',
  ].join('\n'));
  const json = await run(['diff', f.a, f.b, '--json', '--match', 'geometry', '--radius', '6']);
  t.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(validateAndDiff(a, b, 'D7', { match: 'geometry', radius: 6 }))));
  const byId = await run(['diff', f.a, f.b, '--match', 'id']);
  t.deepEqual(byId, await run(['diff', f.a, f.b]));
  t.regex(byId.stdout, /^drawing D7: 3 added, 4 removed, 0 moved, 0 modified\n/);
});

test('spawned: a malformed version exits 2 with the validator\'s one-line message', async (t) => {
  const f = await files(t, A, [obj('A', 0, 0), obj('B', 'abc', 0), obj('C', 0, 0)]);
  const r = await spawnCli(['diff', f.a, f.b]);
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.is(r.stderr, 'buildtrace: drawing D7, version_b, object 1: field "x" must be a finite number, got "abc"\n');
});

test('spawned: --help prints the usage and exits 0; no arguments is bad usage', async (t) => {
  const help = await spawnCli(['--help']);
  t.is(help.code, 0);
  t.is(help.stdout, USAGE);
  const none = await spawnCli([]);
  t.is(none.code, 2);
  t.is(none.stderr, 'buildtrace: missing command: expected "diff A.json B.json" (see --help)\n');
});

test('-h is --help', async (t) => {
  t.deepEqual(await run(['-h']), { code: 0, stdout: USAGE, stderr: '' });
  t.is((await run(['diff', 'x', '--help'])).code, 0);
});

test('bad usage exits 2 with one line naming the problem', async (t) => {
  const f = await files(t);
  const cases: Array<[string[], string]> = [
    [['frobnicate'], 'unknown command "frobnicate": expected "diff", "setup", "dead-letters" (see --help)'],
    [['diff'], 'diff takes two files, version A and version B; got 0 (see --help)'],
    [['diff', f.a], 'diff takes two files, version A and version B; got 1 (see --help)'],
    [['diff', f.a, f.b, f.b], 'diff takes two files, version A and version B; got 3 (see --help)'],
    [['diff', f.a, f.b, '--verbose'], "Unknown option '--verbose' (see --help)"],
    [['diff', f.a, f.b, '--tolerance'], "Option '--tolerance <value>' argument missing (see --help)"],
    [['diff', f.a, f.b, '--tolerance=-1'], '--tolerance must be a number of at least 0, got "-1"'],
    [['diff', f.a, f.b, '--tolerance', '-1'], '--tolerance must be a number of at least 0, got "-1"'],
    [['diff', f.a, f.b, '--radius', '-2.5'], '--radius must be a finite number of at least 0, got "-2.5"'],
    [['diff', f.a, f.b, '--tolerance', 'abc'], '--tolerance must be a number of at least 0, got "abc"'],
    [['diff', f.a, f.b, '--tolerance', 'inf'], '--tolerance must be a number of at least 0, got "inf"'],
    [['diff', f.a, f.b, '--match', 'guess'], '--match must be one of id, geometry, auto, got "guess"'],
    [['diff', f.a, f.b, '--match'], "Option '--match <value>' argument missing (see --help)"],
    [['diff', f.a, f.b, '--radius', 'far'], '--radius must be a finite number of at least 0, got "far"'],
    [['diff', f.a, f.b, '--radius=-2'], '--radius must be a finite number of at least 0, got "-2"'],
    [['diff', f.a, f.b, '--drawing-id', 'a/b'],
      '--drawing-id must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got "a/b"'],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    t.is(r.code, 2, args.join(' '));
    t.is(r.stdout, '');
    t.is(r.stderr, `buildtrace: ${message}\n`, args.join(' '));
  }
});

test('an unreadable or non-JSON file exits 2 naming the file', async (t) => {
  const f = await files(t, A, '[{"id": "A",');
  const missing = path.join(f.dir, 'nope.json');
  t.deepEqual(await run(['diff', missing, f.a]), { code: 2, stdout: '', stderr: `buildtrace: cannot read ${missing}: no such file\n` });
  t.deepEqual(await run(['diff', f.dir, f.a]), { code: 2, stdout: '', stderr: `buildtrace: cannot read ${f.dir}: it is a directory\n` });
  const bad = await run(['diff', f.a, f.b]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, new RegExp(`^buildtrace: ${f.b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON: .+\n$`));
  t.is(bad.stderr.split('\n').length, 2); // one line
});

test('every malformed kind is reported by the validator, naming version and object', async (t) => {
  const cases: Array<[unknown, string]> = [
    [{ objects: [] }, 'drawing D7, version_b: must be a JSON array of objects, got an object'],
    [[obj('A', 0, 0), 'x'], 'drawing D7, version_b, object 1: must be an object, got "x"'],
    [[{ id: 'A', type: 'door', x: 0, y: 0, width: 1 }], 'drawing D7, version_b, object 0: field "height" is missing'],
    [[obj('A', 0, 0, { type: '' })], 'drawing D7, version_b, object 0: field "type" must be a non-empty string, got ""'],
    [[obj('A', 0, 0), obj('A', 1, 1)], 'drawing D7, version_b, object 1: duplicate id "A" (first at object 0)'],
    [[obj('A', 0, '1e999')], 'drawing D7, version_b, object 0: field "y" must be a finite number, got "1e999"'],
  ];
  for (const [b, message] of cases) {
    const f = await files(t, A, b);
    t.deepEqual(await run(['diff', f.a, f.b]), { code: 2, stdout: '', stderr: `buildtrace: ${message}\n` });
  }
});

test('the drawing id comes from --drawing-id, else the seed-layout folder, else "cli"', async (t) => {
  const f = await files(t, A, [{}]);
  t.is((await run(['diff', f.a, f.b, '--drawing-id', 'P-12'])).stderr, 'buildtrace: drawing P-12, version_b, object 0: field "id" is missing\n');
  const other = path.join(f.dir, 'other.json');
  await writeFile(other, JSON.stringify(A));
  t.is((await run(['diff', other, f.b])).stderr, 'buildtrace: drawing cli, version_b, object 0: field "id" is missing\n');
});

test('identical versions print no items, and a byte-order mark is tolerated', async (t) => {
  const f = await files(t, `\ufeff${JSON.stringify(A)}`, A);
  const r = await run(['diff', f.a, f.b]);
  t.is(r.code, 0);
  t.is(r.stdout, 'drawing D7: 0 added, 0 removed, 0 moved, 0 modified\nsummary: No changes detected.\n');
});
