/**
 * The Dockerfile, checked without a Docker engine (none runs on the project's machines): its
 * build stage is replayed from exactly the files it copies, so a file the build needs but the
 * image lacks fails here, and the final stage is checked for what it runs and how signals reach it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions per stage, continuation lines joined, comments dropped. */
function stages(dockerfile: string): Instruction[][] {
  const joined = dockerfile.replace(/\\\n/g, ' ');
  const out: Instruction[][] = [];
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') out.push([]);
    out.at(-1)?.push(instruction);
  }
  return out;
}

const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const [build = [], runtime = []] = stages(dockerfile);
const ignored = new Set(
  readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#')),
);

/** The sources of `COPY a b ./dest` in the build context (not `--from` copies). */
function copiedSources(stage: Instruction[], until: (i: Instruction) => boolean): string[] {
  const sources: string[] = [];
  for (const instruction of stage) {
    if (until(instruction)) break;
    if (instruction.keyword !== 'COPY' || instruction.args.startsWith('--from')) continue;
    sources.push(...instruction.args.split(/\s+/).slice(0, -1));
  }
  return sources;
}

test('the build stage builds from exactly the files it copies before `npm ci` (whose prepare script compiles)', (t) => {
  const isInstall = (i: Instruction) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args);
  t.true(build.some(isInstall), 'the build stage runs npm ci');
  const sources = copiedSources(build, isInstall);
  // npm ci runs the package's own prepare script: what it names must be in the image by then
  const prepare: string = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.prepare;
  for (const file of prepare.match(/[\w./-]+\.m?js\b/g) ?? []) {
    t.true(
      sources.some((s) => file === s || file.startsWith(`${s.replace(/\/$/, '')}/`)),
      `${file} (run by "prepare" during npm ci) is copied before npm ci; copied: ${sources.join(' ')}`,
    );
  }

  // replay: the copied files alone, with this checkout's installed packages, compile
  const context = mkdtempSync(path.join(tmpdir(), 'buildtrace-docker-'));
  t.teardown(() => rmSync(context, { recursive: true, force: true }));
  for (const source of sources) {
    cpSync(path.join(root, source), path.join(context, source), {
      recursive: true,
      filter: (from) => !ignored.has(path.basename(from)),
    });
  }
  symlinkSync(path.join(root, 'node_modules'), path.join(context, 'node_modules'), 'dir');
  execFileSync(process.execPath, ['-e', `require('child_process').execSync(${JSON.stringify(prepare)}, { stdio: 'inherit' })`], {
    cwd: context,
    stdio: 'pipe',
  });
  t.true(existsSync(path.join(context, 'dist', 'src', 'main.js')), 'prepare compiled dist/src/main.js from the copied files');
  t.true(existsSync(path.join(context, 'dist', 'web', 'dashboard.js')), 'prepare bundled the dashboard into dist/web from the copied files');
  t.false(existsSync(path.join(context, 'dist', 'test')), 'no test is compiled into dist/, which the image ships');
  t.false(sources.some((s) => s === 'test' || s.startsWith('test/')), 'the build stage copies no tests');
});

test('both stages use the same base, pinned by digest', (t) => {
  const bases = [build, runtime].map((stage) => (stage.find((i) => i.keyword === 'FROM')?.args ?? '').split(/\s+/)[0]);
  for (const base of bases) t.regex(base ?? '', /^node:22-bookworm-slim@sha256:[0-9a-f]{64}$/);
  t.is(bases[0], bases[1], 'one digest to bump');
  t.regex(dockerfile, /How this digest was chosen/, 'the Dockerfile says where the digest came from and how to bump it');
});

test('the image runs the built service on Node 22 LTS, as PID 1 in exec form so SIGTERM reaches it', (t) => {
  const from = runtime.find((i) => i.keyword === 'FROM')?.args ?? '';
  t.regex(from, /^node:22\b/);
  t.regex(build.find((i) => i.keyword === 'FROM')?.args ?? '', /^node:22\b/);
  const cmd = runtime.find((i) => i.keyword === 'CMD')?.args ?? '';
  t.deepEqual(JSON.parse(cmd), ['node', 'dist/src/main.js'], 'exec form: no shell in between to swallow SIGTERM');
  const fromBuild = runtime.filter((i) => i.keyword === 'COPY' && i.args.startsWith('--from=build')).map((i) => i.args.split(/\s+/)[1]);
  t.deepEqual(fromBuild.sort(), ['/app/dist', '/app/node_modules', '/app/package.json']);
  t.true(runtime.some((i) => i.keyword === 'USER' && i.args === 'node'), 'runs unprivileged');
  t.true(runtime.some((i) => i.keyword === 'EXPOSE' && i.args === '8080'));
  for (const name of ['node_modules', 'dist', 'data', '.git']) t.true(ignored.has(name), `.dockerignore keeps ${name} out of the context`);
});
