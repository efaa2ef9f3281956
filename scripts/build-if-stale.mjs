// `prestart`: compile only when a source file is newer than the last build, so `npm start` right
// after `npm ci` (which already compiled, via `prepare`) starts at once. The dashboard's bundle
// (scripts/build-web.mjs) is built in the same step, so `npm ci` leaves both in dist/.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// tsc leaves its .tsbuildinfo untouched when nothing changed, so we keep a stamp of our own.
const stamp = path.join(root, 'dist', '.build-stamp');

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(full));
    else if (/\.(ts|css)$/.test(entry.name)) latest = Math.max(latest, statSync(full).mtimeMs);
  }
  return latest;
}

const sources = Math.max(
  // The image builds without test/ (none ships in it): a folder that is not there has no sources.
  ...['src', 'streams', 'sinks', 'test'].filter((d) => existsSync(path.join(root, d))).map((d) => newest(path.join(root, d))),
  statSync(path.join(root, 'tsconfig.json')).mtimeMs,
);
const outputs = ['dist/src/main.js', 'dist/web/dashboard.js'].map((f) => path.join(root, f));
const built = existsSync(stamp) && outputs.every((f) => existsSync(f)) ? statSync(stamp).mtimeMs : 0;
if (sources > built) {
  console.error('buildtrace: compiling TypeScript…');
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
  console.error('buildtrace: bundling the dashboard…');
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-web.mjs')], { stdio: 'inherit' });
  writeFileSync(stamp, new Date().toISOString());
}
