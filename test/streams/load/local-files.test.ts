/**
 * Local input files on a real directory tree: confinement against every way out (`..`, absolute
 * paths, symlinks, NUL, URLs), missing and oversized files, and grouping folders into pairs.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { MalformedInputError, TransientError, type ErrorCode } from '../../../src/domain/errors.js';
import { fsError, localInputStore } from '../../../streams/load/local-files.js';

const MAX = 1024;

interface Tree {
  readonly base: string;
  readonly input: string;
  readonly outside: string;
}

/** base/input (the INPUT_DIR) and base/outside (somewhere a reference must never reach). */
async function tree(t: ExecutionContext): Promise<Tree> {
  const base = await mkdtemp(path.join(tmpdir(), 'buildtrace-files-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const input = path.join(base, 'input');
  const outside = path.join(base, 'outside');
  await mkdir(input);
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.json'), '["secret"]');
  await mkdir(path.join(outside, 'D7'));
  await writeFile(path.join(outside, 'D7', 'version_a.json'), '[]');
  await writeFile(path.join(outside, 'D7', 'version_b.json'), '[]');
  return { base, input, outside };
}

async function put(root: string, rel: string, content: string | Buffer = '[]'): Promise<void> {
  await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
  await writeFile(path.join(root, rel), content);
}

async function refused(t: ExecutionContext, attempt: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  const err = await t.throwsAsync(attempt, { instanceOf: MalformedInputError });
  t.is(err?.code, code);
  if (message) t.regex(err?.message ?? '', message);
}

test('reads a version by relative path; an absolute path or a ".." is refused even when it stays inside', async (t) => {
  const { input } = await tree(t);
  await put(input, 'batch/D1/version_a.json', '[{"id":"A"}]');
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  t.is((await store.read('batch/D1/version_a.json')).toString(), '[{"id":"A"}]');
  t.is((await store.read('./batch/./D1/version_a.json')).toString(), '[{"id":"A"}]');
  // Accepting these would let a client find where the input directory is by trying paths.
  await refused(t, store.read('./batch/./D1/../D1/version_a.json'), 'forbidden_path', /outside the input store/);
  await refused(t, store.read(path.join(input, 'batch/D1/version_a.json')), 'forbidden_path', /outside the input store/);
});

test('refuses every way out of the input directory as forbidden_path', async (t) => {
  const { input, outside } = await tree(t);
  await put(input, 'batch/D1/version_a.json');
  await symlink(path.join(outside, 'secret.json'), path.join(input, 'link-to-secret.json'));
  await symlink(outside, path.join(input, 'link-to-outside'));
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  for (const ref of [
    '../outside/secret.json',
    'batch/../../outside/secret.json',
    '..',
    path.join(outside, 'secret.json'),
    '/etc/passwd',
    'link-to-secret.json',
    'link-to-outside/secret.json',
    '../outside/does-not-exist.json', // outside wins over missing: no probing beyond the root
  ]) {
    await refused(t, store.read(ref), 'forbidden_path');
  }
  await refused(t, store.read('batch/D1/version_a.json\0.png'), 'forbidden_path', /NUL/);
  await refused(t, store.read('file:///etc/passwd'), 'forbidden_path', /outside the input store/);
  await refused(t, store.read('gs://buildtrace-input-demo/batch/D1/version_a.json'), 'forbidden_path', /outside the input store/);
});

test('a symlink that stays inside the input directory is followed', async (t) => {
  const { input } = await tree(t);
  await put(input, 'real/D1/version_a.json', '[1]');
  await symlink(path.join(input, 'real'), path.join(input, 'alias'));
  const store = localInputStore({ inputDir: input, maxBytes: MAX });
  t.is((await store.read('alias/D1/version_a.json')).toString(), '[1]');
});

test('a missing file, folder or input directory is a missing_upload', async (t) => {
  const { base, input } = await tree(t);
  await put(input, 'batch/D1/version_a.json');
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  await refused(t, store.read('batch/D1/version_b.json'), 'missing_upload', /does not exist/);
  await refused(t, store.read('batch/D9/version_a.json'), 'missing_upload');
  await refused(t, store.read('batch/D1/version_a.json/x'), 'missing_upload');
  await refused(t, store.read('batch/D1'), 'missing_upload', /not a file/);

  const nowhere = localInputStore({ inputDir: path.join(base, 'no-such-dir'), maxBytes: MAX });
  await refused(t, nowhere.read('D1/version_a.json'), 'missing_upload', /input directory/);
  await refused(t, nowhere.read('../outside/secret.json'), 'forbidden_path');
});

test('a file above maxBytes is refused as input_too_large; one at the limit is read', async (t) => {
  const { input } = await tree(t);
  await put(input, 'big.json', Buffer.alloc(MAX + 1, 0x20));
  await put(input, 'limit.json', Buffer.alloc(MAX, 0x20));
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  await refused(t, store.read('big.json'), 'input_too_large', /1025 bytes, more than the 1024/);
  t.is((await store.read('limit.json')).length, MAX);
  t.throws(() => localInputStore({ inputDir: input, maxBytes: 0 }), { instanceOf: RangeError });
});

test('a FIFO planted in the input directory is refused instead of hanging the read', async (t) => {
  const { input } = await tree(t);
  execFileSync('mkfifo', [path.join(input, 'pipe.json')]);
  const store = localInputStore({ inputDir: input, maxBytes: MAX });
  await refused(t, store.read('pipe.json'), 'missing_upload', /not a file/);
});

test('listPairs groups drawing folders into pairs and half pairs, sorted, skipping what is not a drawing', async (t) => {
  const { input, outside } = await tree(t);
  for (const id of ['D2', 'D10', 'D1', 'A.b_c-9']) {
    await put(input, `batch/${id}/version_a.json`);
    await put(input, `batch/${id}/version_b.json`);
  }
  await put(input, 'batch/H1/version_a.json');
  await put(input, 'batch/H2/version_b.json');
  await put(input, 'batch/H2/notes.txt');
  await mkdir(path.join(input, 'batch/EMPTY'));
  await put(input, 'batch/bad name/version_a.json'); // not a valid drawing id
  await put(input, 'batch/bad name/version_b.json');
  await put(input, 'batch/.hidden/version_a.json');
  await put(input, 'batch/.hidden/version_b.json');
  await put(input, 'batch/FILE', 'not a folder');
  await mkdir(path.join(input, 'batch/DIRV/version_a.json'), { recursive: true }); // a folder named like the file
  await put(input, 'batch/DIRV/version_b.json');
  await put(input, 'elsewhere/D6/version_a.json');
  await put(input, 'elsewhere/D6/version_b.json');
  await symlink(path.join(input, 'elsewhere/D6'), path.join(input, 'batch/D6')); // stays inside: listed
  await symlink(path.join(outside, 'D7'), path.join(input, 'batch/D7')); // leads out: skipped
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  const listing = await store.listPairs('batch');

  t.deepEqual(listing, {
    pairs: ['A.b_c-9', 'D1', 'D10', 'D2', 'D6'].map((drawingId) => ({ drawingId, storagePath: `batch/${drawingId}` })),
    halfPairs: [
      { drawingId: 'DIRV', storagePath: 'batch/DIRV', present: 'version_b.json' },
      { drawingId: 'H1', storagePath: 'batch/H1', present: 'version_a.json' },
      { drawingId: 'H2', storagePath: 'batch/H2', present: 'version_b.json' },
    ],
    // version files under names that are not drawing ids: reported, never tasks
    invalidFolders: ['batch/.hidden', 'batch/bad name'],
  });
  // a listed storage path reads back through the same store
  t.is((await store.read(`${listing.pairs[0]!.storagePath}/version_a.json`)).toString(), '[]');
  t.deepEqual(await store.listPairs('batch/'), listing);
  await refused(t, store.listPairs(path.join(input, 'batch')), 'forbidden_path', /outside the input store/);
});

test('listPairs at the root and of nested prefixes names paths relative to the input directory', async (t) => {
  const { input } = await tree(t);
  await put(input, 'D1/version_a.json');
  await put(input, 'D1/version_b.json');
  await put(input, 'year/2024/D2/version_a.json');
  await put(input, 'year/2024/D2/version_b.json');
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  t.deepEqual((await store.listPairs('')).pairs, [{ drawingId: 'D1', storagePath: 'D1' }]);
  t.deepEqual((await store.listPairs('.')).pairs, [{ drawingId: 'D1', storagePath: 'D1' }]);
  t.deepEqual((await store.listPairs('year/2024')).pairs, [{ drawingId: 'D2', storagePath: 'year/2024/D2' }]);
  t.deepEqual(await store.listPairs('year'), { pairs: [], halfPairs: [], invalidFolders: [] });
});

test('listPairs refuses prefixes outside the input directory and reports missing ones', async (t) => {
  const { input, outside } = await tree(t);
  await put(input, 'batch/FILE', 'x');
  await symlink(outside, path.join(input, 'out'));
  const store = localInputStore({ inputDir: input, maxBytes: MAX });

  await refused(t, store.listPairs('..'), 'forbidden_path');
  await refused(t, store.listPairs('../outside'), 'forbidden_path');
  await refused(t, store.listPairs(outside), 'forbidden_path');
  await refused(t, store.listPairs('out'), 'forbidden_path', /symlink/);
  await refused(t, store.listPairs('gs://buildtrace-input-demo/batch/'), 'forbidden_path', /outside the input store/);
  await refused(t, store.listPairs('nope'), 'missing_upload');
  await refused(t, store.listPairs('batch/FILE'), 'missing_upload', /not a folder/);
});

test('other file-system failures are transient storage_unavailable errors', (t) => {
  for (const code of ['EMFILE', 'EIO', 'EACCES', 'ENOSPC']) {
    const cause = Object.assign(new Error(`${code}: boom`), { code });
    const err = fsError(cause, 'batch/D1/version_a.json');
    t.true(err instanceof TransientError, code);
    t.is((err as TransientError).code, 'storage_unavailable');
    t.is(err.cause, cause);
  }
  const missing = fsError(Object.assign(new Error('x'), { code: 'ENOENT' }), 'a.json');
  t.true(missing instanceof MalformedInputError);
  t.is((missing as MalformedInputError).code, 'missing_upload');
  const loop = fsError(Object.assign(new Error('x'), { code: 'ELOOP' }), 'a.json');
  t.is((loop as MalformedInputError).code, 'forbidden_path');
});
