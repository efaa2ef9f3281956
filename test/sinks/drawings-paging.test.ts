/**
 * `GET /drawings` over many drawings, from both stores: 2,500 results of 1,000 drawings over 60
 * days, walked page by page, come out in order with no drawing repeated or skipped, also when a
 * drawing is updated between pages; the embedded store answers each page from its index of
 * latest results (the query plan says so), BigQuery with a scan bounded to recent partitions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import { silentLogger } from '../../src/log.js';
import { resultMetricRow } from '../../sinks/bigquery/encode.js';
import { BigQueryWriter } from '../../sinks/bigquery/sink.js';
import { BigQueryStore, DRAWINGS_WINDOWS_DAYS } from '../../sinks/bigquery/store.js';
import { DATABASE_FILE, openLocalStore } from '../../sinks/local-store/index.js';
import { MIGRATIONS } from '../../src/infra/sqlite/schema.js';
import { DRAWINGS_FIRST_PAGE_SQL, DRAWINGS_NEXT_PAGE_SQL } from '../../sinks/local-store/sink.js';
import type { DrawingCursor, DrawingSummary, ResultRecord, ResultStore } from '../../src/domain/sink.js';
import { startFakeBigQuery, type FakeBigQuery } from '../support/fake-bigquery.js';
import { result } from '../support/gcp-fixtures.js';

const DRAWINGS = 1000;
const RESULTS = 2500;
const START = Date.UTC(2026, 9, 1);
const SPAN_MS = 60 * 86_400_000;
const NOW = START + SPAN_MS + 60_000;

/** Result i: drawing i mod 1,000; two results share each instant, so ties by drawing id occur. */
function results(): ResultRecord[] {
  return Array.from({ length: RESULTS }, (_, i) =>
    result(`task-${i}`, {
      drawingId: `D${String(i % DRAWINGS).padStart(4, '0')}`,
      jobId: `job-${i}`,
      createdAt: new Date(START + Math.floor(i / 2) * Math.floor(SPAN_MS / (RESULTS / 2))),
      counts: { added: i % 5, removed: i % 3, moved: i % 7, modified: i % 2 },
    }),
  );
}

/** What the pages must add up to: each drawing at its latest result, newest first, ties by id descending. */
function expected(all: readonly ResultRecord[]): string[] {
  const latest = new Map<string, ResultRecord>();
  for (const r of all) {
    const seen = latest.get(r.drawingId);
    if (!seen || r.createdAt >= seen.createdAt) latest.set(r.drawingId, r);
  }
  return [...latest.values()]
    .sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime() || (x.drawingId < y.drawingId ? 1 : -1))
    .map((r) => r.drawingId);
}

const cursorOf = (d: DrawingSummary): DrawingCursor => ({ latestAt: new Date(d.latest_result_at), drawingId: d.drawing_id });

/** Pages as the route asks for them (one more than shown, to know whether another follows). */
async function walk(store: ResultStore, limit: number, between?: (page: number) => Promise<void>): Promise<DrawingSummary[][]> {
  const pages: DrawingSummary[][] = [];
  let after: DrawingCursor | null = null;
  for (;;) {
    const rows = await store.drawings(limit + 1, after);
    const page = rows.slice(0, limit);
    pages.push(page);
    if (rows.length <= limit) return pages;
    after = cursorOf(page[page.length - 1]!);
    await between?.(pages.length);
  }
}

interface Opened {
  readonly store: ResultStore;
  readonly write: (records: readonly ResultRecord[]) => Promise<void>;
  readonly fake?: FakeBigQuery;
}

async function local(t: ExecutionContext, records: readonly ResultRecord[]): Promise<Opened> {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-pages-'));
  const store = openLocalStore({ dataDir: dir });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const write = async (rs: readonly ResultRecord[]) => void (await store.writeBatch({ results: rs, failures: [], anomalies: [] }));
  await write(records);
  return { store, write };
}

async function bigQuery(t: ExecutionContext, records: readonly ResultRecord[]): Promise<Opened> {
  const fake = await startFakeBigQuery();
  t.teardown(() => fake.close());
  const client = fake.client();
  const writer = new BigQueryWriter({ client, datasetId: 'buildtrace', logger: silentLogger });
  await writer.ensureSchema();
  const write = async (rs: readonly ResultRecord[]) => void (await writer.insert({ processing_metrics: rs.map(resultMetricRow) }));
  await write(records);
  return { store: new BigQueryStore({ client, writer, projectId: fake.projectId, datasetId: 'buildtrace', clock: () => NOW }), write, fake };
}

