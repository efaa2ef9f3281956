/**
 * Where to SIGKILL a service during a fault run, drawn from a seeded PRNG so a failing run can be
 * replayed: some kills land mid-stream once a random share of the work is done (plus a random
 * few hundred ms, so they fall inside a batch rather than between polls), one lands during
 * start-up, before the process is ready.
 */
import { createRandom } from '../../src/simulate/generator.js';
import type { ServiceProcess } from './service-process.js';

export type Kill =
  /** Once at least `fraction` of the pairs are done, wait `delayMs`, then SIGKILL. */
  | { readonly when: 'progress'; readonly fraction: number; readonly delayMs: number }
  /** `delayMs` after spawning the process, ready or not, SIGKILL. */
  | { readonly when: 'startup'; readonly delayMs: number };

/**
 * `kills` kills: the second one during start-up, the others at increasing random fractions of
 * the run between 5 % and `lastFraction`.
 *
 * @example
 * killPlan(20261129, 4); // [{progress 0.14 +120ms}, {startup +910ms}, {progress 0.41 +40ms}, {progress 0.66 +200ms}]
 */
export function killPlan(seed: number, kills: number, lastFraction = 0.8): Kill[] {
  if (!Number.isInteger(kills) || kills < 1) throw new RangeError(`Expected kills to be a whole number from 1 and up, got ${kills}`);
  const rand = createRandom(seed);
  const progressKills = kills >= 2 ? kills - 1 : kills;
  const span = (lastFraction - 0.05) / progressKills;
  const fractions = Array.from({ length: progressKills }, (_, i) => 0.05 + span * (i + 0.2 + 0.8 * rand()));
  const plan: Kill[] = fractions.map((fraction) => ({ when: 'progress', fraction, delayMs: Math.floor(rand() * 300) }));
  if (kills >= 2) plan.splice(1, 0, { when: 'startup', delayMs: 100 + Math.floor(rand() * 1400) });
  return plan;
}

/** `kill` for the log: `progress ≥ 14.2 % +120 ms` or `start-up +310 ms`. */
export function describeKill(kill: Kill): string {
  return kill.when === 'progress' ? `progress ≥ ${(kill.fraction * 100).toFixed(1)} % +${kill.delayMs} ms` : `start-up +${kill.delayMs} ms`;
}

/** What happened at one kill, for the test log. */
export interface KillRecord {
  readonly kill: Kill;
  readonly pid: number;
  /** Pairs done as last seen before the kill (progress kills only). */
  readonly doneBefore: number | null;
  /** Start-up kills: what `/readyz` answered just before (not listening, 503, or 200). */
  readonly readiness: 'not listening' | number | null;
  /** How the process ended: a SIGKILL that found it alive shows `signal: 'SIGKILL'`. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null };
}

export interface KillRun {
  readonly records: KillRecord[];
  /** The process left running after the last kill: it is the caller's to stop. */
  readonly survivor: ServiceProcess;
}

/**
 * Drives a plan against successive service processes: `first` is already running; after each
 * kill a new process is started (`start(true)` waits for readiness, `start(false)` does not), and
 * a start-up kill is a process killed `delayMs` after it was spawned.
 *
 * @example
 * const { records, survivor } = await runKills({ plan, first, total: 5000, start, progress, timeoutMs: 120_000 });
 */
export async function runKills(options: {
  readonly plan: readonly Kill[];
  readonly first: ServiceProcess;
  /** Pairs in the run. */
  readonly total: number;
  readonly start: (ready: boolean) => Promise<ServiceProcess>;
  /** Pairs durably done, as the running process (or its store) says. */
  readonly progress: (service: ServiceProcess) => Promise<number>;
  /** Longest wait for one progress threshold. */
  readonly timeoutMs: number;
  /** Called with each record as it happens (t.log). */
  readonly onKill?: (record: KillRecord) => void;
}): Promise<KillRun> {
  const records: KillRecord[] = [];
  let current: ServiceProcess | null = options.first;
  const note = (record: KillRecord): void => {
    records.push(record);
    options.onKill?.(record);
  };
  for (const kill of options.plan) {
    if (kill.when === 'startup') {
      const starting = await options.start(false);
      await sleep(kill.delayMs);
      const readiness = await fetch(`${starting.url}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
        (res) => res.status,
        () => 'not listening' as const,
      );
      note({ kill, pid: starting.child.pid ?? -1, doneBefore: null, readiness, exit: await starting.kill('SIGKILL') });
      continue;
    }
    current ??= await options.start(true);
    const target = Math.ceil(kill.fraction * options.total);
    const deadline = Date.now() + options.timeoutMs;
    let done = await options.progress(current);
    while (done < target) {
      if (Date.now() > deadline) throw new Error(`waited ${options.timeoutMs} ms for ${target} pairs, saw ${done}`);
      await sleep(50);
      done = await options.progress(current);
    }
    await sleep(kill.delayMs);
    const before = await options.progress(current).catch(() => done);
    note({ kill, pid: current.child.pid ?? -1, doneBefore: before, readiness: null, exit: await current.kill('SIGKILL') });
    current = null;
  }
  return { records, survivor: current ?? (await options.start(true)) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `1345 pairs done before, exit SIGKILL` or `/readyz said 503, exit SIGKILL`. */
export function describeRecord(record: KillRecord): string {
  const before =
    record.kill.when === 'progress'
      ? `${record.doneBefore} pairs done before`
      : `/readyz ${typeof record.readiness === 'number' ? `answered ${record.readiness}` : 'not listening yet'}`;
  return `${before}, exit ${record.exit.signal ?? `code ${record.exit.code}`}`;
}
