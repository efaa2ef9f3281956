/**
 * One simulator run without the command line: generate the scenario, feed it to a target with
 * backpressure, count the ground truth on the way, and report. The CLI and the tests share it.
 */
import { scenarioItems, type ScenarioOptions } from './scenario.js';
import type { Target, TargetReport } from './target.js';
import type { HttpTarget } from './target-http.js';
import { Tally, type TruthFile } from './truth.js';

export interface RunOptions {
  readonly scenario: ScenarioOptions;
  readonly target: Target;
  /** With the http target: wait until every job has no pending task, up to this long. */
  readonly waitMs?: number;
  /** Recorded in the truth file as given. */
  readonly recordedOptions?: Record<string, unknown>;
  /** @default Date.now */
  readonly clock?: () => number;
}

export interface RunResult {
  readonly truth: TruthFile;
  readonly report: TargetReport;
}

/**
 * Sends every pair of `scenario` to `target`; closes the target whatever happens.
 *
 * @throws SimulateError from the target (unreachable, refused, too large, timeout).
 * @example
 * const { truth } = await runSimulation({ scenario: { seed: 7, pairs: 100, objects: 10 }, target: filesTarget({ dir, revisions: 1 }) });
 */
export async function runSimulation(options: RunOptions): Promise<RunResult> {
  const clock = options.clock ?? Date.now;
  const { target } = options;
  const tally = new Tally();
  const started = clock();
  try {
    for (const item of scenarioItems(options.scenario)) {
      tally.add(item, target.fate(item));
      await target.write(item);
    }
    let report = await target.finish();
    const seconds = (clock() - started) / 1000;
    if (options.waitMs !== undefined && isHttp(target)) {
      report = { ...report, jobsDone: await target.waitForJobs(options.waitMs) };
    }
    const truth = tally.truth({
      seed: options.scenario.seed,
      target: target.name,
      options: options.recordedOptions ?? { ...options.scenario },
      report,
      seconds,
    });
    return { truth, report };
  } finally {
    await target.close();
  }
}

function isHttp(target: Target): target is HttpTarget {
  return target.name === 'http' && typeof (target as Partial<HttpTarget>).waitForJobs === 'function';
}
