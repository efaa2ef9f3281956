// Bundles the dashboard's front end (src/web) with esbuild into dist/web, the files the server
// serves under /assets/: one script per page (uPlot inside), their CSS, no source fetched at run time.
import { build } from 'esbuild';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const web = path.join(root, 'src', 'web');

await build({
  entryPoints: [path.join(web, 'dashboard.ts'), path.join(web, 'drawing.ts'), path.join(web, 'style.css')],
  outdir: path.join(root, 'dist', 'web'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  sourcemap: true,
  logLevel: 'warning',
});
