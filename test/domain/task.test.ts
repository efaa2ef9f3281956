import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { MalformedInputError } from '../../src/domain/errors.js';
import { decodeTask, encodeTask, parseTaskInput, type TaskInput } from '../../src/domain/task.js';

const door = { id: 'D1', type: 'door', x: 4, y: 2, width: 1, height: 2 };
const inline = { drawing_id: 'D7', version_a: [door], version_b: [] };

function rejects(t: ExecutionContext, body: unknown, message: string, field?: string, drawingId: string | null = 'D7'): void {
  const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const err = t.throws(() => decodeTask(data), { instanceOf: MalformedInputError });
  t.is(err?.message, message);
  t.is(err?.code, 'malformed_task');
  t.is(err?.drawingId, drawingId);
  t.is(err?.location.field, field);
}

test('an inline task with arrays', (t) => {
  const task = decodeTask(JSON.stringify({ ...inline, job_id: 'job-1' }));
  t.deepEqual(task.versions, { kind: 'inline', a: [door], b: [] });
  t.is(task.drawingId, 'D7');
  t.is(task.jobId, 'job-1');
  t.is(task.uploadedAt, null);
});

test('an inline task with versions as JSON strings, as the seed sends them', (t) => {
  const task = decodeTask(Buffer.from(JSON.stringify({ drawing_id: 'D7', version_a: JSON.stringify([door], null, 2), version_b: '[]' })));
  t.deepEqual(task.versions, { kind: 'inline', a: [door], b: [] });
  t.is(task.jobId, null);
});

test('inline versions come back unvalidated: their objects are the validator\'s job', (t) => {
  const task = decodeTask(JSON.stringify({ drawing_id: 'D7', version_a: [{ id: 1 }], version_b: '["x"]' }));
  t.deepEqual(task.versions, { kind: 'inline', a: [{ id: 1 }], b: ['x'] });
});

test('a task by reference and a task in the seed layout', (t) => {
  t.deepEqual(decodeTask(JSON.stringify({ drawing_id: 'D7', version_a_uri: 'gs://b/p/a.json', version_b_uri: 'p/b.json' })).versions,
    { kind: 'uri', a: 'gs://b/p/a.json', b: 'p/b.json' });
  t.deepEqual(decodeTask(JSON.stringify({ drawing_id: 'D7', storage_path: 'gs://b/input/D7' })).versions,
    { kind: 'folder', path: 'gs://b/input/D7' });
});

test('the key is task_id from the body, else from the attribute, else the SHA-256 of the raw bytes', (t) => {
  const body = JSON.stringify(inline);
  t.is(decodeTask(JSON.stringify({ ...inline, task_id: 'k1' }), { task_id: 'k2' }).taskKey, 'k1');
  t.is(decodeTask(body, { task_id: 'k2' }).taskKey, 'k2');
  const hash = createHash('sha256').update(body).digest('hex');
  t.is(decodeTask(body).taskKey, hash);
  t.is(decodeTask(Buffer.from(body)).taskKey, hash); // the same bytes, the same key
  t.not(decodeTask(`${body} `).taskKey, hash); // other bytes, another key
  t.is(decodeTask(body, { task_id: '' }).taskKey, hash); // an empty attribute is no key
});

test('job_id comes from the body, else from the attribute', (t) => {
  t.is(decodeTask(JSON.stringify({ ...inline, job_id: 'j1' }), { job_id: 'j2' }).jobId, 'j1');
  t.is(decodeTask(JSON.stringify(inline), { job_id: 'j2' }).jobId, 'j2');
  t.is(decodeTask(JSON.stringify({ ...inline, job_id: null })).jobId, null);
});

