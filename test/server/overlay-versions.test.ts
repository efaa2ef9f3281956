/**
 * The overlay's unchanged objects through the real service: a result of a by-reference or
 * seed-layout task keeps where its versions came from, so the route reads them again and draws
 * every unchanged object in grey; an inline result, a deleted version file or one changed since
 * gives the changes alone, a 200 and a legend that says why.
 */
import { mkdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { countChanges, diffVersions } from '../../src/domain/diff.js';
import { validateVersion } from '../../src/domain/drawing.js';
import type { DrawingObject } from '../../src/domain/types.js';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { call, postJson, startApi, waitForJob, type ApiService } from '../support/api-fixture.js';
import { classCounts, parseSvg, withClass, type SvgNode } from '../support/svg.js';

const [RAW_A, RAW_B] = generatePair(createRandom(42), { objects: 60 });
const A = validateVersion(RAW_A, 'g', 'a');
const B = validateVersion(RAW_B, 'g', 'b');
const CHANGES = diffVersions(A, B);

/** Objects of B in A that no item names: what the overlay must draw grey. */
function unchangedCount(a: readonly DrawingObject[], b: readonly DrawingObject[]): number {
  const changes = diffVersions(a, b);
  const named = new Set([...changes.added, ...changes.moved, ...changes.modified].map((i) => i.id));
  const inA = new Set(a.map((o) => o.id));
  return b.filter((o) => inA.has(o.id) && !named.has(o.id)).length;
}

/** Grey objects drawn: one subpath of the one `unchanged` path each, as its data-count says. */
function greyObjects(root: SvgNode): number {
  const paths = withClass(root, 'unchanged');
  if (paths.length === 0) return 0;
  const d = paths[0]!.attributes.d ?? '';
  const subpaths = d.match(/M/g)?.length ?? 0;
  if (String(subpaths) !== paths[0]!.attributes['data-count']) throw new Error(`data-count ${paths[0]!.attributes['data-count']} but ${subpaths} subpaths`);
  return subpaths;
}

function legendNote(root: SvgNode): string {
  return withClass(root, 'unchanged-note')[0]?.text ?? '';
}

async function overlay(api: ApiService, drawingId: string): Promise<{ status: number; root: SvgNode }> {
  const res = await call(`${api.url}/changes/overlay.svg?drawing_id=${drawingId}`);
  return { status: res.status, root: parseSvg(res.text) };
}

async function run(api: ApiService, body: unknown): Promise<void> {
  const res = await postJson(`${api.url}/process`, body);
  if (res.status !== 202) throw new Error(`POST /process answered ${res.status}: ${res.text}`);
  await waitForJob(api.url, res.body.job_id);
}

async function writeVersions(api: ApiService, folder: string, a: unknown, b: unknown): Promise<void> {
  mkdirSync(path.join(api.inputDir, folder), { recursive: true });
  await writeFile(path.join(api.inputDir, folder, 'version_a.json'), JSON.stringify(a));
  await writeFile(path.join(api.inputDir, folder, 'version_b.json'), JSON.stringify(b));
}

test('by reference, storage_path in a task, and a storage_path request: grey unchanged objects, as many as there are', async (t) => {
  const api = await startApi(t);
  const expected = unchangedCount(A, B);
  t.true(expected > 10, `${expected} unchanged`);
  await writeVersions(api, 'refs/G1', RAW_A, RAW_B);
  await writeVersions(api, 'batch/G2', RAW_A, RAW_B);
  await writeVersions(api, 'seed/G3', RAW_A, RAW_B);
  await run(api, { version_pairs: [{ drawing_id: 'G1', version_a_uri: 'refs/G1/version_a.json', version_b_uri: 'refs/G1/version_b.json' }] });
  await run(api, { version_pairs: [{ drawing_id: 'G2', storage_path: 'batch/G2' }] });
  await run(api, { storage_path: 'seed' });
  for (const id of ['G1', 'G2', 'G3']) {
    const { status, root } = await overlay(api, id);
    t.is(status, 200);
    t.is(greyObjects(root), expected, id);
    t.deepEqual(classCounts(root), countChanges(CHANGES), id);
    t.regex(withClass(root, 'legend')[0]!.children.map((c) => c.text).join(' '), new RegExp(`unchanged: ${expected} \\(grey\\)`));
    t.is(legendNote(root), '');
  }
});

test('inline: no grey objects, and the legend says the versions are not kept', async (t) => {
  const api = await startApi(t);
  await run(api, { version_pairs: [{ drawing_id: 'I1', version_a: RAW_A, version_b: RAW_B }] });
  const { status, root } = await overlay(api, 'I1');
  t.is(status, 200);
  t.is(greyObjects(root), 0);
  t.deepEqual(classCounts(root), countChanges(CHANGES));
  t.regex(legendNote(root), /^Unchanged objects are not drawn: .*not its versions \(sent inline\)\.$/);
});

test('a deleted version file, or one changed since: the changes alone, a 200, and the legend says which and why', async (t) => {
  const api = await startApi(t);
  await writeVersions(api, 'gone/D1', RAW_A, RAW_B);
  await writeVersions(api, 'edited/D2', RAW_A, RAW_B);
  await run(api, { storage_path: 'gone' });
  await run(api, { storage_path: 'edited' });
  t.true(greyObjects((await overlay(api, 'D1')).root) > 0);

  await rm(path.join(api.inputDir, 'gone/D1/version_b.json'));
  const gone = await overlay(api, 'D1');
  t.is(gone.status, 200);
  t.is(greyObjects(gone.root), 0);
  t.deepEqual(classCounts(gone.root), countChanges(CHANGES));
  t.regex(legendNote(gone.root), /version B can no longer be read \(.*does not exist/);

  // Same size, one coordinate different: only the hash tells.
  await writeFile(path.join(api.inputDir, 'edited/D2/version_a.json'), JSON.stringify(RAW_A).replace(/"x":(\d)/, (_, d: string) => `"x":${(Number(d) + 1) % 10}`));
  const edited = await overlay(api, 'D2');
  t.is(edited.status, 200);
  t.is(greyObjects(edited.root), 0);
  t.regex(legendNote(edited.root), /version A \("edited\/D2\/version_a.json"\) has changed since the result was made/);

  // The whole input directory gone: still a picture, never a 5xx.
  await rm(api.inputDir, { recursive: true, force: true });
  const none = await overlay(api, 'D2');
  t.is(none.status, 200);
  t.regex(legendNote(none.root), /can no longer be read/);
});
