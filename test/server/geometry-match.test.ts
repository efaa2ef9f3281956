/**
 * End to end through `POST /process` on the embedded service with MATCH_FALLBACK=auto: a
 * re-exported drawing whose ids were all regenerated is read as renames and two moves, counted as
 * renamed in `/metrics`, served with its new fields by `/changes`, and raises no spike; the same
 * history with `"match": "id"` on its tasks does raise one (the seed's reading).
 */
import test from 'ava';
import { call, postJson, startApi, waitForJob } from '../support/api-fixture.js';
import { waitFor } from '../support/in-process.js';
import { historyPairs, REEXPORT_MOVED, REEXPORT_OBJECTS, reexportPair } from '../support/reexport-scenario.js';

async function submit(url: string, drawingId: string, a: unknown, b: unknown, match?: string): Promise<void> {
  const res = await postJson(`${url}/process`, { version_pairs: [{ drawing_id: drawingId, version_a: a, version_b: b, ...(match ? { match } : {}) }] });
  if (res.status !== 202) throw new Error(`POST /process answered ${res.status}: ${res.text}`);
  const job = await waitForJob(url, res.body.job_id);
  if (job.completed !== 1) throw new Error(`job ${res.body.job_id} did not complete: ${JSON.stringify(job)}`);
}

test('MATCH_FALLBACK=auto: a re-exported drawing raises no spike; with "match": "id" the same history does', async (t) => {
  const api = await startApi(t, { MATCH_FALLBACK: 'auto' });
  // given two drawings with the same ordinary history, one pair at a time so the history is in order
  for (const [a, b] of historyPairs()) {
    await submit(api.url, 'reexported', a, b);
    await submit(api.url, 'by-id', a, b, 'id');
  }
  // when each comes back re-exported with every id regenerated
  const [a, b] = reexportPair();
  await submit(api.url, 'reexported', a, b);
  await submit(api.url, 'by-id', a, b, 'id');

  // then geometry read the re-export as renames and two moves, with the previous ids
  const latest = (await call(`${api.url}/changes?drawing_id=reexported`)).body;
  t.is(latest.renamed.length, REEXPORT_OBJECTS - REEXPORT_MOVED);
  t.deepEqual(latest.ambiguous, []);
  t.deepEqual([latest.added, latest.removed, latest.modified], [[], [], []]);
  t.deepEqual(latest.moved.map((m: any) => [m.previous_id, m.matched_by, m.direction, m.distance]).sort(), [
    ['E0', 'geometry', 'north', 4],
    ['E1', 'geometry', 'north', 4],
  ]);
  t.regex(latest.summary, /^2 object\(s\) moved: R-\d+ \(was E[01]\) moved 4\.0 units north, R-\d+ \(was E[01]\) moved 4\.0 units north\. 200 object\(s\) re-identified by geometry \(198 only renamed\)\.$/);
  // the ordinary revisions (few ids absent) were read by id alone: the seed's shape
  const history = (await call(`${api.url}/changes?drawing_id=reexported&limit=10`)).body;
  t.is(history.length, 5);
  t.false('renamed' in history[1], 'auto did not run geometry where ids matched');

  const byId = (await call(`${api.url}/changes?drawing_id=by-id`)).body;
  t.is(byId.added.length, REEXPORT_OBJECTS);
  t.false('renamed' in byId);

  // and only the drawing read by id alone raised a spike (anomalies are written just after the
  // results: wait for the control's, then look at them all)
  const spikesNow = async () =>
    ((await call(`${api.url}/health`)).body.anomalies as any[]).filter((x) => x.type === 'spike_detected').map((x) => x.drawing_id as string);
  const spikes = await waitFor(async () => ((await spikesNow()).includes('by-id') ? spikesNow() : undefined), 30_000, 'the control drawing\'s spike');
  t.deepEqual(spikes, ['by-id']);

  // and /metrics counts the renames apart from the changes
  const metrics = (await call(`${api.url}/metrics`)).body;
  const hours = Object.values(metrics.hourly_stats) as any[];
  t.is(hours.reduce((n, h) => n + h.renamed, 0), REEXPORT_OBJECTS - REEXPORT_MOVED);
  t.is(hours.reduce((n, h) => n + h.pairs, 0), 10);
});
