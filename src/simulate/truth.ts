/**
 * The ground truth of a simulator run: what was sent (pairs, malformed by kind, half pairs,
 * the spike) and what the service should therefore count, so fault tests can compare
 * `/metrics` with it instead of trusting the service to grade itself.
 */
import type { ChangeCounts } from '../domain/types.js';
import { MALFORMED_KINDS, type MalformedKind } from './malformed.js';
import type { SimItem } from './scenario.js';
import type { Fate, TargetReport } from './target.js';
import { formatBytes } from './progress.js';

export interface SpikeTruth {
  readonly drawing_id: string;
  readonly index: number;
  readonly changes: number;
  /** Mean changes of the other good pairs of the run (null when there were none). */
  readonly usual_mean: number | null;
}

/** The `--truth FILE` document (snake_case, like the API it is compared with). */
export interface TruthFile {
  readonly seed: number;
  readonly target: string;
  readonly options: Readonly<Record<string, unknown>>;
  readonly pairs: number;
  readonly good_pairs: number;
  readonly malformed: { readonly total: number; readonly by_kind: Readonly<Record<MalformedKind, number>> };
  readonly half_pairs: number;
  /** Totals over the good pairs, by our own diff: what `/metrics` hourly_stats should add up to. */
  /** The simulator never regenerates ids, so nothing is renamed: the truth file keeps the four kinds. */
  readonly changes: Omit<ChangeCounts, 'renamed'>;
  readonly spike: SpikeTruth | null;
  /** What the service should make of the pairs through this target. */
  readonly expected: {
    readonly results: number;
    readonly malformed_failures: number;
    readonly refused: number;
    readonly missing_uploads: number;
  };
  readonly sent: {
    readonly written: number;
    readonly refused: number;
    readonly unexpectedly_accepted: number;
    readonly bytes: number;
    readonly seconds: number;
    readonly pairs_per_second: number;
    readonly jobs?: readonly string[];
    readonly storage_paths?: readonly string[];
    readonly jobs_done?: { readonly completed: number; readonly failed: number };
  };
}

/**
 * Counts items as they are generated.
 *
 * @example
 * const tally = new Tally();
 * for (const item of items) tally.add(item, target.fate(item));
 */
export class Tally {
  pairs = 0;
  good = 0;
  half = 0;
  readonly malformedByKind = Object.fromEntries(MALFORMED_KINDS.map((k) => [k, 0])) as Record<MalformedKind, number>;
  readonly changes = { added: 0, removed: 0, moved: 0, modified: 0 };
  readonly fates: Record<Fate, number> = { result: 0, malformed: 0, refused: 0, missing_upload: 0 };
  private spikeItem: { drawingId: string; index: number; changes: number } | null = null;

  add(item: SimItem, fate: Fate): void {
    this.pairs += 1;
    this.fates[fate] += 1;
    if (item.kind === 'half') {
      this.half += 1;
    } else if (item.kind === 'malformed') {
      this.malformedByKind[item.malformed.kind] += 1;
    } else {
      this.good += 1;
      const c = item.counts;
      this.changes.added += c.added;
      this.changes.removed += c.removed;
      this.changes.moved += c.moved;
      this.changes.modified += c.modified;
      if (item.spike) this.spikeItem = { drawingId: item.drawingId, index: item.index, changes: total(c) };
    }
  }

  get malformed(): number {
    return MALFORMED_KINDS.reduce((n, k) => n + this.malformedByKind[k], 0);
  }

  spike(): SpikeTruth | null {
    if (!this.spikeItem) return null;
    const others = this.good - 1;
    const otherChanges = total(this.changes) - this.spikeItem.changes;
    return {
      drawing_id: this.spikeItem.drawingId,
      index: this.spikeItem.index,
      changes: this.spikeItem.changes,
      usual_mean: others > 0 ? otherChanges / others : null,
    };
  }