for (const [name, open] of [['local store', local], ['BigQuery', bigQuery]] as const) {
  test(`${name}: 1,000 drawings of 2,500 results, paged by 100: in order, none repeated, none skipped`, async (t) => {
    const all = results();
    const { store } = await open(t, all);
    const pages = await walk(store, 100);
    t.is(pages.length, 10);
    t.deepEqual(pages.flat().map((d) => d.drawing_id), expected(all));
    // Each at its latest result's job and counts.
    const d0 = pages.flat().find((d) => d.drawing_id === 'D0000')!;
    const last = all.filter((r) => r.drawingId === 'D0000').at(-1)!;
    t.is(d0.job_id, last.jobId);
    t.deepEqual(d0.counts, last.counts);
  });

  test(`${name}: a drawing updated between pages is not listed again; the others still come once`, async (t) => {
    const all = results();
    const { store, write } = await open(t, all);
    const order = expected(all);
    const seenEarly = order[10]!;
    const pages = await walk(store, 100, async (page) => {
      // after the first page: a drawing already shown gets a newer result
      if (page === 1) await write([result('late', { drawingId: seenEarly, createdAt: new Date(NOW - 1000) })]);
    });
    const ids = pages.flat().map((d) => d.drawing_id);
    t.is(new Set(ids).size, ids.length);
    t.deepEqual(ids, order);
  });
}

test('local store: each page is a walk down the index of latest results, never a scan of the results', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  openLocalStore({ dataDir: dir }).close();
  const db = new Database(path.join(dir, DATABASE_FILE), { readonly: true });
  t.teardown(() => db.close());
  for (const [sql, params] of [
    [DRAWINGS_FIRST_PAGE_SQL, { limit: 21 }],
    [DRAWINGS_NEXT_PAGE_SQL, { limit: 21, at: '2026-11-29T10:00:00.000Z', id: 'D1' }],
  ] as const) {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((r) => r.detail).join('; ');
    t.regex(plan, /USING (COVERING )?INDEX drawing_latest_newest/, plan);
    t.notRegex(plan, /processing_metrics|change_results|TEMP B-TREE/, plan);
  }
});

test('local store: a file written before the latest-results index gets it filled from the stored results', async (t) => {
  // given a version-3 file holding results
  const dir = mkdtempSync(path.join(tmpdir(), 'buildtrace-v3-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const raw = new Database(path.join(dir, DATABASE_FILE));
  for (const m of MIGRATIONS.slice(0, 3)) raw.exec(m);
  raw.pragma('user_version = 3');
  const insert = raw.prepare(
    `INSERT INTO processing_metrics (task_key, drawing_id, job_id, status, added_count, created_at, replica_id) VALUES (?, ?, ?, ?, ?, ?, 'r')`,
  );
  insert.run('t1', 'D1', 'j1', 'completed', 1, '2026-11-29T10:00:00.000Z');
  insert.run('t2', 'D1', 'j2', 'completed', 2, '2026-11-29T11:00:00.000Z');
  insert.run('t3', 'D2', 'j3', 'completed', 3, '2026-11-29T10:30:00.000Z');
  insert.run('t4', 'D3', 'j4', 'failed', 0, '2026-11-29T12:00:00.000Z');
  raw.close();
  // when this build opens it, then the drawings are listed at their latest results
  const store = openLocalStore({ dataDir: dir });
  t.teardown(() => store.close());
  const list = await store.drawings(10, null);
  t.deepEqual(list.map((d) => [d.drawing_id, d.job_id, d.counts.added]), [['D1', 'j2', 2], ['D2', 'j3', 3]]);
});

test('BigQuery: a page filled within the newest window scans only the partitions from that window on', async (t) => {
  const all = results();
  const { store, fake } = await bigQuery(t, all);
  const before = fake!.queries.length;
  const first = await store.drawings(21, null);
  t.is(first.length, 21);
  const asked = fake!.queries.slice(before);
  // 2,500 results over 60 days: 21 drawings fill the first day's window, so one query did.
  t.is(asked.length, 1);
  t.regex(asked[0]!.sql, /created_at >= @since/);
  const since = asked[0]!.parameters.find((p) => p.name === 'since')?.parameterValue?.value;
  const sinceIso = new Date(NOW - DRAWINGS_WINDOWS_DAYS[0] * 86_400_000).toISOString();
  t.is(String(since).replace('T', ' ').slice(0, 19), sinceIso.replace('T', ' ').slice(0, 19));

  // The last page comes back short in every window, so it is finally asked of the whole table.
  const pages = await walk(store, 100);
  t.is(pages.at(-1)!.length, 100);
  const lastAsked = fake!.queries.slice(-1)[0]!;
  t.notRegex(lastAsked.sql, /@since/);
});