test('uploaded_at accepts the ISO 8601 forms producers write', (t) => {
  const at = (v: string) => decodeTask(JSON.stringify({ ...inline, uploaded_at: v })).uploadedAt?.toISOString();
  t.is(at('2024-05-01T12:30:00Z'), '2024-05-01T12:30:00.000Z');
  t.is(at('2024-05-01T12:30:00.123456Z'), '2024-05-01T12:30:00.123Z');
  t.is(at('2024-05-01T14:30:00+02:00'), '2024-05-01T12:30:00.000Z');
  t.is(at('2024-05-01T10:00:00-0230'), '2024-05-01T12:30:00.000Z');
  t.is(at('2024-05-01 12:30:00.5'), '2024-05-01T12:30:00.500Z'); // Python str(datetime), naive: UTC
  t.is(at('2024-05-01T12:30'), '2024-05-01T12:30:00.000Z');
  t.is(at('2024-05-01'), '2024-05-01T00:00:00.000Z');
  t.is(at('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000Z');
  t.is(at('0099-01-01T00:00:00Z'), '0099-01-01T00:00:00.000Z');
});

test('an invalid uploaded_at is malformed', (t) => {
  for (const v of ['yesterday', '2024-02-30T00:00:00Z', '2023-02-29', '2024-13-01', '2024-05-01T24:00:00Z', '2024-05-01T12:60Z',
    '2024-05-01Z', '2024-05-01T12:00:00+25:00', '1714566600', '', '2024-5-1']) {
    rejects(t, { ...inline, uploaded_at: v },
      `task (drawing D7): field "uploaded_at" must be an ISO 8601 date-time such as "2024-05-01T12:00:00Z", got ${JSON.stringify(v)}`, 'uploaded_at');
  }
  rejects(t, { ...inline, uploaded_at: 1714566600 },
    'task (drawing D7): field "uploaded_at" must be an ISO 8601 date-time such as "2024-05-01T12:00:00Z", got 1714566600', 'uploaded_at');
});

test('a body that is not JSON, not UTF-8 or not an object is malformed', (t) => {
  const notJson = t.throws(() => decodeTask('{"drawing_id": "D7",'), { instanceOf: MalformedInputError });
  t.regex(notJson!.message, /^task: body is not valid JSON \(.+\)$/);
  rejects(t, Buffer.from([0x7b, 0xff, 0x7d]), 'task: body is not valid UTF-8', undefined, null);
  rejects(t, '[1,2]', 'task: body must be a JSON object, got an array', undefined, null);
  rejects(t, '"D7"', 'task: body must be a JSON object, got "D7"', undefined, null);
  rejects(t, 'null', 'task: body must be a JSON object, got null', undefined, null);
  rejects(t, '', 'task: body is not valid JSON (Unexpected end of JSON input)', undefined, null);
});

test('a leading byte-order mark is tolerated', (t) => {
  const body = `\ufeff${JSON.stringify(inline)}`;
  t.is(decodeTask(body).drawingId, 'D7');
  t.is(decodeTask(Buffer.from(body)).drawingId, 'D7');
});

test('drawing_id must be present and match the pattern', (t) => {
  const shape = 'must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit';
  rejects(t, { version_a: [], version_b: [] }, 'task: field "drawing_id" is missing', 'drawing_id', null);
  rejects(t, { ...inline, drawing_id: null }, 'task: field "drawing_id" is missing', 'drawing_id', null);
  for (const [v, shown] of [[7, '7'], ['', '""'], ['.hidden', '".hidden"'], ['a/b', '"a/b"'], ['a b', '"a b"'], ['-x', '"-x"'],
    ['x'.repeat(129), `"${'x'.repeat(40)}…"`], [['D7'], 'an array']] as const) {
    rejects(t, { ...inline, drawing_id: v }, `task: field "drawing_id" ${shape}, got ${shown}`, 'drawing_id', null);
  }
  t.is(decodeTask(JSON.stringify({ ...inline, drawing_id: `A${'b'.repeat(127)}` })).drawingId.length, 128);
  t.is(decodeTask(JSON.stringify({ ...inline, drawing_id: 'drawing_0001.rev-2' })).drawingId, 'drawing_0001.rev-2');
});

test('a task with no versions names the three forms', (t) => {
  rejects(t, { drawing_id: 'D7' }, 'task (drawing D7): no versions given: expected version_a and version_b, version_a_uri and version_b_uri, or storage_path');
  rejects(t, { drawing_id: 'D7', version_a: null, version_b: null },
    'task (drawing D7): no versions given: expected version_a and version_b, version_a_uri and version_b_uri, or storage_path');
});

test('mixing forms is malformed, naming the fields', (t) => {
  rejects(t, { ...inline, storage_path: 'p' }, 'task (drawing D7): fields "version_a", "version_b" and "storage_path" cannot be combined: '
    + 'give exactly one of version_a and version_b, version_a_uri and version_b_uri, or storage_path', 'storage_path');
  rejects(t, { drawing_id: 'D7', version_a: [], version_b_uri: 'b.json' }, 'task (drawing D7): fields "version_a" and "version_b_uri" cannot be combined: '
    + 'give exactly one of version_a and version_b, version_a_uri and version_b_uri, or storage_path', 'version_b_uri');
});

test('half a form is malformed, naming the missing field', (t) => {
  rejects(t, { drawing_id: 'D7', version_a: [] }, 'task (drawing D7): field "version_b" is missing: the inline form needs both "version_a" and "version_b"', 'version_b');
  rejects(t, { drawing_id: 'D7', version_b: '[]', version_a: null },
    'task (drawing D7): field "version_a" is missing: the inline form needs both "version_a" and "version_b"', 'version_a');
  rejects(t, { drawing_id: 'D7', version_b_uri: 'b.json' },
    'task (drawing D7): field "version_a_uri" is missing: the by-reference form needs both "version_a_uri" and "version_b_uri"', 'version_a_uri');
});

test('inline versions must be arrays or strings holding JSON arrays', (t) => {
  const notJson = t.throws(() => decodeTask(JSON.stringify({ ...inline, version_b: '[{"id": ' })), { instanceOf: MalformedInputError });
  t.regex(notJson!.message, /^task \(drawing D7\): field "version_b" holds a string that is not valid JSON \(.+\)$/);
  t.is(notJson?.location.field, 'version_b');
  rejects(t, { ...inline, version_a: '{"id": "D1"}' }, 'task (drawing D7): field "version_a" must hold a JSON array of objects, got a string holding an object', 'version_a');
  rejects(t, { ...inline, version_a: 3 }, 'task (drawing D7): field "version_a" must be a JSON array of objects (or a string holding one), got 3', 'version_a');
  rejects(t, { ...inline, version_b: { objects: [] } },
    'task (drawing D7): field "version_b" must be a JSON array of objects (or a string holding one), got an object', 'version_b');
});

test('versions nested too deeply to re-encode are malformed_task when encoded, without overflowing the stack', (t) => {
  const deep = '['.repeat(500_000) + ']'.repeat(500_000);
  // decoding accepts any depth (JSON.parse does; the pipeline then finds the objects malformed) …
  const task = parseTaskInput(JSON.parse(`{"drawing_id":"D7","version_a":${deep},"version_b":[]}`), 3);
  t.is(task.drawingId, 'D7');
  // … but the message cannot be written again: a clear error instead of a RangeError
  const err = t.throws(() => encodeTask(task, 'version_pairs[3]: '), { instanceOf: MalformedInputError });
  t.is(err?.message, 'version_pairs[3] (drawing D7): its versions nest arrays and objects too deeply to be encoded; a version is an array of flat objects');
  t.is(err?.code, 'malformed_task');
  t.is(err?.drawingId, 'D7');
  // a structure of ordinary depth in an extra field encodes as it is
  let meta: unknown = {};
  for (let i = 0; i < 100; i++) meta = { meta };
  const ok = encodeTask(parseTaskInput({ ...inline, version_a: [{ ...door, meta }] }));
  t.deepEqual(JSON.parse(ok.data.toString()).version_a[0].meta, meta);
});

test('references must be non-empty paths', (t) => {
  for (const [v, shown] of [['', '""'], ['  ', '"  "'], [5, '5'], ['a\u0000b', '"a\\u0000b"'], ['p'.repeat(1025), `"${'p'.repeat(40)}…"`]] as const) {
    rejects(t, { drawing_id: 'D7', storage_path: v },
      `task (drawing D7): field "storage_path" must be a non-empty path of at most 1024 characters, got ${shown}`, 'storage_path');
  }
  rejects(t, { drawing_id: 'D7', version_a_uri: 'a.json', version_b_uri: [] },
    'task (drawing D7): field "version_b_uri" must be a non-empty path of at most 1024 characters, got an array', 'version_b_uri');
});

test('job_id and task_id must be strings of at most 256 characters', (t) => {
  rejects(t, { ...inline, job_id: 12 }, 'task (drawing D7): field "job_id" must be a well-formed string of at most 256 characters, got 12', 'job_id');
  rejects(t, { ...inline, task_id: 'k'.repeat(257) }, `task (drawing D7): field "task_id" must be a well-formed string of at most 256 characters, got "${'k'.repeat(40)}…"`, 'task_id');
  const err = t.throws(() => decodeTask(JSON.stringify(inline), { task_id: 'k'.repeat(300) }), { instanceOf: MalformedInputError });
  t.regex(err!.message, /^task \(drawing D7\): attribute "task_id" must be a well-formed string of at most 256 characters/);
});

test('parseTaskInput names the element of version_pairs', (t) => {
  t.is(parseTaskInput({ drawing_id: 'D1', version_a: '[]', version_b: [] }, 0).drawingId, 'D1');
  const err = t.throws(() => parseTaskInput({ drawing_id: 'D1', version_a: '[]' }, 3), { instanceOf: MalformedInputError });
  t.is(err?.message, 'version_pairs[3] (drawing D1): field "version_b" is missing: the inline form needs both "version_a" and "version_b"');
  t.deepEqual(err?.location, { index: 3, field: 'version_b' });
  t.is(err?.drawingId, 'D1');
  const notObject = t.throws(() => parseTaskInput('D1', 0), { instanceOf: MalformedInputError });
  t.is(notObject?.message, 'version_pairs[0]: must be a JSON object, got "D1"');
  t.deepEqual(notObject?.location, { index: 0 });
});

test('encodeTask writes a body decodeTask reads back to the same task, and the attributes', (t) => {
  const inputs: TaskInput[] = [
    { drawingId: 'D1', jobId: 'job-1', taskId: 'job-1:0', versions: { kind: 'inline', a: [door], b: [] }, uploadedAt: new Date('2024-05-01T12:00:00.250Z') },
    { drawingId: 'D2', jobId: 'job-1', taskId: 'job-1:1', versions: { kind: 'uri', a: 'gs://b/a.json', b: 'gs://b/b.json' }, uploadedAt: null },
    { drawingId: 'D3', jobId: null, taskId: null, versions: { kind: 'folder', path: 'input/D3' }, uploadedAt: null },
  ];
  for (const input of inputs) {
    const out = encodeTask(input);
    const task = decodeTask(out.data, out.attributes);
    t.deepEqual(task, {
      taskKey: input.taskId ?? createHash('sha256').update(out.data).digest('hex'),
      jobId: input.jobId,
      drawingId: input.drawingId,
      versions: input.versions,
      uploadedAt: input.uploadedAt,
    });
  }
  t.deepEqual(encodeTask(inputs[0]!).attributes, { drawing_id: 'D1', job_id: 'job-1', task_id: 'job-1:0' });
  t.deepEqual(encodeTask(inputs[2]!).attributes, { drawing_id: 'D3' });
  t.deepEqual(JSON.parse(encodeTask(inputs[1]!).data.toString()), {
    drawing_id: 'D2', job_id: 'job-1', task_id: 'job-1:1', version_a_uri: 'gs://b/a.json', version_b_uri: 'gs://b/b.json',
  });
});

test('"match" overrides MATCH_FALLBACK per task: id, geometry or auto; null is absent; anything else is malformed', (t) => {
  for (const match of ['id', 'geometry', 'auto'] as const) t.is(decodeTask(JSON.stringify({ ...inline, match })).match, match);
  t.false('match' in decodeTask(JSON.stringify(inline)));
  t.false('match' in decodeTask(JSON.stringify({ ...inline, match: null })));
  for (const [v, shown] of [['none', '"none"'], ['Geometry', '"Geometry"'], ['', '""'], [1, '1'], [['id'], 'an array']] as const) {
    rejects(t, { ...inline, match: v }, `task (drawing D7): field "match" must be one of "id", "geometry", "auto", got ${shown}`, 'match');
  }
  const err = t.throws(() => parseTaskInput({ ...inline, match: 'guess' }, 2), { instanceOf: MalformedInputError });
  t.deepEqual(err?.location, { index: 2, field: 'match' });
});

test('"match" survives the queue and Pub/Sub encoding', (t) => {
  const input: TaskInput = { drawingId: 'D1', jobId: 'j', taskId: 'j:0', versions: { kind: 'inline', a: [door], b: [] }, uploadedAt: null, match: 'auto' };
  const out = encodeTask(input);
  t.is(JSON.parse(out.data.toString()).match, 'auto');
  t.is(decodeTask(out.data, out.attributes).match, 'auto');
  // without one, the body is exactly what it was before "match" existed
  const { match: _, ...without } = input;
  t.false('match' in JSON.parse(encodeTask(without).data.toString()));
});

test('unknown fields are kept out of the way, not refused', (t) => {
  t.is(decodeTask(JSON.stringify({ ...inline, priority: 'high', source: { app: 'x' } })).drawingId, 'D7');
});
