/**
 * Fault tests grade the service against the simulator, never against itself: these helpers
 * regenerate a run's pairs (the simulator is seeded, so the same options give the same pairs)
 * and compare what a store holds with them, pair by pair, and `/metrics` with the run's totals.
 */
import type Database from 'better-sqlite3';
import type { ChangeCounts } from '../../src/domain/types.js';
import { scenarioItems, type ScenarioOptions } from '../../src/simulate/scenario.js';
import { Tally, type TruthFile } from '../../src/simulate/truth.js';

/** The counts `/metrics` should add up to over `hourly_stats`. */
export interface ExpectedTotals extends ChangeCounts {
  readonly pairs: number;
}

/** What `/metrics` must show for a run whose good pairs all produced a result. */
export function expectedTotals(truth: TruthFile): ExpectedTotals {
  return { pairs: truth.expected.results, ...truth.changes };
}

/**
 * The simulator's ground truth for a run delivered as inline tasks (a queue or a topic, not the
 * API): good pairs give results, malformed pairs and half pairs are dead-lettered as malformed.
 *
 * @example
 * t.deepEqual(hourlyTotals(metrics), { ...inlineTruth(scenario).totals, failed: 0, malformed: 0 });
 */
export function inlineTruth(scenario: ScenarioOptions): { totals: ExpectedTotals; malformed: number } {
  const tally = new Tally();
  for (const item of scenarioItems(scenario)) tally.add(item, item.kind === 'good' ? 'result' : 'malformed');
  return { totals: { pairs: tally.fates.result, ...tally.changes }, malformed: tally.fates.malformed };
}

/** Sums `hourly_stats` of a `/metrics` body, for the keys of ExpectedTotals plus failed and malformed. */
export function hourlyTotals(metrics: { hourly_stats: Record<string, Record<string, number>> }): ExpectedTotals & {
  failed: number;
  malformed: number;
} {
  const sum = { pairs: 0, added: 0, removed: 0, moved: 0, modified: 0, failed: 0, malformed: 0 };
  for (const hour of Object.values(metrics.hourly_stats)) {
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += hour[key] ?? 0;
  }
  return sum;
}

/** The good pairs of a run by drawing id, with the counts the simulator's diff found. */
export function goodPairs(scenario: ScenarioOptions): Map<string, ChangeCounts> {
  const pairs = new Map<string, ChangeCounts>();
  for (const item of scenarioItems(scenario)) {
    if (item.kind !== 'good') continue;
    if (pairs.has(item.drawingId)) throw new RangeError(`drawing ${item.drawingId} has several revisions; key pairs by task instead`);
    pairs.set(item.drawingId, item.counts);
  }
  return pairs;
}

/** One stored result as the fault tests compare it. */
export interface StoredResult {
  readonly taskKey: string;
  readonly drawingId: string;
  readonly counts: ChangeCounts;
}

export interface ResultAudit {
  /** Result rows stored. */
  readonly rows: number;
  /** Distinct drawings among them. */
  readonly drawings: number;
  /** Drawings with more than one result, with how many. */
  readonly duplicated: readonly { drawingId: string; results: number }[];
  /** Good pairs with no result. */
  readonly missing: readonly string[];
  /** Results for drawings the run never sent as good pairs. */
  readonly unexpected: readonly string[];
  /** Results whose counts differ from the simulator's. */
  readonly wrong: readonly { drawingId: string; stored: ChangeCounts; expected: ChangeCounts }[];
}

/**
 * Compares results (one per drawing expected) with the run's good pairs.
 *
 * @example
 * const audit = auditResults(localResults(db), goodPairs(scenario));
 * t.deepEqual(audit.missing, []);
 */
export function auditResults(stored: Iterable<StoredResult>, expected: ReadonlyMap<string, ChangeCounts>): ResultAudit {
  const byDrawing = new Map<string, StoredResult[]>();
  let rows = 0;
  for (const r of stored) {
    rows += 1;
    const list = byDrawing.get(r.drawingId) ?? [];
    list.push(r);
    byDrawing.set(r.drawingId, list);
  }
  const duplicated: { drawingId: string; results: number }[] = [];
  const unexpected: string[] = [];
  const wrong: { drawingId: string; stored: ChangeCounts; expected: ChangeCounts }[] = [];
  for (const [drawingId, list] of byDrawing) {
    if (list.length > 1) duplicated.push({ drawingId, results: list.length });
    const want = expected.get(drawingId);
    if (!want) {
      unexpected.push(drawingId);
      continue;
    }
    for (const r of list) if (!sameCounts(r.counts, want)) wrong.push({ drawingId, stored: r.counts, expected: want });
  }
  const missing = [...expected.keys()].filter((id) => !byDrawing.has(id));
  return { rows, drawings: byDrawing.size, duplicated, missing, unexpected, wrong };
}

/** A one-line account of an audit for t.log. */
export function describeAudit(audit: ResultAudit): string {
  return (
    `${audit.rows} result rows for ${audit.drawings} drawings; duplicated ${audit.duplicated.length}, ` +
    `missing ${audit.missing.length}, unexpected ${audit.unexpected.length}, wrong counts ${audit.wrong.length}`
  );
}

/** Every result in the embedded store (`<DATA_DIR>/buildtrace.db`), opened read-only by the caller. */
export function localResults(db: Database.Database): StoredResult[] {
  const rows = db
    .prepare(
      `SELECT task_key, drawing_id, json_array_length(added) AS added, json_array_length(removed) AS removed,
              json_array_length(moved) AS moved, json_array_length(modified) AS modified
       FROM change_results`,
    )
    .all() as { task_key: string; drawing_id: string; added: number; removed: number; moved: number; modified: number }[];
  return rows.map((r) => ({
    taskKey: r.task_key,
    drawingId: r.drawing_id,
    counts: { added: r.added, removed: r.removed, moved: r.moved, modified: r.modified },
  }));
}

function sameCounts(a: ChangeCounts, b: ChangeCounts): boolean {
  return a.added === b.added && a.removed === b.removed && a.moved === b.moved && a.modified === b.modified;
}
