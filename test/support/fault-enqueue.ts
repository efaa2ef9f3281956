/**
 * Puts a whole simulator run into the embedded queue of a DATA_DIR before (or while) a service
 * consumes it, the way another process on the machine shares one backlog: a real backlog for
 * backpressure tests, and a run that is not already half done when the first kill is due.
 */
import { openLocalQueue } from '../../streams/sources/local-queue.js';
import type { OutgoingTask } from '../../src/domain/source.js';
import { inlineTaskJson } from '../../src/simulate/inline-task.js';
import { scenarioItems, type ScenarioOptions } from '../../src/simulate/scenario.js';

/** Tasks published per transaction. */
const CHUNK = 250;

export interface Enqueued {
  readonly tasks: number;
  readonly bytes: number;
}

/**
 * Enqueues every pair of `scenario` as an inline task with `task_id` `<runId>:<index>` (the
 * simulator's Pub/Sub encoding), in the queue file of `dataDir`.
 *
 * @example
 * const { tasks, bytes } = await enqueueScenario(dataDir, { seed: 1, pairs: 1000, objects: 50 }, 'run-1');
 */
export async function enqueueScenario(dataDir: string, scenario: ScenarioOptions, runId: string): Promise<Enqueued> {
  const queue = openLocalQueue({ dataDir, maxOutstanding: 1, leaseSeconds: 60 });
  let tasks = 0;
  let bytes = 0;
  try {
    let chunk: OutgoingTask[] = [];
    for (const item of scenarioItems(scenario)) {
      const taskId = `${runId}:${item.index}`;
      const data = Buffer.from(inlineTaskJson(item, { task_id: taskId }));
      chunk.push({ data, attributes: { drawing_id: item.drawingId, task_id: taskId } });
      bytes += data.length;
      if (chunk.length === CHUNK) {
        await queue.publish(chunk);
        tasks += chunk.length;
        chunk = [];
      }
    }
    if (chunk.length > 0) await queue.publish(chunk);
    tasks += chunk.length;
  } finally {
    await queue.close();
  }
  return { tasks, bytes };
}
