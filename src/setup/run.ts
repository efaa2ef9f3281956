/**
 * Plans, prints and (with `apply`) converges: every selected part reads the current state, the
 * plan is printed one line per resource with a total, then each item's action runs in order.
 */
import type { SetupContext } from './context.js';
import type { PlanItem, SetupPart } from './plan.js';
import { PART_PLANNERS } from './parts.js';
import { errorMessage } from '../domain/errors.js';

export interface SetupOutcome {
  readonly items: readonly PlanItem[];
  /** Items that need a change (create or update). */
  readonly changes: number;
  readonly applied: number;
}

/**
 * Plans the selected parts, then their items are listed by `print` and applied when asked.
 *
 * @example
 * await runSetup(ctx, { parts: new Set(['pubsub']), apply: false, print: (l) => console.log(l) });
 */
export async function runSetup(
  ctx: SetupContext,
  options: { readonly parts: ReadonlySet<SetupPart>; readonly apply: boolean; readonly print: (line: string) => void },
): Promise<SetupOutcome> {
  const items: PlanItem[] = [];
  for (const planner of PART_PLANNERS) {
    if (options.parts.has(planner.part)) items.push(...(await planner.plan(ctx)));
  }
  const width = Math.max(0, ...items.map((i) => i.action.length));
  for (const item of items) options.print(`${item.action.padEnd(width)}  ${item.resource}`);
  const pending = items.filter((i): i is Extract<PlanItem, { apply: unknown }> => i.action !== 'ok');
  const creates = pending.filter((i) => i.action === 'create').length;
  options.print(
    `Plan: ${creates} to create, ${pending.length - creates} to update, ${items.length - pending.length} ok${options.apply ? '' : ' (nothing changed: run with --apply to converge)'}`,
  );
  let applied = 0;
  if (options.apply) {
    for (const item of pending) {
      try {
        await item.apply();
      } catch (err) {
        throw new Error(`${item.action} ${item.resource} failed: ${errorMessage(err)} (${applied} of ${pending.length} applied; run again to continue)`, { cause: err });
      }
      applied++;
      options.print(`done  ${item.action}  ${item.resource}`);
    }
    options.print(`Applied: ${applied} change(s)`);
  }
  return { items, changes: pending.length, applied };
}