  /** The truth document once the target has reported. */
  truth(meta: { seed: number; target: string; options: Record<string, unknown>; report: TargetReport; seconds: number }): TruthFile {
    const { report, seconds } = meta;
    return {
      seed: meta.seed,
      target: meta.target,
      options: meta.options,
      pairs: this.pairs,
      good_pairs: this.good,
      malformed: { total: this.malformed, by_kind: { ...this.malformedByKind } },
      half_pairs: this.half,
      changes: { ...this.changes },
      spike: this.spike(),
      expected: {
        results: this.fates.result,
        malformed_failures: this.fates.malformed,
        refused: this.fates.refused,
        missing_uploads: this.fates.missing_upload,
      },
      sent: {
        written: report.written,
        refused: report.refused,
        unexpectedly_accepted: report.unexpectedlyAccepted,
        bytes: report.bytes,
        seconds,
        pairs_per_second: seconds > 0 ? (report.written + report.refused) / seconds : 0,
        ...(report.jobs ? { jobs: report.jobs } : {}),
        ...(report.storagePaths ? { storage_paths: report.storagePaths } : {}),
        ...(report.jobsDone ? { jobs_done: report.jobsDone } : {}),
      },
    };
  }
}

function total(c: Omit<ChangeCounts, 'renamed'>): number {
  return c.added + c.removed + c.moved + c.modified;
}

/**
 * The final summary a person reads.
 *
 * @example
 * io.out(formatSummary(truth, report.description));
 */
export function formatSummary(truth: TruthFile, description: string): string {
  const { sent, expected, changes } = truth;
  const lines = [
    `simulate: ${truth.pairs} pairs to ${description} in ${sent.seconds.toFixed(1)} s ` +
      `(${sent.pairs_per_second.toFixed(1)} pairs/s, ${formatBytes(sent.bytes)}), seed ${truth.seed}`,
    `  good pairs   ${truth.good_pairs}: added ${changes.added}, removed ${changes.removed}, moved ${changes.moved}, modified ${changes.modified} (ground truth, our diff)`,
    `  malformed    ${truth.malformed.total}` +
      (truth.malformed.total > 0
        ? `: ${MALFORMED_KINDS.map((k) => `${k} ${truth.malformed.by_kind[k]}`).join(', ')}`
        : ''),
    `  half pairs   ${truth.half_pairs}`,
  ];
  if (truth.spike) {
    const ratio = truth.spike.usual_mean ? ` (${(truth.spike.changes / truth.spike.usual_mean).toFixed(1)}× the mean of ${truth.spike.usual_mean.toFixed(2)})` : '';
    lines.push(`  spike        ${truth.spike.drawing_id}, pair ${truth.spike.index}: ${truth.spike.changes} changes${ratio}`);
  }
  const fates = [`${expected.results} results`, `${expected.malformed_failures} malformed failures`];
  if (expected.refused > 0) fates.push(`${expected.refused} refused with 400`);
  if (expected.missing_uploads > 0) fates.push(`${expected.missing_uploads} missing uploads`);
  lines.push(`  expected     ${fates.join(', ')}`);
  if (sent.refused > 0 || expected.refused > 0) lines.push(`  refused      ${sent.refused} answered 400 as expected`);
  if (sent.unexpectedly_accepted > 0) lines.push(`  WARNING      ${sent.unexpectedly_accepted} pair(s) the API should have refused were accepted`);
  if (sent.jobs) lines.push(`  jobs         ${sent.jobs.length}${sent.jobs.length > 0 ? ` (first ${sent.jobs[0]})` : ''}`);
  if (sent.jobs_done) lines.push(`  jobs done    ${sent.jobs_done.completed} completed, ${sent.jobs_done.failed} failed`);
  if (sent.storage_paths && sent.storage_paths.length > 0) {
    const paths = sent.storage_paths;
    const shown = paths.length <= 3 ? paths.join(', ') : `${paths[0]}, ${paths[1]}, …, ${paths.at(-1)}`;
    lines.push(`  storage_path ${paths.length === 1 ? paths[0] : `${paths.length} prefixes, post them in order: ${shown}`}`);
  }
  return `${lines.join('\n')}\n`;
}
