/**
 * The import rules of `.dependency-cruiser.cjs` hold on the real tree, and the same checker rejects
 * a tree that breaks them: a fixture with one deliberate violation of each rule is refused with
 * exactly those rules named, so a rule that silently stopped matching would fail here.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { REPO_ROOT } from './support/in-process.js';

const RULES = path.join(REPO_ROOT, '.dependency-cruiser.cjs');

/** `rule: from → to` for every violation of the rules when cruising `roots` below `baseDir`. */
async function violations(baseDir: string, roots: readonly string[]): Promise<string[]> {
  const options = await extractDepcruiseOptions(RULES);
  const tsConfig = extractTSConfig(path.join(baseDir, 'tsconfig.json'));
  const reported = await cruise([...roots], { ...options, baseDir, validate: true }, {}, { tsConfig });
  const result = reported.output as ICruiseResult;
  return result.summary.violations.map((v) => `${v.rule.name}: ${v.from === v.to ? v.from : `${v.from} → ${v.to}`}`).sort();
}

test('the real tree keeps every import rule', async (t) => {
  t.deepEqual(await violations(REPO_ROOT, ['src', 'streams', 'sinks']), []);
});

/** A tiny project laid out like ours, each file breaking (or keeping) one rule. */
const FIXTURE: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }),
  'package.json': JSON.stringify({ type: 'module' }),
  'src/main.ts': "import './service.js';\nimport './server/app.js';\nimport './log.js';\n",
  // The server opening a sink itself, and a leaf utility reaching into configuration.
  'src/server/app.ts': "import '../../sinks/store/sink.js';\n",
  'src/log.ts': "import './config.js';\n",
  'src/service.ts': "import './registry.js';\nimport '../streams/stage.js';\nimport '../sinks/store/sink.js';\n",
  'src/registry.ts': "import '../streams/source.js';\nimport './infra/database.js';\n",
  'src/config.ts': 'export const config = {};\n',
  // The domain reaching up into a stage (a type-only import counts too).
  'src/domain/types.ts': "import type { Stage } from '../../streams/stage.js';\nexport type Task = Stage;\n",
  'src/domain/sink.ts': 'export interface ResultSink { write(): void }\n',
  // A stage using a concrete sink instead of the contract.
  'streams/stage.ts': "import type { ResultSink } from '../src/domain/sink.js';\nimport { store } from '../sinks/store/sink.js';\nexport type Stage = ResultSink;\nexport const use = store;\n",
  // Two modules importing each other, and a source reaching into configuration and composition.
  'streams/source.ts': "import { b } from './source-b.js';\nimport { config } from '../src/config.js';\nimport '../src/service.js';\nexport const a = () => b + String(config);\n",
  'streams/source-b.ts': "import { a } from './source.js';\nexport const b = String(a);\n",
  // A sink reaching back into the pipeline.
  'sinks/store/sink.ts': "import '../../streams/stage.js';\nexport const store = 1;\n",
  // Shared infrastructure owned by no one, yet importing a sink.
  'src/infra/database.ts': "import '../../sinks/store/sink.js';\n",
  // Nothing imports it.
  'sinks/store/unused.ts': 'export const unused = 1;\n',
};

test('the checker refuses a tree that breaks each rule, naming the rule', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'buildtrace-architecture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, text] of Object.entries(FIXTURE)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  const found = await violations(dir, ['src', 'streams', 'sinks']);
  // A cycle is named once, by one of its edges.
  t.deepEqual(found, [
    'composition-on-top: streams/source.ts → src/service.ts',
    'domain-imports-only-domain: src/domain/types.ts → streams/stage.ts',
    'infra-imports-only-domain: src/infra/database.ts → sinks/store/sink.ts',
    'no-cycles: sinks/store/sink.ts → streams/stage.ts',
    'no-cycles: src/registry.ts → streams/source.ts',
    'no-cycles: streams/source-b.ts → streams/source.ts',
    'no-dead-modules: sinks/store/unused.ts',
    'no-dead-modules: src/domain/types.ts',
    'no-orphans: sinks/store/unused.ts',
    'parts-import-only-lower-layers: streams/source.ts → src/config.ts',
    'parts-import-only-lower-layers: streams/source.ts → src/service.ts',
    'server-uses-contracts: src/server/app.ts → sinks/store/sink.ts',
    'sinks-never-import-streams: sinks/store/sink.ts → streams/stage.ts',
    'streams-never-import-sinks: streams/stage.ts → sinks/store/sink.ts',
    'utilities-import-nothing: src/log.ts → src/config.ts',
  ]);
});
