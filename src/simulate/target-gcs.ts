/**
 * The Cloud Storage target: pairs in the seed layout under `gs://bucket/prefix/`, uploaded as
 * the seed's `upload_to_cloud_storage` did, for `POST /process {storage_path: "gs://…"}`.
 */
import type { Storage } from '@google-cloud/storage';
import { BUCKET_NAME_PATTERN } from '../infra/storage/names.js';
import type { SimItem } from './scenario.js';
import { Bounded, fileFate, seedLayoutFolder, SimulateError, SIMULATE_ERROR_CODES, type Target, type TargetReport, type WrittenListener } from './target.js';

export interface GcsLocation {
  readonly bucket: string;
  /** Object name prefix without leading or trailing slash ('' for the bucket root). */
  readonly prefix: string;
}

/**
 * Splits `gs://bucket/some/prefix/`.
 *
 * @returns null when `uri` is not a `gs://` URI with a valid bucket name.
 * @example
 * parseGcsUri('gs://buildtrace-input-p/input/'); // { bucket: 'buildtrace-input-p', prefix: 'input' }
 */
export function parseGcsUri(uri: string): GcsLocation | null {
  const m = /^gs:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (!m || !BUCKET_NAME_PATTERN.test(m[1]!)) return null;
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '..' || part === '.')) return null;
  return { bucket: m[1]!, prefix };
}

export interface GcsTargetOptions {
  readonly location: GcsLocation;
  readonly storage: Pick<Storage, 'bucket'>;
  readonly revisions: number;
  /** Uploads at once. @default 16 */
  readonly concurrency?: number;
  readonly onWritten?: WrittenListener;
}

/**
 * Uploads pairs as single-request (multipart) uploads: each version is small next to the 5 MB
 * point where resumable uploads start to pay.
 *
 * @example
 * const target = gcsTarget({ location: parseGcsUri('gs://b/input')!, storage: new Storage(), revisions: 1 });
 */
export function gcsTarget(options: GcsTargetOptions): Target {
  const { bucket: bucketName, prefix } = options.location;
  const bucket = options.storage.bucket(bucketName);
  const bounded = new Bounded(options.concurrency ?? 16);
  const prefixes = new Set<string>();
  let written = 0;
  let bytes = 0;
  const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

  const put = async (name: string, text: string): Promise<void> => {
    try {
      await bucket.file(name).save(text, { resumable: false, contentType: 'application/json' });
    } catch (err) {
      throw new SimulateError(
        SIMULATE_ERROR_CODES.targetUnavailable,
        `cannot upload gs://${bucketName}/${name}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  };

  return {
    name: 'gcs',
    fate: fileFate,
    async write(item: SimItem) {
      const layout = seedLayoutFolder(item, options.revisions);
      prefixes.add(layout.prefix);
      const folder = join(prefix, layout.folder);
      await bounded.run(async () => {
        let size = 0;
        for (const [file, text] of [['version_a.json', item.a], ['version_b.json', item.b]] as const) {
          if (text === null) continue;
          await put(`${folder}/${file}`, text);
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
        storagePaths: [...prefixes].sort().map((p) => `gs://${bucketName}/${join(prefix, p)}${join(prefix, p) ? '/' : ''}`),
        description: `gs://${bucketName}/${prefix}${prefix ? '/' : ''}`,
      };
    },
    async close() {
      await bounded.drain().catch(() => undefined);
    },
  };
}
