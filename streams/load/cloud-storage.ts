/**
 * Drawing versions read from Cloud Storage, confined to INPUT_BUCKET: a task may name any
 * `gs://` object, so the bucket is checked before anything is fetched, and the object's size
 * before it is downloaded, so a hostile or mistaken reference costs neither data nor memory.
 */
import type { Bucket, Storage } from '@google-cloud/storage';
import { ERROR_CODES, MalformedInputError, TransientError } from '../../src/domain/errors.js';
import { createStorageClient, type StorageClientSettings } from '../../src/infra/storage/client.js';
import { describeStorageError, isNotFound } from '../../src/infra/storage/errors.js';
import { referenceProblem, type HalfPair, type InputStore, type PairFolder, type PairListing } from './input-store.js';

/** The slice of the Storage client this store uses; tests hand in the real client at a local endpoint. */
export type StorageClient = { bucket(name: string): Pick<Bucket, 'file' | 'getFiles'> };

export interface CloudStorageInputOptions {
  readonly storage: StorageClient;
  readonly inputBucket: string;
  /** Largest version file read, in bytes (MAX_VERSION_BYTES). */
  readonly maxBytes: number;
  /** Most objects one listing may return before it is refused as too large. */
  readonly maxListedObjects?: number;
}

const DRAWING_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION_FILES = ['version_a.json', 'version_b.json'] as const;
/** Object names are at most 1024 bytes of UTF-8 (API limit). */
const MAX_OBJECT_NAME_BYTES = 1024;
/** Page size for listings (the API's maximum). */
const LIST_PAGE_SIZE = 1000;
const DEFAULT_MAX_LISTED = 200_000;

interface ObjectRef {
  readonly bucket: string;
  readonly name: string;
}

export class CloudStorageInput implements InputStore {
  private readonly bucket: Pick<Bucket, 'file' | 'getFiles'>;
  private readonly maxListed: number;

  constructor(private readonly options: CloudStorageInputOptions) {
    this.bucket = options.storage.bucket(options.inputBucket);
    this.maxListed = options.maxListedObjects ?? DEFAULT_MAX_LISTED;
  }

  /**
   * Reads one version object: `gs://INPUT_BUCKET/path.json`, or an object name inside
   * INPUT_BUCKET.
   *
   * @example
   * const bytes = await input.read('gs://buildtrace-input-p/uploads/D1/version_a.json');
   */
  referenceProblem(ref: string): string | null {
    return referenceProblem(ref, this.options.inputBucket);
  }

  async read(ref: string): Promise<Buffer> {
    const object = this.parse(ref, 'object');
    const file = this.bucket.file(object.name);
    let generation: string | number | undefined;
    try {
      const [metadata] = await file.getMetadata();
      const size = Number(metadata.size ?? NaN);
      if (!Number.isFinite(size) || size > this.options.maxBytes) {
        throw new MalformedInputError(
          ERROR_CODES.inputTooLarge,
          `${display(object)} is ${Number.isFinite(size) ? `${size} bytes` : 'of unknown size'}, over the ${this.options.maxBytes}-byte limit`,
        );
      }
      generation = metadata.generation;
    } catch (err) {
      throw this.classify(err, object);
    }
    try {
      // Pinned to the generation whose size was checked: a larger overwrite in between is not read.
      const pinned = generation === undefined ? file : this.bucket.file(object.name, { generation });
      const [data] = await pinned.download();
      if (data.length > this.options.maxBytes) {
        throw new MalformedInputError(ERROR_CODES.inputTooLarge, `${display(object)} is over the ${this.options.maxBytes}-byte limit`);
      }
      return data;
    } catch (err) {
      throw this.classify(err, object);
    }
  }

