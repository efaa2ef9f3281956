/**
 * Follows a test file's imports through the repository's own TypeScript, so the test tiers can be
 * decided by what a file actually reaches (a child process, the emulator, a browser, the bench)
 * rather than by a hand-kept list.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Static `import … from`, `export … from`, bare `import '…'` and dynamic `import('…')`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** The module specifiers one file names, in source order, with comments left out. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return [...code.matchAll(SPECIFIER)].map((m) => m[1]!);
}

/** A relative `./x.js` as the `.ts` file it names, or undefined for a package or a missing file. */
function resolveRelative(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = path.resolve(path.dirname(from), specifier);
  for (const candidate of [target.replace(/\.js$/, '.ts'), target, `${target}.ts`, path.join(target, 'index.ts')]) {
    if (existsSync(candidate) && /\.[cm]?[jt]s$/.test(candidate)) return candidate;
  }
  return undefined;
}

/** One step of a path from a test file to what it must not reach: the importer and what it names. */
export interface ImportStep {
  readonly file: string;
  readonly specifier: string;
}

/**
 * Walks every module `entry` reaches through relative imports and returns the chain of imports to
 * the first specifier `isForbidden` accepts (bare `node:child_process`, or a resolved absolute path
 * such as the emulator fixture), or undefined when nothing forbidden is reached.
 */
export function findForbiddenImport(entry: string, isForbidden: (specifierOrFile: string) => boolean): ImportStep[] | undefined {
  const seen = new Set<string>([entry]);
  const queue: Array<{ file: string; chain: ImportStep[] }> = [{ file: entry, chain: [] }];
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    for (const specifier of importsOf(readFileSync(file, 'utf8'))) {
      const resolved = resolveRelative(file, specifier);
      const step = [...chain, { file, specifier }];
      if (isForbidden(resolved ?? specifier)) return step;
      if (resolved !== undefined && !seen.has(resolved)) {
        seen.add(resolved);
        queue.push({ file: resolved, chain: step });
      }
    }
  }
  return undefined;
}
