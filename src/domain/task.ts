/**
 * Task decoding and encoding (design.md, Input), shared by the consumer and `POST /process` so a
 * task the API accepts is exactly a task the pipeline can decode, and errors name the field.
 */
import { createHash } from 'node:crypto';
import type { OutgoingTask } from './source.js';
import { describeValue } from './drawing.js';
import { ERROR_CODES, MalformedInputError } from './errors.js';
import { parseIsoDateTime } from './iso-8601.js';
import { isWellFormed, utf8Text, withoutBom } from './text.js';
import { MATCH_MODES, type MatchMode, type Task, type VersionSource } from './types.js';

export const DRAWING_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Ids we carry in Pub/Sub attributes and database keys; a bound keeps both well inside limits. */
const MAX_ID_LENGTH = 256;
/** Object names in Cloud Storage are at most 1024 bytes; a path longer than that cannot exist. */
const MAX_PATH_LENGTH = 1024;

/** One task as the producer gave it, validated, before a key is chosen for it. */
export interface TaskInput {
  readonly drawingId: string;
  readonly jobId: string | null;
  /** The producer's idempotency key (`POST /process` sets one per element). */
  readonly taskId: string | null;
  readonly versions: VersionSource;
  readonly uploadedAt: Date | null;
  /** `"match"`: overrides MATCH_FALLBACK for this pair; absent when not given. */
  readonly match?: MatchMode;
}

const FORMS = [
  { name: 'inline', fields: ['version_a', 'version_b'] },
  { name: 'by-reference', fields: ['version_a_uri', 'version_b_uri'] },
  { name: 'seed layout', fields: ['storage_path'] },
] as const;
const FORM_LIST = 'version_a and version_b, version_a_uri and version_b_uri, or storage_path';


/**
 * Decodes one message body into a task. The key is the producer's `task_id` (body field, else the
 * `task_id` attribute) or, when there is none, the SHA-256 of the raw bytes, so a redelivered or
 * republished identical message maps to the same key.
 *
 * @throws MalformedInputError (`malformed_task`) with a message naming the field.
 *
 * @example
 * const task = decodeTask(delivery.data, delivery.attributes);
 * if (task.versions.kind === 'inline') validateAndDiff(task.versions.a, task.versions.b, task.drawingId);
 */
