import test from 'ava';
import { ERROR_CODES, MalformedInputError } from '../../../src/domain/errors.js';
import {
  malformedInputAnomaly,
  MAX_DETAIL_MESSAGE,
  missingUploadAnomaly,
  processingErrorAnomaly,
} from '../../../streams/detect/anomalies.js';

const now = new Date('2026-11-29T10:30:00.000Z');

test('missing_upload: id from the folder path (trailing slash or not), names the present and missing file', (t) => {
  const a = missingUploadAnomaly({ drawingId: 'D1', presentFile: 'version_a.json', storagePath: 'gs://in/batch/D1/', now });
  const b = missingUploadAnomaly({ drawingId: 'D1', presentFile: 'gs://in/batch/D1/version_a.json', storagePath: 'gs://in/batch/D1', now });
  t.is(a.id, 'missing_upload:gs://in/batch/D1');
  t.deepEqual(a, b);
  t.is(a.type, 'missing_upload');
  t.is(a.drawingId, 'D1');
  t.is(a.severity, 'medium');
  t.deepEqual(a.details, { storage_path: 'gs://in/batch/D1', present_file: 'version_a.json', missing_file: 'version_b.json' });
  t.is(a.timestamp, now);

  const onlyB = missingUploadAnomaly({ drawingId: 'D2', presentFile: 'version_b.json', storagePath: 'batch/D2', now });
  t.is(onlyB.details.missing_file, 'version_a.json');
  const odd = missingUploadAnomaly({ drawingId: 'D3', presentFile: 'notes.txt', storagePath: 'batch/D3', now });
  t.is(odd.details.missing_file, null);
});

test('malformed_input: id from the task key, with code, message and location of the error', (t) => {
  const err = new MalformedInputError(ERROR_CODES.malformedVersion, 'drawing D1, version_b object 3: field "x" is not a finite number', 'D1', {
    version: 'b',
    index: 3,
    field: 'x',
  });
  const a = malformedInputAnomaly({ drawingId: err.drawingId, code: err.code, message: err.message, taskKey: 'sha-1', now, location: err.location });
  t.is(a.id, 'malformed_input:sha-1');
  t.is(a.type, 'malformed_input');
  t.is(a.drawingId, 'D1');
  t.deepEqual(a.details, {
    code: 'malformed_version',
    message: err.message,
    task_key: 'sha-1',
    location: { version: 'b', index: 3, field: 'x' },
  });
  // same task, replayed later: same id
  t.is(malformedInputAnomaly({ drawingId: 'D1', code: 'x', message: 'y', taskKey: 'sha-1', now: new Date() }).id, a.id);

  const undecodable = malformedInputAnomaly({ drawingId: null, code: ERROR_CODES.malformedTask, message: 'not JSON', taskKey: 'sha-2', now, location: {} });
  t.is(undecodable.drawingId, null);
  t.false('location' in undecodable.details);
});

test('processing_error: id from the task key, high severity, attempts recorded, long messages clipped', (t) => {
  const message = 'x'.repeat(5000);
  const a = processingErrorAnomaly({ drawingId: 'D9', code: ERROR_CODES.storageUnavailable, message, attempts: 5, taskKey: 'k9', now });
  t.is(a.id, 'processing_error:k9');
  t.is(a.type, 'processing_error');
  t.is(a.severity, 'high');
  t.like(a.details, { code: 'storage_unavailable', attempts: 5, task_key: 'k9' });
  const clipped = a.details.message as string;
  t.is(clipped.length, MAX_DETAIL_MESSAGE);
  t.true(clipped.endsWith('…'));
});
