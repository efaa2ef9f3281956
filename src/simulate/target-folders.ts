/**
 * What the two folder targets (a local directory, a Cloud Storage prefix) share: each pair is a
 * folder of the seed layout holding the versions that arrived, written with bounded concurrency
 * and reported as the prefixes to hand to `POST /process {storage_path}`.
 */
import type { SimItem } from './scenario.js';
import { Bounded, fileFate, seedLayoutFolder, type Target, type TargetReport, type WrittenListener } from './target.js';

export type VersionFile = 'version_a.json' | 'version_b.json';

/** Where a folder target writes. */
export interface FolderStore {
  readonly name: 'files' | 'gcs';
  /** Writes one version file of the folder `folder` (seed layout, `/`-separated); throws a SimulateError. */
  put(folder: string, file: VersionFile, text: string): Promise<void>;
  /** A seed-layout prefix (`''` or `rev-NNN`) as `POST /process` takes it. */
  storagePath(prefix: string): string;
  /** Where the pairs went, for the summary. */
  readonly description: string;
}

export interface FolderTargetOptions {
  /** Revisions per drawing in this run (several put each revision in its own `rev-NNN` folder). */
  readonly revisions: number;
  /** Files written at once. @default 16 */
  readonly concurrency?: number;
  readonly onWritten?: WrittenListener;
}

/**
 * A target writing each pair as a folder into `store`; a half pair is a folder holding only the
 * version that arrived.
 */
export function folderTarget(store: FolderStore, options: FolderTargetOptions): Target {
  const bounded = new Bounded(options.concurrency ?? 16);
  const prefixes = new Set<string>();
  let written = 0;
  let bytes = 0;

  return {
    name: store.name,
    fate: fileFate,
    async write(item: SimItem) {
      const { prefix, folder } = seedLayoutFolder(item, options.revisions);
      prefixes.add(prefix);
      await bounded.run(async () => {
        let size = 0;
        for (const [file, text] of [['version_a.json', item.a], ['version_b.json', item.b]] as const) {
          if (text === null) continue;
          await store.put(folder, file, text);
          size += Buffer.byteLength(text);
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
        storagePaths: [...prefixes].sort().map((p) => store.storagePath(p)),
        description: store.description,
      };
    },
    async close() {
      await bounded.drain().catch(() => undefined);
    },
  };
}