export function decodeTask(data: Buffer | string, attributes: Readonly<Record<string, string>> = {}): Task {
  let text: string;
  if (typeof data === 'string') {
    text = withoutBom(data);
  } else {
    try {
      text = utf8Text(data); // drops a leading BOM
    } catch {
      throw taskError('task: body is not valid UTF-8', null);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw taskError(`task: body is not valid JSON (${(err as Error).message})`, null);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw taskError(`task: body must be a JSON object, got ${describeValue(value)}`, null);
  }

  const input = parseTaskInput(value);
  const where = inDrawing('task: ', input.drawingId);
  const jobId = input.jobId ?? optionalId(attributes.job_id, 'attribute "job_id"', where, input.drawingId);
  const taskId = input.taskId ?? optionalId(attributes.task_id, 'attribute "task_id"', where, input.drawingId);
  return {
    taskKey: taskId ?? createHash('sha256').update(data).digest('hex'),
    jobId,
    drawingId: input.drawingId,
    versions: input.versions,
    uploadedAt: input.uploadedAt,
    ...(input.match === undefined ? {} : { match: input.match }),
  };
}

/**
 * Validates one task object: a decoded message body, or one element of `POST /process`'s
 * `version_pairs` (pass its `index` so the message names the element, `version_pairs[3]: …`).
 * Inline versions come back parsed (a string holding JSON is parsed) but their objects are not
 * yet validated; that is `validateVersion`'s job.
 *
 * @throws MalformedInputError (`malformed_task`) naming the field; `location.field` is the field
 *   and, when given, `location.index` the element index.
 *
 * @example
 * body.version_pairs.map((pair, i) => parseTaskInput(pair, i)); // 400 on the first bad element
 */
export function parseTaskInput(value: unknown, index?: number): TaskInput {
  const where = index === undefined ? 'task: ' : `version_pairs[${index}]: `;
  const loc = (field?: string) => ({
    ...(index === undefined ? {} : { index }),
    ...(field === undefined ? {} : { field }),
  });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw taskError(`${where}must be a JSON object, got ${describeValue(value)}`, null, loc());
  }
  const o = value as Record<string, unknown>;

  const rawId = o.drawing_id;
  if (!present(rawId)) {
    throw taskError(`${where}field "drawing_id" is missing`, null, loc('drawing_id'));
  }
  if (typeof rawId !== 'string' || !DRAWING_ID_PATTERN.test(rawId)) {
    throw taskError(
      `${where}field "drawing_id" must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${describeValue(rawId)}`,
      null,
      loc('drawing_id'),
    );
  }
  const drawingId = rawId;
  // From here on every message names the drawing, as the dead-letter reader sees only the message.
  const whereDrawing = inDrawing(where, drawingId);
  const fail = (field: string, problem: string): MalformedInputError =>
    taskError(`${whereDrawing}${problem}`, drawingId, loc(field));

  const jobId = optionalId(o.job_id, 'field "job_id"', whereDrawing, drawingId, loc('job_id'));
  const taskId = optionalId(o.task_id, 'field "task_id"', whereDrawing, drawingId, loc('task_id'));
  const uploadedAt = parseUploadedAt(o.uploaded_at, fail);
  const match = parseMatch(o.match, fail);

  const given = FORMS.filter((form) => form.fields.some((f) => present(o[f])));
  if (given.length === 0) {
    throw taskError(`${whereDrawing}no versions given: expected ${FORM_LIST}`, drawingId, loc());
  }
  if (given.length > 1) {
    const fields = given.flatMap((form) => form.fields.filter((f) => present(o[f])).map((f) => `"${f}"`));
    const second = (given[1] as (typeof FORMS)[number]).fields.find((f) => present(o[f])) as string;
    throw fail(
      second,
      `fields ${fields.slice(0, -1).join(', ')} and ${fields.at(-1)} cannot be combined: give exactly one of ${FORM_LIST}`,
    );
  }
  const form = given[0] as (typeof FORMS)[number];
  for (const f of form.fields) {
    if (!present(o[f])) {
      const both = form.fields.map((g) => `"${g}"`).join(' and ');
      throw fail(f, `field "${f}" is missing: the ${form.name} form needs both ${both}`);
    }
  }

  let versions: VersionSource;
  switch (form.name) {
    case 'inline':
      versions = { kind: 'inline', a: inlineVersion(o.version_a, 'version_a', fail), b: inlineVersion(o.version_b, 'version_b', fail) };
      break;
    case 'by-reference':
      versions = { kind: 'uri', a: path(o.version_a_uri, 'version_a_uri', fail), b: path(o.version_b_uri, 'version_b_uri', fail) };
      break;
    case 'seed layout':
      versions = { kind: 'folder', path: path(o.storage_path, 'storage_path', fail) };
      break;
  }
  return { drawingId, jobId, taskId, versions, uploadedAt, ...(match === undefined ? {} : { match }) };
}

/**
 * Builds the message to publish for one task: a JSON body `decodeTask` reads back to the same
 * task, and `job_id`, `task_id`, `drawing_id` attributes for brokers and dead-letter readers.
 * Inline versions are written as arrays (the decoder also accepts the seed's JSON strings).
 *
 * @throws MalformedInputError (`malformed_task`) when the versions nest too deeply to encode; its
 *   message starts with `where` (`version_pairs[3]: ` names the element of a request).
 * @example
 * publisher.publish(pairs.map((p, i) => encodeTask({ ...parseTaskInput(p, i), jobId, taskId: `${jobId}:${i}` })));
 */
