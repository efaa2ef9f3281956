/**
 * Cloud Monitoring: the metric descriptors the service writes, its product metrics
 * (src/infra/monitoring/encode.ts) and its self-telemetry (streams/telemetry/monitoring.ts).
 */
import { metricDescriptors } from '../infra/monitoring/encode.js';
import { telemetryDescriptors } from '../../streams/telemetry/monitoring.js';
import type { PlanItem } from './plan.js';
import type { SetupContext } from './context.js';

const NOT_FOUND = 5;

type Descriptor = ReturnType<typeof metricDescriptors>[number];

/** Every descriptor the service creates, so the dashboard and alerts find their metrics before the first write. */
export const serviceDescriptors = (): Descriptor[] => [...metricDescriptors(), ...telemetryDescriptors()];

export async function planMonitoring(ctx: SetupContext): Promise<PlanItem[]> {
  const name = `projects/${ctx.target.projectId}`;
  const { monitoring } = ctx.clients;
  const items: PlanItem[] = [];
  for (const wanted of serviceDescriptors()) {
    const resource = `monitoring metric ${wanted.type}`;
    const create = async () => void (await monitoring.createMetricDescriptor({ name, metricDescriptor: wanted }));
    let existing: Record<string, unknown>;
    try {
      [existing] = (await monitoring.getMetricDescriptor({ name: `${name}/metricDescriptors/${wanted.type}` })) as unknown as [Record<string, unknown>];
    } catch (err) {
      if ((err as { code?: unknown }).code !== NOT_FOUND) throw err;
      items.push({ part: 'monitoring', resource, action: 'create', apply: create });
      continue;
    }
    const diff = differences(wanted, existing);
    items.push(diff.length === 0 ? { part: 'monitoring', resource, action: 'ok' } : { part: 'monitoring', resource, action: `update ${diff.join(', ')}`, apply: create });
  }
  return items;
}

function differences(wanted: Descriptor, existing: Record<string, unknown>): string[] {
  const w = wanted as Record<string, unknown>;
  const diff: string[] = [];
  for (const key of ['metricKind', 'valueType', 'unit'] as const) {
    if (w[key] !== undefined && String(w[key]) !== String(existing[key] ?? '')) diff.push(key);
  }
  const keys = (labels: unknown) => ((labels ?? []) as { key?: string }[]).map((l) => l.key ?? '').sort().join(',');
  if (keys(w.labels) !== keys(existing.labels)) diff.push('labels');
  return diff;
}
