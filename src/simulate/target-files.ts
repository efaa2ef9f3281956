/**
 * The local-directory target: pairs in the seed layout (`<DIR>/<drawing_id>/version_a.json` and
 * `version_b.json`), the way uploads land in INPUT_DIR before `POST /process {storage_path}`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SimItem } from './scenario.js';
import { Bounded, fileFate, seedLayoutFolder, SimulateError, SIMULATE_ERROR_CODES, type Target, type TargetReport, type WrittenListener } from './target.js';

export interface FilesTargetOptions {
  readonly dir: string;
  /** Revisions per drawing in this run (several put each revision in its own `rev-NNN` folder). */
  readonly revisions: number;
  /** Files written at once. @default 16 */
  readonly concurrency?: number;
  readonly onWritten?: WrittenListener;
}

/**
 * Writes pairs under `dir`; a half pair is a folder holding only the version that arrived.
 *
 * @example
 * const target = filesTarget({ dir: '/data/input/batch-1', revisions: 1 });
 */
export function filesTarget(options: FilesTargetOptions): Target {
  const root = path.resolve(options.dir);
  const bounded = new Bounded(options.concurrency ?? 16);
  const prefixes = new Set<string>();
  let written = 0;
  let bytes = 0;

  const put = async (file: string, text: string): Promise<void> => {
    try {
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
    } catch (err) {
      throw new SimulateError(SIMULATE_ERROR_CODES.targetUnavailable, `cannot write ${file}: ${(err as Error).message}`, { cause: err });
    }
  };

  return {
    name: 'files',
    fate: fileFate,
    async write(item: SimItem) {
      const { prefix, folder } = seedLayoutFolder(item, options.revisions);
      prefixes.add(prefix);
      const dir = path.join(root, folder);
      await bounded.run(async () => {
        let size = 0;
        if (item.a !== null) {
          await put(path.join(dir, 'version_a.json'), item.a);
          size += Buffer.byteLength(item.a);
        }
        if (item.b !== null) {
          await put(path.join(dir, 'version_b.json'), item.b);
          size += Buffer.byteLength(item.b);
        }
        written += 1;
        bytes += size;
        options.onWritten?.(1, size);
      });
    },
    async finish(): Promise<TargetReport> {
      await bounded.drain();
      return {
        written,
        refused: 0,
        unexpectedlyAccepted: 0,
        bytes,
        storagePaths: [...prefixes].sort().map((p) => (p === '' ? root : path.join(root, p))),
        description: `files under ${root}`,
      };
    },
    async close() {
      await bounded.drain().catch(() => undefined);
    },
  };
}
