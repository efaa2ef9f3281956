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
}
