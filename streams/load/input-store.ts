/**
 * Where drawing versions are read from: files under INPUT_DIR in local mode, Cloud Storage in the
 * cloud. One small contract so the load stage and `POST /process` need not know which.
 */

/** A folder in the seed layout holding both versions of one drawing. */
export interface PairFolder {
  readonly drawingId: string;
  /** Folder as a task's `storage_path` names it (`gs://bucket/prefix/D1` or a path under INPUT_DIR). */
  readonly storagePath: string;
}

/** A folder holding only one of the two versions: a `missing_upload` anomaly, not a task. */
export interface HalfPair {
  readonly drawingId: string;
  readonly storagePath: string;
  readonly present: 'version_a.json' | 'version_b.json';
}

export interface PairListing {
  readonly pairs: readonly PairFolder[];
  readonly halfPairs: readonly HalfPair[];
  /**
   * Folders holding a version file whose name is not a drawing id (`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`):
   * never tasks, but reported, so an upload under a bad name is not silently lost. Storage paths, sorted.
   */
  readonly invalidFolders: readonly string[];
}

export interface InputStore {
  /**
   * Reads one version file. `ref` is a task's `version_*_uri`, or `<storage_path>/version_a.json`.
   * Throws MalformedInputError (forbidden_path, missing_upload, input_too_large) for bad
   * references and TransientError (storage_unavailable) when the store cannot answer now.
   */
  read(ref: string): Promise<Buffer>;
  /**
   * Groups `<prefix>/<drawing_id>/version_a.json` + `version_b.json` into pairs (design.md,
   * `POST /process`). Throws MalformedInputError for a prefix the store may not read.
   */
  listPairs(prefix: string): Promise<PairListing>;
  /** Why `ref` may never be read here (see `referenceProblem`), or null: checked before any I/O. */
  referenceProblem(ref: string): string | null;
}

/**
 * Why a reference may not be read, in the same words for every form (`version_*_uri`,
 * `storage_path` in a task or a request) and every store, or null when it may be tried. What is
 * accepted: a relative path of `/`-separated names with no `..` segment, or with Cloud
 * Storage input `gs://<inputBucket>/<such a path>`. Anything else is refused before any read,
 * whether it would stay inside or not, so an answer never tells where the input folder is.
 *
 * @example
 * referenceProblem('gs://other/x.json', 'in') // 'is outside the input store: give …'
 */
export function referenceProblem(ref: string, inputBucket: string | null): string | null {
  const refuse = `is outside the input store: give a relative path without ".." segments${
    inputBucket === null ? '' : ` or gs://${inputBucket}/ followed by one`
  }`;
  let name = ref;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref)) {
    const prefix = inputBucket === null ? null : `gs://${inputBucket}/`;
    if (prefix === null || !(ref.startsWith(prefix) || ref === prefix.slice(0, -1))) return refuse;
    name = ref.slice(prefix.length);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'contains a NUL byte or another control character';
  if (name.startsWith('/') || name.includes('\\')) return refuse;
  if (name.split('/').includes('..')) return refuse;
  return null;
}