  /**
   * Groups `<prefix>/<drawing_id>/version_a.json` + `version_b.json` into pairs; a folder with
   * one of the two is a half pair. Sorted by drawing id.
   *
   * @example
   * const { pairs, halfPairs } = await input.listPairs('gs://buildtrace-input-p/batch-7/');
   */
  async listPairs(prefixRef: string): Promise<PairListing> {
    const folder = this.parse(prefixRef, 'prefix');
    const prefix = folder.name === '' || folder.name.endsWith('/') ? folder.name : `${folder.name}/`;
    const found = new Map<string, Set<(typeof VERSION_FILES)[number]>>();
    const misnamed = new Set<string>();
    let listed = 0;
    let pageToken: string | undefined;
    try {
      do {
        const [files, next] = await this.bucket.getFiles({
          prefix,
          // Server-side filter to the two version names one level down; glob specials in the
          // prefix would need escaping, so then the filter below does all the work.
          ...(/[*?[\]{}\\]/.test(prefix) ? {} : { matchGlob: `${prefix}*/version_[ab].json` }),
          maxResults: LIST_PAGE_SIZE,
          autoPaginate: false,
          ...(pageToken ? { pageToken } : {}),
        });
        listed += files.length;
        if (listed > this.maxListed) {
          throw new MalformedInputError(ERROR_CODES.inputTooLarge, `${display(folder)} holds more than ${this.maxListed} objects`);
        }
        for (const file of files) {
          const [drawingId, fileName, ...more] = file.name.slice(prefix.length).split('/');
          if (more.length > 0 || !drawingId) continue;
          if (fileName !== 'version_a.json' && fileName !== 'version_b.json') continue;
          if (!DRAWING_ID.test(drawingId)) {
            misnamed.add(drawingId);
            continue;
          }
          const versions = found.get(drawingId) ?? new Set();
          versions.add(fileName);
          found.set(drawingId, versions);
        }
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
    } catch (err) {
      throw this.classify(err, folder);
    }
    if (found.size === 0 && misnamed.size === 0) {
      throw new MalformedInputError(ERROR_CODES.missingUpload, `No version_a.json or version_b.json under ${display({ ...folder, name: prefix })}`);
    }
    const pairs: PairFolder[] = [];
    const halfPairs: HalfPair[] = [];
    for (const drawingId of [...found.keys()].sort()) {
      const versions = found.get(drawingId)!;
      const storagePath = `gs://${folder.bucket}/${prefix}${drawingId}`;
      if (versions.size === 2) pairs.push({ drawingId, storagePath });
      else halfPairs.push({ drawingId, storagePath, present: [...versions][0]! });
    }
    const invalidFolders = [...misnamed].sort().map((name) => `gs://${folder.bucket}/${prefix}${name}`);
    return { pairs, halfPairs, invalidFolders };
  }

  /** Confines a reference to INPUT_BUCKET and checks it is a usable object name or prefix. */
  private parse(ref: string, kind: 'object' | 'prefix'): ObjectRef {
    const forbidden = (why: string) =>
      new MalformedInputError(ERROR_CODES.forbiddenPath, `${JSON.stringify(ref.slice(0, 120))}${ref.length > 120 ? '…' : ''} ${why}`);
    const problem = referenceProblem(ref, this.options.inputBucket);
    if (problem) throw forbidden(problem);
    let bucket = this.options.inputBucket;
    let name = ref;
    if (ref.startsWith('gs://')) {
      const rest = ref.slice('gs://'.length);
      const slash = rest.indexOf('/');
      bucket = slash < 0 ? rest : rest.slice(0, slash);
      name = slash < 0 ? '' : rest.slice(slash + 1);
      if (bucket !== this.options.inputBucket) {
        throw forbidden(`is outside the input bucket: only gs://${this.options.inputBucket}/ may be read`);
      }
    } else if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref)) {
      throw forbidden(`uses an unsupported scheme: use gs://${this.options.inputBucket}/...`);
    } else if (ref.startsWith('/')) {
      throw forbidden(`is a local path: use gs://${this.options.inputBucket}/... or a prefix inside the input bucket`);
    }
    if (/[\0\r\n]/.test(name)) throw forbidden('contains control characters');
    if (Buffer.byteLength(name) > MAX_OBJECT_NAME_BYTES) throw forbidden(`is longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
    if (name.split('/').some((s) => s === '.' || s === '..')) throw forbidden('contains . or .. segments');
    if (kind === 'object' && (name === '' || name.endsWith('/'))) throw forbidden('names a folder, not an object');
    return { bucket, name };
  }

  private classify(err: unknown, object: ObjectRef): Error {
    if (err instanceof MalformedInputError || err instanceof TransientError) return err;
    if (isNotFound(err)) {
      return new MalformedInputError(ERROR_CODES.missingUpload, `${display(object)} does not exist`);
    }
    // 5xx, 429, network, and also 401/403 (our credentials, not the task, are at fault): retry later.
    return new TransientError(ERROR_CODES.storageUnavailable, `Cloud Storage read of ${display(object)} failed: ${describeStorageError(err)}`, {
      cause: err,
    });
  }
}

function display(o: ObjectRef): string {
  return `gs://${o.bucket}/${o.name}`;
}

/** What the input store is opened with: the Storage client's settings, the bucket and the size limit. */
export interface CloudStorageInputSettings extends StorageClientSettings {
  readonly gcp: { readonly storageEndpoint: string | null; readonly inputBucket: string };
  readonly maxVersionBytes: number;
}

/**
 * The InputStore for SINKS=gcp / cloud deployments: INPUT_BUCKET, MAX_VERSION_BYTES and the
 * configured Storage endpoint. Client retries stay on: reads are idempotent.
 */
export function openCloudStorageInput(config: CloudStorageInputSettings, storage?: Storage): CloudStorageInput {
  return new CloudStorageInput({
    storage: storage ?? createStorageClient(config),
    inputBucket: config.gcp.inputBucket,
    maxBytes: config.maxVersionBytes,
  });
}
