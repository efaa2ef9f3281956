/**
 * The local-directory target: pairs in the seed layout (`<DIR>/<drawing_id>/version_a.json` and
 * `version_b.json`), the way uploads land in INPUT_DIR before `POST /process {storage_path}`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SimulateError, SIMULATE_ERROR_CODES, type Target } from './target.js';
import { folderTarget, type FolderTargetOptions } from './target-folders.js';

export interface FilesTargetOptions extends FolderTargetOptions {
  readonly dir: string;
}

/**
 * Writes pairs under `dir`; a half pair is a folder holding only the version that arrived.
 *
 * @example
 * const target = filesTarget({ dir: '/data/input/batch-1', revisions: 1 });
 */
export function filesTarget(options: FilesTargetOptions): Target {
  const root = path.resolve(options.dir);
  return folderTarget(
    {
      name: 'files',
      async put(folder, file, text) {
        const target = path.join(root, folder, file);
        try {
          await mkdir(path.dirname(target), { recursive: true });
          await writeFile(target, text);
        } catch (err) {
          throw new SimulateError(SIMULATE_ERROR_CODES.targetUnavailable, `cannot write ${target}: ${(err as Error).message}`, { cause: err });
        }
      },
      storagePath: (prefix) => (prefix === '' ? root : path.join(root, prefix)),
      description: `files under ${root}`,
    },
    options,
  );
}
