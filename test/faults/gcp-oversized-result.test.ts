/**
 * A 100,000-object pair with every object moved, through the real service on the GCP sinks'
 * local servers: its result (about 31 MB) is over BigQuery's 10 MB row limit. Before the failure
 * model it wedged every later write; now its row keeps the summary, an excerpt and a pointer, the
 * result object in OUTPUT_BUCKET holds it whole, and GET /changes returns it whole, from this
 * replica and from another one that never processed it.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { getJson, postJson, startService, tempDir, waitFor } from '../support/service-process.js';
import { startGcpFakes } from '../support/fault-gcp.js';

const OBJECTS = 100_000;

test('a 100,000-object all-moved pair through the GCP sinks is stored and returned whole by /changes, from any replica', async (t) => {
  const gcp = await startGcpFakes();
  t.teardown(() => gcp.close());
  const dirs = [tempDir('buildtrace-faults-huge-a-'), tempDir('buildtrace-faults-huge-b-')];
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const env = (dataDir: string, replica: string) => ({
    ...gcp.env,
    SOURCE: 'local',
    DATA_DIR: dataDir,
    CONCURRENCY: '2',
    REPLICA_ID: replica,
    MAX_BODY_BYTES: String(64 * 1024 * 1024),
    // Pages of 25,000 items: the whole result in four pages (each page re-reads the result object)
    CHANGES_PAGE_ITEMS: '25000',
    LOG_LEVEL: 'warn',
  });
  const service = await startService(env(dirs[0]!, 'huge-a'), { timeoutMs: 60_000 });
  t.teardown(() => void service.kill('SIGKILL'));

  // given a pair whose every object moved, and a small one behind it
  const a = Array.from({ length: OBJECTS }, (_, i) => ({ id: `O${i}`, type: 'door', x: i, y: 0, width: 1, height: 1 }));
  const b = a.map((o) => ({ ...o, x: o.x + 2 }));
  const small = { drawing_id: 'small', version_a: [a[0]], version_b: [b[0]] };
  const posted = await postJson(`${service.url}/process`, { version_pairs: [{ drawing_id: 'huge', version_a: a, version_b: b }, small] });
  t.is(posted.status, 202, JSON.stringify(posted.body));

  // when the job finishes
  const job = await waitFor(
    async () => {
      const status = (await getJson(`${service.url}/jobs/${posted.body.job_id}`)).body;
      return status.pending === 0 ? status : undefined;
    },
    180_000,
    'the job to finish',
  );

  // then both completed, nothing was refused or dead-lettered
  t.like(job, { tasks_created: 2, completed: 2, failed: 0 });
  // and the BigQuery row is bounded and points at the whole result
  const row = gcp.bigquery.table('buildtrace', 'change_results')!.rows.find((r) => r.json.drawing_id === 'huge')!.json;
  t.regex(String(row.result_object), /^gs:\/\/[^/]+\/results\/huge\/.+\.json$/);
  t.true(Buffer.byteLength(JSON.stringify(row)) < 1024 * 1024, 'the row stays far under the row limit');

  // and /changes returns it whole, from this replica: its first page, then the rest page by page
  const here = await wholeMoved(service.url);
    t.regex(here.summary, /^100000 object\(s\) moved/);
  t.is(here.moved.length, OBJECTS);
  t.like(here.moved[OBJECTS - 1], { id: `O${OBJECTS - 1}` });

  // and from another replica that never saw the pair
  const other = await startService(env(dirs[1]!, 'huge-b'), { timeoutMs: 60_000 });
  t.teardown(() => void other.kill('SIGKILL'));
  const there = await wholeMoved(other.url);
  t.is(there.moved.length, OBJECTS);
  t.deepEqual(there.moved, here.moved);
  t.deepEqual(await other.kill('SIGTERM'), { code: 0, signal: null });
  t.deepEqual(await service.kill('SIGTERM'), { code: 0, signal: null }, service.output().slice(-3000));
});

/** GET /changes (bounded: a first page per kind), then every `next` page of `moved` until the end. */
async function wholeMoved(url: string): Promise<{ summary: string; moved: { id: string }[] }> {
  const first = await getJson(`${url}/changes?drawing_id=huge`);
  if (first.status !== 200) throw new Error(`GET /changes answered ${first.status}`);
  const moved: { id: string }[] = [...first.body.moved];
  if (first.body.counts.moved !== OBJECTS) throw new Error(`counts.moved is ${first.body.counts.moved}`);
  for (let next: string | null = first.body.next?.moved ?? null; next !== null; ) {
    const page = await getJson(`${url}${next}`);
    if (page.status !== 200) throw new Error(`GET ${next} answered ${page.status}`);
    moved.push(...page.body.items);
    next = page.body.next;
  }
  return { summary: first.body.summary, moved };
}
