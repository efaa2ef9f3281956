/**
 * `POST /process`: validates a request of version pairs (or a storage folder), and answers 202
 * only once every task is durably enqueued. Half pairs in a folder become `missing_upload`
 * anomalies, not tasks (the seed sent one task per file; design.md wants one per pair).
 */
import { randomUUID } from 'node:crypto';
import type Router from '@koa/router';
import { encodeTask, parseTaskInput, type TaskInput } from '../../domain/task.js';
import { ERROR_CODES, MalformedInputError } from '../../domain/errors.js';
import type { OutgoingTask } from '../../domain/source.js';
import { misnamedFolderAnomaly, missingUploadAnomaly } from '../../../streams/detect/anomalies.js';
import { readJsonBody } from '../body.js';
import { badRequest, HttpError, HTTP_CODES, quoteValue } from '../errors.js';
import type { InputStore } from '../../../streams/load/input-store.js';
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
    let misnamed = 0;
    let repeatedWithin = 0;
    let repeatedEarlier = 0;
    let clientKeys: readonly string[] = [];
    if (hasPairs) {
      const fromPairs = tasksFromPairs(request.version_pairs, jobId, deps.limits.maxPairsPerRequest, deps.input);
      // A task_id an earlier request queued is the same task: it is not queued again, and its one
      // result and count belong to that request's job.
      const known = await deps.store.knownTaskKeys(fromPairs.clientKeys);
      tasks = known.size === 0 ? fromPairs.tasks : fromPairs.tasks.filter((task) => !known.has(keyOf(task)));
      clientKeys = known.size === 0 ? fromPairs.clientKeys : fromPairs.clientKeys.filter((key) => !known.has(key));
      repeatedWithin = fromPairs.duplicates;
      repeatedEarlier = known.size;
    } else {
      if (typeof request.storage_path !== 'string' || request.storage_path.trim() === '') {
        throw badRequest('"storage_path" must be a non-empty string such as "gs://bucket/prefix/" or a folder under the input directory');
      }
      const problem = deps.input.referenceProblem(request.storage_path);
      if (problem) throw badRequest(`field "storage_path" ${problem}, got ${quoteValue(request.storage_path)}`, ERROR_CODES.forbiddenPath);
      const listing = await deps.input.listPairs(request.storage_path);
      if (listing.pairs.length > deps.limits.maxPairsPerPrefix) {
        throw new HttpError(
          413,
          HTTP_CODES.tooLarge,
          `"storage_path" holds ${listing.pairs.length} pairs, more than the limit of ${deps.limits.maxPairsPerPrefix} per request; use a narrower prefix`,
        );
      }
      tasks = listing.pairs.map((pair, index) =>
        encode({ drawing_id: pair.drawingId, storage_path: pair.storagePath }, jobId, index).task,
      );
      missing = listing.halfPairs.length;
      misnamed = listing.invalidFolders.length;
      if (missing + misnamed > 0) {
        await deps.recordAnomalies([
          ...listing.halfPairs.map((half) =>
            missingUploadAnomaly({ drawingId: half.drawingId, presentFile: half.present, storagePath: half.storagePath, now }),
          ),
          ...listing.invalidFolders.map((storagePath) => misnamedFolderAnomaly({ storagePath, now })),
        ]);
      }
    }

    await deps.store.createJob({ jobId, tasksCreated: tasks.length, createdAt: now });
    if (tasks.length > 0) await deps.publisher.publish(tasks);
    // Recorded only once queued: had the publish failed, a retry of this request must queue them.
    if (clientKeys.length > 0) await deps.store.recordJobTasks({ jobId, createdAt: now, taskKeys: clientKeys });

    const duplicates = repeatedWithin + repeatedEarlier;
    ctx.status = 202;
    ctx.body = {
      job_id: jobId,
      tasks_created: tasks.length,
      message:
        `Queued ${tasks.length} task(s) for processing` +
        (missing > 0 ? `; ${missing} folder(s) hold only one version and were reported as missing uploads` : '') +
        (misnamed > 0 ? `; ${misnamed} folder(s) are not named as a drawing id and were reported as malformed input` : '') +
        (duplicates > 0
          ? `; ${duplicates} element(s) repeated an earlier task_id and were not queued again` +
            ` (${repeatedWithin} within this request, ${repeatedEarlier} queued by an earlier request, whose job reports their outcome)`
          : ''),
      ...(hasPath ? { missing_uploads: missing, invalid_folders: misnamed } : { duplicates }),
    };
  });
}

const keyOf = (task: OutgoingTask): string => task.attributes.task_id as string;

/**
 * The tasks of a `version_pairs` array, one per idempotency key: an element's own `task_id`, else
 * `<job_id>:<index>`. A later element repeating a key is counted as a duplicate, not queued.
 * `clientKeys` are the keys the client chose (only those can repeat an earlier request's).
 */
function tasksFromPairs(
  value: unknown,
  jobId: string,
  max: number,
  input: Pick<InputStore, 'referenceProblem'>,
): { tasks: OutgoingTask[]; duplicates: number; clientKeys: string[] } {
  if (!Array.isArray(value)) throw badRequest('"version_pairs" must be an array of tasks');
  if (value.length === 0) throw badRequest('"version_pairs" is empty; send at least one task');
  if (value.length > max) {
    throw new HttpError(413, HTTP_CODES.tooLarge, `"version_pairs" has ${value.length} tasks, more than the limit of ${max} per request`);
  }
  const seen = new Set<string>();
  const tasks: OutgoingTask[] = [];
  const clientKeys: string[] = [];
  value.forEach((pair, index) => {
    if (pair === null || typeof pair !== 'object' || Array.isArray(pair)) {
      throw badRequest(`version_pairs[${index}] must be a JSON object`);
    }
    const { task, clientKey } = encode(pair as Record<string, unknown>, jobId, index, input);
    const key = keyOf(task);
    if (seen.has(key)) return;
    seen.add(key);
    tasks.push(task);
    if (clientKey) clientKeys.push(key);
  });
  return { tasks, duplicates: value.length - tasks.length, clientKeys };
}

/**
 * Validates one task as a consumer will, and stamps it with its job and idempotency key;
 * `clientKey` says whether the key is the element's own `task_id`.
 */
function encode(
  fields: Record<string, unknown>,
  jobId: string,
  index: number,
  input?: Pick<InputStore, 'referenceProblem'>,
): { task: OutgoingTask; clientKey: boolean } {
  let parsed: TaskInput;
  try {
    parsed = parseTaskInput(fields, index);
  } catch (err) {
    if (err instanceof MalformedInputError) throw badRequest(err.message, err.code);
    throw err;
  }
  const v = parsed.versions;
  const refs: Array<readonly [string, string]> =
    v.kind === 'uri' ? [['version_a_uri', v.a], ['version_b_uri', v.b]] : v.kind === 'folder' ? [['storage_path', v.path]] : [];
  for (const [field, ref] of refs) {
    // The consumer would refuse it too, but only after the 202; the client should hear it now.
    const problem = input?.referenceProblem(ref);
    if (problem) {
      throw badRequest(`version_pairs[${index}]: field "${field}" ${problem}, got ${quoteValue(ref)}`, ERROR_CODES.forbiddenPath);
    }
  }
  try {
    const task = encodeTask({ ...parsed, jobId, taskId: parsed.taskId ?? `${jobId}:${index}` }, `version_pairs[${index}]: `);
    return { task, clientKey: parsed.taskId !== null };
  } catch (err) {
    if (err instanceof MalformedInputError) throw badRequest(err.message, err.code);
    throw err;
  }
}
