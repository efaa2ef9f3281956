/**
 * `POST /process`: validates a request of version pairs (or a storage folder), and answers 202
 * only once every task is durably enqueued. Half pairs in a folder become `missing_upload`
 * anomalies, not tasks (the seed sent one task per file; design.md wants one per pair).
 */
import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import { encodeTask, parseTaskInput, type TaskInput } from '../../domain/task.js';
import { ERROR_CODES, MalformedInputError } from '../../domain/errors.js';
import type { OutgoingTask } from '../../../streams/sources/source.js';
import { missingUploadAnomaly } from '../../../streams/detect/anomalies.js';
import { readJsonBody } from '../body.js';
import { badRequest, HttpError, HTTP_CODES } from '../errors.js';
import type { ServerDeps } from '../deps.js';

export function registerProcess(router: Router, deps: ServerDeps): void {
  router.post('/process', async (ctx) => {
    const body = await readJsonBody(ctx, deps.limits.maxBodyBytes);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest('request body must be a JSON object with "version_pairs" or "storage_path"');
    }
    const request = body as Record<string, unknown>;
    const hasPairs = request.version_pairs !== undefined;
    const hasPath = request.storage_path !== undefined;
    if (hasPairs === hasPath) {
      throw badRequest('request body must have exactly one of "version_pairs" (an array of tasks) or "storage_path"');
    }

    const jobId = randomUUID();
    const now = new Date(deps.clock());
    let tasks: OutgoingTask[];
    let missing = 0;
    if (hasPairs) {
      tasks = tasksFromPairs(request.version_pairs, jobId, deps.limits.maxPairsPerRequest);
    } else {
      if (typeof request.storage_path !== 'string' || request.storage_path.trim() === '') {
        throw badRequest('"storage_path" must be a non-empty string such as "gs://bucket/prefix/" or a folder under the input directory');
      }
      const listing = await deps.input.listPairs(request.storage_path);
      if (listing.pairs.length > deps.limits.maxPairsPerPrefix) {
        throw new HttpError(
          413,
          HTTP_CODES.tooLarge,
          `"storage_path" holds ${listing.pairs.length} pairs, more than the limit of ${deps.limits.maxPairsPerPrefix} per request; use a narrower prefix`,
        );
      }
      tasks = listing.pairs.map((pair, index) =>
        encode({ drawing_id: pair.drawingId, storage_path: pair.storagePath }, jobId, index),
      );
      missing = listing.halfPairs.length;
      if (missing > 0) {
        await deps.recordAnomalies(
          listing.halfPairs.map((half) =>
            missingUploadAnomaly({ drawingId: half.drawingId, presentFile: half.present, storagePath: half.storagePath, now }),
          ),
        );
      }
    }

    await deps.store.createJob({ jobId, tasksCreated: tasks.length, createdAt: now });
    if (tasks.length > 0) await deps.publisher.publish(tasks);

    ctx.status = 202;
    ctx.body = {
      job_id: jobId,
      tasks_created: tasks.length,
      message:
        `Queued ${tasks.length} task(s) for processing` +
        (missing > 0 ? `; ${missing} folder(s) hold only one version and were reported as missing uploads` : ''),
      ...(hasPath ? { missing_uploads: missing } : {}),
    };
  });
}

function tasksFromPairs(value: unknown, jobId: string, max: number): OutgoingTask[] {
  if (!Array.isArray(value)) throw badRequest('"version_pairs" must be an array of tasks');
  if (value.length === 0) throw badRequest('"version_pairs" is empty; send at least one task');
  if (value.length > max) {
    throw new HttpError(413, HTTP_CODES.tooLarge, `"version_pairs" has ${value.length} tasks, more than the limit of ${max} per request`);
  }
  return value.map((pair, index) => {
    if (pair === null || typeof pair !== 'object' || Array.isArray(pair)) {
      throw badRequest(`version_pairs[${index}] must be a JSON object`);
    }
    return encode(pair as Record<string, unknown>, jobId, index);
  });
}

/** Validates one task as a consumer will, and stamps it with its job and idempotency key. */
function encode(fields: Record<string, unknown>, jobId: string, index: number): OutgoingTask {
  let input: TaskInput;
  try {
    input = parseTaskInput(fields, index);
  } catch (err) {
    if (err instanceof MalformedInputError) throw badRequest(err.message, err.code);
    throw err;
  }
  const v = input.versions;
  const refs: Array<readonly [string, string]> =
    v.kind === 'uri' ? [['version_a_uri', v.a], ['version_b_uri', v.b]] : v.kind === 'folder' ? [['storage_path', v.path]] : [];
  for (const [field, ref] of refs) {
    const problem = escapingReference(ref);
    if (problem) {
      throw badRequest(`version_pairs[${index}]: field "${field}" ${problem}, got ${JSON.stringify(ref.slice(0, 200))}`, ERROR_CODES.forbiddenPath);
    }
  }
  try {
    return encodeTask({ ...input, jobId, taskId: `${jobId}:${index}` }, `version_pairs[${index}]: `);
  } catch (err) {
    if (err instanceof MalformedInputError) throw badRequest(err.message, err.code);
    throw err;
  }
}

/**
 * A reference no input store will read, found without knowing which store is configured: a URL
 * scheme other than gs://, an absolute file path, or a `..` segment. The consumer would refuse it
 * too, but only after the 202; the client should hear it now. (A top-level `storage_path` needs
 * no such check: it is listed, and so confined by the store itself, before the answer.)
 */
function escapingReference(ref: string): string | null {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref) && !/^gs:\/\//i.test(ref)) return 'must be a gs:// URI or a path relative to the input directory';
  if (/^[\\/]/.test(ref)) return 'must be a path relative to the input directory, not an absolute path';
  if (ref.split(/[\\/]/).includes('..')) return 'must not contain ".." segments';
  return null;
}