export function encodeTask(task: TaskInput, where = 'task: '): OutgoingTask {
  const body: Record<string, unknown> = { drawing_id: task.drawingId };
  const attributes: Record<string, string> = { drawing_id: task.drawingId };
  if (task.jobId !== null) {
    body.job_id = task.jobId;
    attributes.job_id = task.jobId;
  }
  if (task.taskId !== null) {
    body.task_id = task.taskId;
    attributes.task_id = task.taskId;
  }
  const v = task.versions;
  switch (v.kind) {
    case 'inline':
      body.version_a = v.a;
      body.version_b = v.b;
      break;
    case 'uri':
      body.version_a_uri = v.a;
      body.version_b_uri = v.b;
      break;
    case 'folder':
      body.storage_path = v.path;
      break;
  }
  if (task.uploadedAt !== null) body.uploaded_at = task.uploadedAt.toISOString();
  if (task.match !== undefined) body.match = task.match;
  let text: string;
  try {
    text = JSON.stringify(body, keepOverflow);
  } catch (err) {
    // JSON.parse accepts any depth, JSON.stringify recurses: versions nested some thousands of
    // levels deep parse, then overflow the stack here. Nothing else walks them that deep (the
    // pipeline reads only the objects' own fields), so the check costs nothing until it fails.
    if (err instanceof RangeError) {
      throw new MalformedInputError(
        ERROR_CODES.malformedTask,
        `${inDrawing(where, task.drawingId)}its versions nest arrays and objects too deeply to be encoded; a version is an array of flat objects`,
        task.drawingId,
      );
    }
    throw err;
  }
  return { data: Buffer.from(text, 'utf8'), attributes };
}

type Fail = (field: string, problem: string) => MalformedInputError;

/** JSON `null` counts as absent: the seed's API forwards missing keys as `null`. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function taskError(
  message: string,
  drawingId: string | null,
  location: { index?: number; field?: string } = {},
): MalformedInputError {
  return new MalformedInputError(ERROR_CODES.malformedTask, message, drawingId, location);
}

/** `task: ` → `task (drawing D1): `; `version_pairs[3]: ` → `version_pairs[3] (drawing D1): `. */
function inDrawing(where: string, drawingId: string): string {
  return `${where.slice(0, -2)} (drawing ${drawingId}): `;
}

function optionalId(
  v: unknown,
  what: string,
  where: string,
  drawingId: string,
  location: { index?: number; field?: string } = {},
): string | null {
  if (!present(v) || v === '') return null;
  if (typeof v !== 'string' || v.length > MAX_ID_LENGTH || !isWellFormed(v)) {
    throw taskError(
      `${where}${what} must be a well-formed string of at most ${MAX_ID_LENGTH} characters, got ${describeValue(v)}`,
      drawingId,
      location,
    );
  }
  return v;
}

function inlineVersion(v: unknown, field: string, fail: Fail): unknown {
  let parsed: unknown = v;
  if (typeof v === 'string') {
    try {
      parsed = JSON.parse(withoutBom(v));
    } catch (err) {
      throw fail(field, `field "${field}" holds a string that is not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(parsed)) {
      throw fail(field, `field "${field}" must hold a JSON array of objects, got a string holding ${describeValue(parsed)}`);
    }
  } else if (!Array.isArray(parsed)) {
    throw fail(field, `field "${field}" must be a JSON array of objects (or a string holding one), got ${describeValue(v)}`);
  }
  return parsed;
}

function path(v: unknown, field: string, fail: Fail): string {
  if (typeof v !== 'string' || v.trim() === '' || v.length > MAX_PATH_LENGTH || v.includes('\0') || !isWellFormed(v)) {
    throw fail(field, `field "${field}" must be a non-empty path of at most ${MAX_PATH_LENGTH} characters, got ${describeValue(v)}`);
  }
  return v;
}

function parseUploadedAt(v: unknown, fail: Fail): Date | null {
  if (!present(v)) return null;
  const date = typeof v === 'string' ? parseIsoDateTime(v) : null;
  if (date === null) {
    throw fail('uploaded_at', `field "uploaded_at" must be an ISO 8601 date-time such as "2024-05-01T12:00:00Z", got ${describeValue(v)}`);
  }
  return date;
}

/** `"match"`: one of MATCH_MODES; `null` counts as absent, like every optional field. */
function parseMatch(v: unknown, fail: Fail): MatchMode | undefined {
  if (!present(v)) return undefined;
  if (typeof v !== 'string' || !(MATCH_MODES as readonly string[]).includes(v)) {
    throw fail('match', `field "match" must be one of ${MATCH_MODES.map((m) => `"${m}"`).join(', ')}, got ${describeValue(v)}`);
  }
  return v as MatchMode;
}

/**
 * JSON has no Infinity: a number too large for a double (`1e309`) parses as one, and
 * `JSON.stringify` would write it as `null`, so the consumer would refuse "got null". Written as
 * the string `"Infinity"` it is refused as what it is (see `validateObject`).
 */
function keepOverflow(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}
