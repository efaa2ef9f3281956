/**
 * What the pages read from the service (the same JSON any client gets), and small DOM helpers
 * that build elements with text nodes only, so nothing from the service is ever parsed as HTML.
 */

export interface Counts {
  added: number;
  removed: number;
  moved: number;
  modified: number;
}

export interface DrawingSummary {
  drawing_id: string;
  job_id: string | null;
  latest_result_at: string;
  counts: Counts;
}

export interface Metrics {
  hourly_stats: Record<string, Counts & { pairs: number; failed: number; malformed: number }>;
  hourly_latency: Record<string, Record<'processing' | 'end_to_end', { p50: number; p95: number; p99: number }>>;
  latency_p50: number;
  latency_p95: number;
  latency_p99: number;
  latency_count: number;
  end_to_end_p50: number;
  end_to_end_p95: number;
  end_to_end_p99: number;
  pairs_total: number;
  changes_total: number;
  failed_total: number;
  malformed_total: number;
  data_quality_issues: number;
  replicas: number;
  generated_at: string;
}

export interface Health {
  status: string;
  warnings: string[];
  anomalies: { drawing_id: string | null; type: string; severity: string; details: unknown; timestamp: string }[];
}

/** One entry of `GET /changes?limit=N`: a result's summary and counts, without its items. */
export interface ChangeSummary {
  drawing_id: string;
  job_id: string | null;
  summary: string;
  counts: Counts & { renamed?: number; ambiguous?: number };
  processing_time_ms: number;
  created_at: string;
}

/** The dashboard refreshes at this interval (the issue allows at most 5 s). */
export const REFRESH_MS = 2000;

export async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  return { status: res.status, body: (await res.json()) as T };
}

/** `el('td', {class: 'n'}, 'text', child)`: attributes as given, children as text or nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (string | Node)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  for (const c of children) node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

export function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node;
}

/** Latency figures as /metrics gives them, in ms, shown to 0.1 ms. */
export function ms(v: number): string {
  return `${v.toFixed(1)} ms`;
}

export function drawingLink(id: string): HTMLAnchorElement {
  return el('a', { href: `/drawings/${encodeURIComponent(id)}` }, id);
}

/** Runs `step` now and every REFRESH_MS, never two at once; a failed step shows in `status`. */
export function every(step: () => Promise<void>, status: HTMLElement): void {
  const tick = async () => {
    try {
      await step();
      status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
      status.removeAttribute('data-error');
    } catch (err) {
      status.textContent = `Update failed: ${err instanceof Error ? err.message : String(err)}; retrying`;
      status.setAttribute('data-error', 'true');
    }
    setTimeout(tick, REFRESH_MS);
  };
  void tick();
}
