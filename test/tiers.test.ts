/**
 * Keeps the quick tier (`npm run test:unit`, ava.unit.config.js) honest: every test in it runs in
 * ava's own process, found by following its imports, and every test left out needs something the
 * tier leaves out. Runs in both tiers.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import { findForbiddenImport, importsOf, type ImportStep } from './support/import-graph.js';
import { REPO_ROOT } from './support/in-process.js';

interface UnitConfig {
  readonly default: { readonly files: readonly string[]; readonly workerThreads: boolean };
  readonly UNIT_GLOBS: readonly string[];
  readonly NOT_UNIT: Readonly<Record<string, string>>;
  readonly compiled: (source: string) => string;
}

const support = (file: string) => path.join(REPO_ROOT, 'test/support', file);
const BENCH = path.join(REPO_ROOT, 'test/bench') + path.sep;

/** What the unit tier runs without, as the module a test would have to import to use it. */
function outOfProcess(specifierOrFile: string): boolean {
  return (
    /^(node:)?(child_process|cluster)$/.test(specifierOrFile) ||
    /^playwright(-core)?$/.test(specifierOrFile) ||
    specifierOrFile === support('pubsub-emulator.ts') ||
    specifierOrFile === support('service-process.ts') ||
    specifierOrFile.startsWith(BENCH)
  );
}

