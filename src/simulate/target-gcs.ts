/**
 * The Cloud Storage target: pairs in the seed layout under `gs://bucket/prefix/`, uploaded as
 * the seed's `upload_to_cloud_storage` did, for `POST /process {storage_path: "gs://…"}`.
 */
import type { Storage } from '@google-cloud/storage';
import { BUCKET_NAME_PATTERN } from '../infra/storage/names.js';
import { SimulateError, SIMULATE_ERROR_CODES, type Target } from './target.js';
import { folderTarget, type FolderTargetOptions } from './target-folders.js';

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

export interface GcsTargetOptions extends FolderTargetOptions {
  readonly location: GcsLocation;
  readonly storage: Pick<Storage, 'bucket'>;
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
  const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');
  return folderTarget(
    {
      name: 'gcs',
      async put(folder, file, text) {
        const name = `${join(prefix, folder)}/${file}`;
        try {
          await bucket.file(name).save(text, { resumable: false, contentType: 'application/json' });
        } catch (err) {
          throw new SimulateError(
            SIMULATE_ERROR_CODES.targetUnavailable,
            `cannot upload gs://${bucketName}/${name}: ${(err as Error).message}`,
            { cause: err },
          );
        }
      },
      storagePath: (p) => `gs://${bucketName}/${join(prefix, p)}${join(prefix, p) ? '/' : ''}`,
      description: `gs://${bucketName}/${prefix}${prefix ? '/' : ''}`,
    },
    options,
  );
}
