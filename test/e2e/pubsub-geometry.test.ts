/**
 * The stream path of the real service process on the official Pub/Sub emulator with
 * MATCH_FALLBACK=auto: tasks published with the real client, one revision after another; a
 * re-export with regenerated ids raises no spike and is stored as renames and moves, while the
 * same history published with `"match": "id"` (the field survives the Pub/Sub encoding) does.
 */
import anyTest from 'ava';
import { getJson, startService, waitFor } from '../support/service-process.js';
import { freshTopologyAndDataDir, publishBodies, serviceEnv, waitForPairs, withEmulator } from '../support/pubsub-e2e.js';
import { historyPairs, REEXPORT_MOVED, REEXPORT_OBJECTS, reexportPair } from '../support/reexport-scenario.js';

const test = withEmulator(anyTest);

test.serial('MATCH_FALLBACK=auto over Pub/Sub: the re-export is renames and moves and raises no spike', async (t) => {
  const { names, dataDir } = await freshTopologyAndDataDir(t, 'buildtrace-pubsub-geometry-');
  const service = await startService(serviceEnv(t.context.emulator, names, dataDir, { MATCH_FALLBACK: 'auto' }), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // given the ordinary history of two drawings, published revision by revision
  const body = (drawingId: string, a: unknown, b: unknown, match?: string) => ({ drawing_id: drawingId, version_a: a, version_b: b, ...(match ? { match } : {}) });
  let pairs = 0;
  for (const [a, b] of historyPairs()) {
    await publishBodies(t.context.pubsub, names.topic, [body('reexported', a, b), body('by-id', a, b, 'id')]);
    pairs += 2;
    await waitForPairs(service.url, pairs, 60_000);
  }
  // when both come back re-exported with every id regenerated
  const [a, b] = reexportPair();
  await publishBodies(t.context.pubsub, names.topic, [body('reexported', a, b), body('by-id', a, b, 'id')]);
  const metrics = await waitForPairs(service.url, pairs + 2, 60_000);

  // then only the drawing read by id alone spiked (anomalies are written just after the results:
  // wait for the control's, then look at them all)
  const spikesNow = async () =>
    ((await getJson(`${service.url}/health`)).body.anomalies as any[]).filter((x) => x.type === 'spike_detected').map((x) => x.drawing_id as string);
  const spikes = await waitFor(async () => ((await spikesNow()).includes('by-id') ? spikesNow() : undefined), 30_000, 'the control drawing\'s spike');
  t.deepEqual(spikes, ['by-id']);
  // and the re-export is stored as renames and two moves with their previous ids
  const latest = (await getJson(`${service.url}/changes?drawing_id=reexported`)).body;
  t.is(latest.renamed.length, REEXPORT_OBJECTS - REEXPORT_MOVED);
  t.deepEqual(latest.moved.map((m: any) => m.previous_id).sort(), ['E0', 'E1']);
  t.deepEqual([latest.added.length, latest.removed.length], [0, 0]);
  const byId = (await getJson(`${service.url}/changes?drawing_id=by-id`)).body;
  t.deepEqual([byId.added.length, byId.removed.length, 'renamed' in byId], [REEXPORT_OBJECTS, REEXPORT_OBJECTS, false]);
  const renamed = Object.values(metrics.hourly_stats as Record<string, { renamed: number }>).reduce((n, h) => n + h.renamed, 0);
  t.is(renamed, REEXPORT_OBJECTS - REEXPORT_MOVED);
});