/** `test/…` paths of every test file, relative to the repository and with `/`. */
function allTests(): string[] {
  return readdirSync(path.join(REPO_ROOT, 'test'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => `test/${f.split(path.sep).join('/')}`)
    .sort();
}

/** The glob subset the tier's config uses: `*` within a folder, `**\/` across folders. */
function globToRegExp(glob: string): RegExp {
  const source = glob
    .split(/(\*\*\/|\*)/)
    .map((part) => (part === '**/' ? '(?:[^/]+/)*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

async function unitConfig(): Promise<UnitConfig> {
  return (await import(pathToFileURL(path.join(REPO_ROOT, 'ava.unit.config.js')).href)) as UnitConfig;
}

/** The test sources the tier selects: any of its globs, and not in NOT_UNIT. */
async function unitTier(): Promise<string[]> {
  const { UNIT_GLOBS, NOT_UNIT } = await unitConfig();
  const include = UNIT_GLOBS.map(globToRegExp);
  return allTests().filter((f) => include.some((r) => r.test(f)) && !(f in NOT_UNIT));
}

const chainText = (chain: readonly ImportStep[]) => chain.map((s) => `${path.relative(REPO_ROOT, s.file)} imports ${s.specifier}`).join(', which ');

test('every test in the unit tier runs in process: none reaches child_process, the emulator or service-process fixtures, playwright or the bench', async (t) => {
  const unit = await unitTier();
  t.true(unit.length >= 40, `the unit tier selects ${unit.length} files`);
  t.true(unit.includes('test/tiers.test.ts') && unit.includes('test/streams/pipeline.marble.test.ts'));
  const offenders = unit.flatMap((file) => {
    const chain = findForbiddenImport(path.join(REPO_ROOT, file), outOfProcess);
    return chain ? [`${file}: ${chainText(chain)}`] : [];
  });
  t.deepEqual(offenders, [], 'move these to NOT_UNIT in ava.unit.config.js, or make them run in process');
});

test('every test left out of the unit tier needs something the tier leaves out', async (t) => {
  const unit = new Set(await unitTier());
  const left = allTests().filter((f) => !unit.has(f));
  t.true(left.length > 0);
  const inProcess = left.filter((file) => findForbiddenImport(path.join(REPO_ROOT, file), outOfProcess) === undefined);
  t.deepEqual(inProcess, [], 'these run in process: add them to the unit tier (ava.unit.config.js)');
});

test("the unit tier's exclusions name test files that exist, each with its reason", async (t) => {
  const { NOT_UNIT } = await unitConfig();
  for (const [file, reason] of Object.entries(NOT_UNIT)) {
    t.true(existsSync(path.join(REPO_ROOT, file)), `${file} does not exist`);
    t.regex(reason, /\w/, file);
  }
});

test('ava runs the compiled form of exactly those sources, in worker threads, and no compiled test whose source is gone', async (t) => {
  const { default: config, UNIT_GLOBS, NOT_UNIT, compiled } = await unitConfig();
  t.is(compiled('test/streams/pipeline.marble.test.ts'), 'dist/test/streams/pipeline.marble.test.js');
  const apart = Object.keys(NOT_UNIT);
  const stale = config.files.slice(UNIT_GLOBS.length + apart.length);
  t.deepEqual(config.files, [...UNIT_GLOBS.map(compiled), ...apart.map((f) => `!${compiled(f)}`), ...stale]);
  for (const negated of stale) {
    t.regex(negated, /^!dist\/test\/.+\.test\.js$/);
    t.false(existsSync(path.join(REPO_ROOT, negated.slice('!dist/'.length).replace(/\.js$/, '.ts'))), `${negated} has its source`);
  }
  t.true(config.workerThreads);
});

test('a compiled test left in dist/test after its source is deleted is negated in the config', async (t) => {
  const probe = `test/tiers-stale-probe-${process.pid}-${Date.now()}.test.js`;
  writeFileSync(path.join(REPO_ROOT, 'dist', probe), '');
  t.teardown(() => rmSync(path.join(REPO_ROOT, 'dist', probe), { force: true }));
  const fresh = (await import(`${pathToFileURL(path.join(REPO_ROOT, 'ava.unit.config.js')).href}?probe=${Date.now()}`)) as UnitConfig;
  t.true(fresh.default.files.includes(`!dist/${probe}`));
});

test('the import walk rejects a child process two imports away, through a re-export or a dynamic import, and ignores one named in a comment', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-tiers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'support'));
  const write = (file: string, text: string) => writeFileSync(path.join(dir, file), text);
  // Spelled apart so that this file's own source names no child_process import.
  const childProcess = `'node:${'child_process'}'`;
  write('support/spawner.ts', `import { spawn } from ${childProcess};\nexport const run = () => spawn('true');\n`);
  write('support/again.ts', "export { run } from './spawner.js';\n");
  write('support/lazy.ts', "export const later = () => import('./spawner.js');\n");
  write('support/pure.ts', `// import { spawn } from ${childProcess};\n/* import(${childProcess}) */\nexport const one = 1;\n`);
  write('direct.test.ts', "import test from 'ava';\nimport { run } from './support/again.js';\n");
  write('dynamic.test.ts', "import { later } from './support/lazy.js';\n");
  write('clean.test.ts', "import test from 'ava';\nimport type { X } from './missing.js';\nimport { one } from './support/pure.js';\n");

  const direct = findForbiddenImport(path.join(dir, 'direct.test.ts'), outOfProcess);
  t.deepEqual(
    direct?.map((s) => [path.relative(dir, s.file), s.specifier]),
    [
      ['direct.test.ts', './support/again.js'],
      ['support/again.ts', './spawner.js'],
      ['support/spawner.ts', 'node:child_process'],
    ],
  );
  t.is(findForbiddenImport(path.join(dir, 'dynamic.test.ts'), outOfProcess)?.at(-1)?.specifier, 'node:child_process');
  t.is(findForbiddenImport(path.join(dir, 'clean.test.ts'), outOfProcess), undefined);
});

test('the fixtures that start processes are recognised by path, and the in-process helpers are not', (t) => {
  t.true(outOfProcess(support('pubsub-emulator.ts')));
  t.true(outOfProcess(support('service-process.ts')));
  t.true(outOfProcess(path.join(REPO_ROOT, 'test/bench/match-row.ts')));
  t.true(outOfProcess('playwright-core'));
  t.false(outOfProcess(support('in-process.ts')));
  t.false(outOfProcess(support('api-fixture.ts')));
  t.false(outOfProcess('node:worker_threads'));
});

test('importsOf reads static, type-only, side-effect, re-export and dynamic imports', (t) => {
  const source = [
    "import a from './a.js';",
    "import type { B } from './b.js';",
    "import './c.js';",
    "export * from './d.js';",
    "const e = await import('./e.js');",
    "import {\n  f,\n  g,\n} from \"./fg.js\";",
    'const url = import.meta.url;',
  ].join('\n');
  t.deepEqual(importsOf(source), ['./a.js', './b.js', './c.js', './d.js', './e.js', './fg.js']);
});
