/**
 * The `GET /health` answer from stored anomalies: degraded while something went wrong recently,
 * with one readable line per kind of problem instead of one per anomaly.
 */
import { ANOMALY_TYPES, type Anomaly, type AnomalyType, type Severity } from '../../src/domain/types.js';

/** One anomaly as `/health` shows it (design.md, HTTP API). */
export interface HealthAnomaly {
  readonly drawing_id: string | null;
  readonly type: AnomalyType;
  readonly severity: Severity;
  readonly details: Readonly<Record<string, unknown>>;
  readonly timestamp: string;
  /** How many anomalies this entry stands for, when it folds several (one request's malformed inputs). */
  readonly count?: number;
}

export interface HealthReport {
  readonly status: 'healthy' | 'degraded';
  readonly warnings: string[];
  readonly anomalies: HealthAnomaly[];
}

const NOUNS: Partial<Record<string, [string, string]>> = {
  spike_detected: ['change spike', 'change spikes'],
  missing_upload: ['missing upload', 'missing uploads'],
  delayed_upload: ['delayed upload or growing backlog', 'delayed uploads or growing backlogs'],
  processing_error: ['processing error', 'processing errors'],
  malformed_input: ['malformed input', 'malformed inputs'],
};
/** Drawings named in one warning line before "and N more". */
const NAMED_DRAWINGS = 3;

const timeOf = (anomaly: Anomaly): number => (anomaly.timestamp instanceof Date ? anomaly.timestamp.getTime() : Number.NaN);

/**
 * The anomalies younger than `freshnessMs` at `now` (one stamped ahead of `now`, by clock skew,
 * counts as fresh), one per id, newest first.
 *
 * @example
 * freshAnomalies(await store.anomalies(since, 100), new Date(), config.anomalyFreshMinutes * 60_000);
 */
export function freshAnomalies(anomalies: readonly Anomaly[], now: Date | number, freshnessMs: number): Anomaly[] {
  const nowMs = typeof now === 'number' ? now : now.getTime();
  const byId = new Map<string, Anomaly>();
  for (const anomaly of anomalies) {
    const at = timeOf(anomaly);
    if (!Number.isFinite(at) || nowMs - at >= freshnessMs) continue;
    const seen = byId.get(anomaly.id);
    if (!seen || at > timeOf(seen)) byId.set(anomaly.id, anomaly);
  }
  return [...byId.values()].sort((a, b) => timeOf(b) - timeOf(a));
}

function describeWindow(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  return `${hours} hours`;
}

function warningFor(type: AnomalyType, anomalies: readonly Anomaly[], window: string): string {
  const [one, many] = NOUNS[type] ?? [`${type} anomaly`, `${type} anomalies`];
  const subjects: string[] = [];
  for (const a of anomalies) {
    const subject = a.drawingId ?? 'system-wide';
    if (!subjects.includes(subject)) subjects.push(subject);
  }
  const named = subjects.slice(0, NAMED_DRAWINGS).join(', ');
  const more = subjects.length > NAMED_DRAWINGS ? ` and ${subjects.length - NAMED_DRAWINGS} more` : '';
  const n = anomalies.length;
  return `${n} ${n === 1 ? one : many} in the last ${window} (${named}${more})`;
}

/**
 * Builds the `/health` body: `degraded` while any anomaly is fresher than `freshnessMs`, one
 * warning per anomaly type with its count, and the fresh anomalies themselves (newest first, at
 * most `limit`). Older anomalies stay in the store and in the metrics; they no longer degrade.
 *
 * @example
 * ctx.body = buildHealth({ anomalies: await store.anomalies(since, 500), now: new Date(), freshnessMs: 60 * 60_000 });
 */
export function buildHealth(input: {
  readonly anomalies: readonly Anomaly[];
  readonly now: Date | number;
  readonly freshnessMs: number;
  readonly limit?: number;
}): HealthReport {
  const fresh = freshAnomalies(input.anomalies, input.now, input.freshnessMs);
  const window = describeWindow(input.freshnessMs);
  // Known types in a fixed order; a type a newer replica stored still gets a (plain) line.
  const types = [...ANOMALY_TYPES, ...new Set(fresh.map((a) => a.type).filter((t) => !ANOMALY_TYPES.includes(t)))];
  const warnings = types.flatMap((type) => {
    const ofType = fresh.filter((a) => a.type === type);
    return ofType.length > 0 ? [warningFor(type, ofType, window)] : [];
  });
  return {
    status: fresh.length > 0 ? 'degraded' : 'healthy',
    warnings,
    anomalies: listed(fresh, Math.max(0, input.limit ?? 100)),
  };
}

const SEVERITY_RANK: Record<Severity, number> = { high: 0, medium: 1, low: 2 };

/**
 * The anomalies `/health` lists: one request's malformed inputs folded into one entry with a
 * count, then the most severe first (newest first within a severity) up to `limit`, shown newest
 * first. A flood of medium ones never pushes a high-severity one out of the list.
 */
function listed(fresh: readonly Anomaly[], limit: number): HealthAnomaly[] {
  const entries: Array<{ anomaly: Anomaly; count: number }> = [];
  const byJob = new Map<string, { anomaly: Anomaly; count: number }>();
  for (const anomaly of fresh) {
    const job = anomaly.type === 'malformed_input' ? anomaly.details.job_id : undefined;
    if (typeof job !== 'string') {
      entries.push({ anomaly, count: 1 });
      continue;
    }
    const folded = byJob.get(job);
    if (folded) folded.count += 1;
    else {
      const entry = { anomaly, count: 1 };
      byJob.set(job, entry);
      entries.push(entry);
    }
  }
  const kept = [...entries]
    .sort((a, b) => (SEVERITY_RANK[a.anomaly.severity] ?? 3) - (SEVERITY_RANK[b.anomaly.severity] ?? 3) || timeOf(b.anomaly) - timeOf(a.anomaly))
    .slice(0, limit)
    .sort((a, b) => timeOf(b.anomaly) - timeOf(a.anomaly));
  return kept.map(({ anomaly: a, count }) => ({
    drawing_id: a.drawingId,
    type: a.type,
    severity: a.severity,
    details: a.details,
    timestamp: new Date(timeOf(a)).toISOString(),
    ...(count > 1 ? { count } : {}),
  }));
}
