/**
 * What the dead-letter command reads from a message and what a replay publishes, on the cases
 * the end-to-end tests do not reach: a dead letter Pub/Sub's policy forwarded, one with no reason,
 * and ids only in the body.
 */
import test from 'ava';
import { describeDeadLetter } from '../../../streams/sources/dead-letters/entry.js';
import { replayAttributes } from '../../../streams/sources/dead-letters/pubsub.js';
import { parseAttributes } from '../../../streams/sources/local-queue/statements.js';

const body = (o: unknown) => Buffer.from(JSON.stringify(o));

test('a dead letter forwarded by the subscription policy reads as max_delivery_attempts with the count', (t) => {
  const entry = describeDeadLetter(body({ drawing_id: 'D1' }), { task_id: 'j:1', job_id: 'j', CloudPubSubDeadLetterSourceDeliveryCount: '5' });
  t.deepEqual(entry, {
    taskId: 'j:1',
    jobId: 'j',
    drawingId: 'D1',
    errorCode: 'max_delivery_attempts',
    errorMessage: "moved by the subscription's dead-letter policy after 5 delivery attempts",
  });
});

test('ids come from the body first, as the decoder takes them; no reason and no JSON still describe', (t) => {
  t.like(describeDeadLetter(body({ drawing_id: 'D2', task_id: 'from-body', job_id: 'jb' }), { task_id: 'from-attr', drawing_id: 'attr-drawing' }), {
    taskId: 'from-body',
    jobId: 'jb',
    drawingId: 'attr-drawing',
    errorCode: 'unknown',
  });
  t.deepEqual(describeDeadLetter(Buffer.from('not json'), {}), {
    taskId: null,
    jobId: null,
    drawingId: null,
    errorCode: 'unknown',
    errorMessage: 'no reason attached (published to the dead-letter topic by hand?)',
  });
});

test('a replay keeps the original attributes and drops what dead-lettering added, service and Pub/Sub alike', (t) => {
  const attributes = {
    task_id: 'j:0',
    job_id: 'j',
    drawing_id: 'D1',
    source: 'uploader',
    error_code: 'malformed_version',
    error_message: 'x',
    source_subscription: 'workers',
    original_message_id: '17',
    delivery_attempt: '1',
    CloudPubSubDeadLetterSourceDeliveryCount: '5',
    CloudPubSubDeadLetterSourceSubscription: 'workers',
    CloudPubSubDeadLetterSourceSubscriptionProject: 'p',
    CloudPubSubDeadLetterSourceTopicPublishTime: '2026-01-01T00:00:00Z',
  };
  t.deepEqual(replayAttributes(attributes, 'dlq-sub/42'), { task_id: 'j:0', job_id: 'j', drawing_id: 'D1', source: 'uploader', replayed_from: 'dlq-sub/42' });
});

test("a queue row's attributes: strings kept, anything else dropped, and a column that is not JSON reads as none", (t) => {
  t.deepEqual(parseAttributes('{"task_id":"j:1","attempt":2,"nested":{"a":"b"},"drawing_id":"D1"}'), { task_id: 'j:1', drawing_id: 'D1' });
  t.deepEqual(parseAttributes('{not json'), {});
  t.deepEqual(parseAttributes('null'), {});
  t.deepEqual(parseAttributes('"a string"'), {});
});
