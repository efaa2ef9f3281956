/**
 * Malformed drawing content that only the consumer can see (the task shape is fine, the versions
 * are not): accepted with 202, then failed in the job, reported as a data-quality anomaly naming
 * drawing, object and field, counted in /metrics, kept in the dead-letter table, and never a stop
 * for the good tasks around it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { call, deadLetters, obj, postJson, startApi, waitForJob } from '../support/api-fixture.js';

const GOOD_A = [obj('D1', 'door', 0, 0)];
const GOOD_B = [obj('D1', 'door', 3, 0)];

interface HealthAnomaly {
  readonly drawing_id: string | null;
  readonly type: string;
  readonly severity: string;
  readonly details: { code?: string; message?: string; location?: Record<string, unknown> };
}

test('malformed content is accepted, then failed, reported, counted and dead-lettered while good tasks succeed', async (t) => {
  // given a service and a request mixing good pairs with every kind of bad content
  const api = await startApi(t);
  mkdirSync(path.join(api.inputDir, 'refs'), { recursive: true });
  writeFileSync(path.join(api.inputDir, 'refs', 'object.json'), '{"id": "D1"}');
  writeFileSync(path.join(api.inputDir, 'refs', 'good.json'), JSON.stringify(GOOD_A));
  writeFileSync(path.join(api.inputDir, 'refs', 'broken.json'), '[{"id": "D1",');
  const good = (id: string) => `{"drawing_id": "${id}", "version_a": ${JSON.stringify(GOOD_A)}, "version_b": ${JSON.stringify(GOOD_B)}}`;
  const body = `{"version_pairs": [
    ${good('GOOD-1')},
    {"drawing_id": "BAD-FIELD", "version_a": [{"id": "D1", "type": "door", "x": 0, "y": 0, "width": 1}], "version_b": []},
    {"drawing_id": "BAD-DUP", "version_a": [], "version_b": [{"id": "D1", "type": "door", "x": 0, "y": 0, "width": 1, "height": 1},
                                                        {"id": "D1", "type": "door", "x": 1, "y": 0, "width": 1, "height": 1}]},
    {"drawing_id": "BAD-INF", "version_a": [{"id": "D1", "type": "door", "x": 1e999, "y": 0, "width": 1, "height": 1}], "version_b": []},
    {"drawing_id": "BAD-NAN", "version_a": [{"id": "D1", "type": "door", "x": "nan", "y": 0, "width": 1, "height": 1}], "version_b": []},
    {"drawing_id": "BAD-ARRAY", "version_a_uri": "refs/object.json", "version_b_uri": "refs/good.json"},
    {"drawing_id": "BAD-JSON", "version_a_uri": "refs/good.json", "version_b_uri": "refs/broken.json"},
    ${good('GOOD-2')}
  ]}`;

  // when it is posted
  const accepted = await postJson(`${api.url}/process`, body);

  // then it is accepted whole, and the job ends with the bad ones failed
  t.is(accepted.status, 202, accepted.text);
  t.is(accepted.body.tasks_created, 8);
  const job = await waitForJob(api.url, accepted.body.job_id);
  t.deepEqual(job, { job_id: accepted.body.job_id, tasks_created: 8, completed: 2, failed: 6, pending: 0 });
  for (const id of ['GOOD-1', 'GOOD-2']) {
    const res = await call(`${api.url}/changes?drawing_id=${id}`);
    t.is(res.status, 200, `${id}: ${res.text}`);
    t.is(res.body.moved[0].description, 'D1 moved 3.0 units east');
  }
  for (const id of ['BAD-FIELD', 'BAD-DUP', 'BAD-INF', 'BAD-ARRAY']) {
    t.is((await call(`${api.url}/changes?drawing_id=${id}`)).status, 404, `${id} has no result`);
  }

  // and /health is degraded with the request's six malformed inputs folded into one entry with a
  // count (one request of many bad pairs must not fill the list), each reason in the dead letters
  const health = await call(`${api.url}/health`);
  t.is(health.body.status, 'degraded');
  const folded = (health.body.anomalies as HealthAnomaly[]).filter((a) => a.type === 'malformed_input');
  t.is(folded.length, 1, JSON.stringify(folded));
  t.like(folded[0] as object, { count: 6, details: { job_id: accepted.body.job_id } });
  const reason = (id: string) => deadLetters(api.dataDir).find((l) => l.drawing_id === id)?.reason_message ?? '';
  t.regex(reason('BAD-FIELD'), /BAD-FIELD.*version_a.*object 0.*"height"/);
  t.regex(reason('BAD-DUP'), /BAD-DUP.*version_b.*object 1.*duplicate id "D1"/);
  t.regex(reason('BAD-INF'), /BAD-INF.*object 0.*"x".*finite.*got Infinity \(a number too large for a double\)/);
  t.regex(reason('BAD-NAN'), /BAD-NAN.*object 0.*"x".*finite/);
  t.regex(reason('BAD-ARRAY'), /BAD-ARRAY.*version_a.*array/);
  t.regex(reason('BAD-JSON'), /BAD-JSON.*version_b/);
  t.true(health.body.warnings.some((w: string) => /6 malformed inputs/.test(w)), JSON.stringify(health.body.warnings));

  // and /metrics counts them as failed and malformed, and as data-quality issues
  const metrics = (await call(`${api.url}/metrics`)).body;
  const hours = Object.values(metrics.hourly_stats as Record<string, Record<string, number>>);
  const sum = (key: string) => hours.reduce((n, h) => n + (h[key] ?? 0), 0);
  t.deepEqual({ pairs: sum('pairs'), failed: sum('failed'), malformed: sum('malformed') }, { pairs: 2, failed: 6, malformed: 6 });
  t.is(metrics.data_quality_issues, 6);
  t.is(metrics.latency_count, 2);

  // and the dead-letter table holds each bad message with its reason, never the good ones
  const letters = deadLetters(api.dataDir);
  t.deepEqual(letters.map((l) => l.drawing_id).sort(), ['BAD-ARRAY', 'BAD-DUP', 'BAD-FIELD', 'BAD-INF', 'BAD-JSON', 'BAD-NAN']);
  for (const letter of letters) {
    t.is(letter.reason_code, 'malformed_version');
    t.regex(letter.reason_message, new RegExp(letter.drawing_id ?? 'none'));
    t.is(JSON.parse(letter.data).drawing_id, letter.drawing_id, 'the original message body is kept');
  }

  // and the consumer is still running: a later good task completes
  const later = await postJson(`${api.url}/process`, { version_pairs: [{ drawing_id: 'GOOD-3', version_a: GOOD_A, version_b: GOOD_B }] });
  t.like(await waitForJob(api.url, later.body.job_id), { completed: 1, failed: 0 });
});

test('a by-reference task whose file never arrived fails as a missing upload, not as bad data', async (t) => {
  const api = await startApi(t);
  writeFileSync(path.join(api.inputDir, 'here.json'), JSON.stringify(GOOD_A));
  const res = await postJson(`${api.url}/process`, {
    version_pairs: [{ drawing_id: 'LATE-1', version_a_uri: 'here.json', version_b_uri: 'not-yet.json' }],
  });
  t.is(res.status, 202, res.text);
  t.like(await waitForJob(api.url, res.body.job_id), { completed: 0, failed: 1 });

  const health = await call(`${api.url}/health`);
  const anomaly = (health.body.anomalies as HealthAnomaly[]).find((a) => a.drawing_id === 'LATE-1');
  t.is(anomaly?.type, 'missing_upload');
  t.regex(anomaly?.details.message ?? '', /not-yet\.json/);
  t.deepEqual(
    deadLetters(api.dataDir).map((l) => [l.drawing_id, l.reason_code]),
    [['LATE-1', 'missing_upload']],
  );
  t.is((await call(`${api.url}/metrics`)).body.data_quality_issues, 1);
});

test('a gs:// reference on the embedded default is refused at once, like any reference outside the input store', async (t) => {
  const api = await startApi(t);
  const res = await postJson(`${api.url}/process`, {
    version_pairs: [{ drawing_id: 'GS-1', version_a_uri: 'gs://bucket/a.json', version_b_uri: 'gs://bucket/b.json' }],
  });
  t.is(res.status, 400, res.text);
  t.is(res.body.error.code, 'forbidden_path');
  t.regex(res.body.error.message, /version_pairs\[0\]: field "version_a_uri" is outside the input store/);
  t.deepEqual(deadLetters(api.dataDir), []);
});
