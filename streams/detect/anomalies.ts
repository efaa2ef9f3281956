/**
 * Anomalies that need no detector state (half a pair, bad input, a task that gave up), built in
 * one place so that their ids are deterministic from the task key or path and a replay stores
 * them once.
 */
import type { Anomaly } from '../../src/domain/types.js';

/** Longest error message kept in details: enough to act on, too short to carry a whole payload. */
export const MAX_DETAIL_MESSAGE = 1000;

const PAIR_FILES = ['version_a.json', 'version_b.json'] as const;

function clip(message: string): string {
  const text = String(message);
  return text.length > MAX_DETAIL_MESSAGE ? `${text.slice(0, MAX_DETAIL_MESSAGE - 1)}…` : text;
}

/** `gs://b/p/D1/` and `gs://b/p/D1` name one folder: one id. */
function normalizePath(storagePath: string): string {
  return storagePath.replace(/\/+$/, '');
}

/**
 * A folder holding one version of a pair (design.md, `POST /process` with `storage_path`).
 *
 * @example
 * missingUploadAnomaly({ drawingId: 'D1', presentFile: 'version_a.json', storagePath: 'gs://in/batch/D1', now: new Date() });
 * // id 'missing_upload:gs://in/batch/D1', details.missing_file 'version_b.json'
 */
export function missingUploadAnomaly(input: {
  readonly drawingId: string;
  readonly presentFile: string;
  readonly storagePath: string;
  readonly now: Date;
}): Anomaly {
  const path = normalizePath(input.storagePath);
  const present = input.presentFile.split('/').pop() ?? input.presentFile;
  const missing = present === PAIR_FILES[0] ? PAIR_FILES[1] : present === PAIR_FILES[1] ? PAIR_FILES[0] : null;
  return {
    id: `missing_upload:${path}`,
    drawingId: input.drawingId,
    type: 'missing_upload',
    severity: 'medium',
    details: { storage_path: path, present_file: present, missing_file: missing },
    timestamp: input.now,
  };
}

/**
 * A folder under a `storage_path` holding version files under a name that is not a drawing id:
 * never a task, reported so the upload is not silently lost.
 *
 * @example
 * misnamedFolderAnomaly({ storagePath: 'batch/bad name', now: new Date() });
 * // id 'malformed_input:folder:batch/bad name', details.code 'malformed_task'
 */
export function misnamedFolderAnomaly(input: { readonly storagePath: string; readonly now: Date }): Anomaly {
  const path = normalizePath(input.storagePath);
  const name = path.slice(path.lastIndexOf('/') + 1);
  return {
    id: `malformed_input:folder:${clip(path)}`,
    drawingId: null,
    type: 'malformed_input',
    severity: 'medium',
    details: {
      code: 'malformed_task',
      message: clip(
        `folder ${JSON.stringify(name)} holds version files, but its name is not a drawing id (1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit); it was not processed`,
      ),
      storage_path: clip(path),
    },
    timestamp: input.now,
  };
}

/**
 * Input that can never be processed (a data-quality issue), with the error's code and message.
 *
 * @example
 * malformedInputAnomaly({ drawingId: err.drawingId, code: err.code, message: err.message, taskKey, now, location: err.location });
 */
export function malformedInputAnomaly(input: {
  readonly drawingId: string | null;
  readonly code: string;
  readonly message: string;
  readonly taskKey: string;
  /** The job (request) the task came with: `/health` folds one job's malformed inputs into one entry. */
  readonly jobId?: string | null;
  readonly now: Date;
  /** Where in the input, as `MalformedInputError.location` gives it. */
  readonly location?: Readonly<Record<string, unknown>>;
}): Anomaly {
  return {
    id: `malformed_input:${input.taskKey}`,
    drawingId: input.drawingId,
    type: 'malformed_input',
    severity: 'medium',
    details: {
      code: input.code,
      message: clip(input.message),
      task_key: input.taskKey,
      ...(input.jobId ? { job_id: input.jobId } : {}),
      ...(input.location && Object.keys(input.location).length > 0 ? { location: { ...input.location } } : {}),
    },
    timestamp: input.now,
  };
}

/**
 * A task that failed for good (retries exhausted, or an internal error).
 *
 * @example
 * processingErrorAnomaly({ drawingId, code: 'storage_unavailable', message, attempts: 5, taskKey, now });
 */
export function processingErrorAnomaly(input: {
  readonly drawingId: string | null;
  readonly code: string;
  readonly message: string;
  readonly attempts: number;
  readonly taskKey: string;
  readonly now: Date;
}): Anomaly {
  return {
    id: `processing_error:${input.taskKey}`,
    drawingId: input.drawingId,
    type: 'processing_error',
    severity: 'high',
    details: { code: input.code, message: clip(input.message), attempts: input.attempts, task_key: input.taskKey },
    timestamp: input.now,
  };
}
