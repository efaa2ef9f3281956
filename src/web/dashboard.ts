/**
 * The live dashboard (`GET /`): figures from `/metrics`, hourly charts, readiness, anomalies and
 * the latest drawings, refreshed by polling every REFRESH_MS without reloading the page.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { byId, drawingLink, el, every, getJson, ms, type DrawingSummary, type Health, type Metrics } from './api.js';

/** The figures shown, each in an element with `data-metric` = its /metrics key. */
const FIGURES: readonly [keyof Metrics, string, (v: number) => string][] = [
  ['pairs_total', 'Pairs (24 h)', String],
  ['changes_total', 'Changes (24 h)', String],
  ['failed_total', 'Failed', String],
  ['malformed_total', 'Malformed', String],
  ['data_quality_issues', 'Data-quality issues', String],
  ['latency_p50', 'Processing p50', ms],
  ['latency_p95', 'Processing p95', ms],
  ['latency_p99', 'Processing p99', ms],
  ['end_to_end_p50', 'End-to-end p50', ms],
  ['end_to_end_p95', 'End-to-end p95', ms],
  ['end_to_end_p99', 'End-to-end p99', ms],
  ['replicas', 'Replicas', String],
];

const KIND_COLOURS = { pairs: '#57606a', added: '#1a7f37', removed: '#cf222e', moved: '#0969da', modified: '#9a6700' };
const LATENCY_SERIES: readonly ['processing' | 'end_to_end', 'p50' | 'p95' | 'p99', string][] = [
  ['processing', 'p50', '#0969da'],
  ['processing', 'p95', '#54aeff'],
  ['processing', 'p99', '#0a3069'],
  ['end_to_end', 'p50', '#9a6700'],
  ['end_to_end', 'p95', '#d4a72c'],
  ['end_to_end', 'p99', '#633c01'],
];
const DAY_S = 24 * 3600;

function chartWidth(container: HTMLElement): number {
  return Math.max(260, Math.floor(container.clientWidth || 600));
}

/** Always the retained day, so a single hour is a point on a day-long axis, not a whole axis. */
const lastDay = (): [number, number] => [Date.now() / 1000 - DAY_S, Date.now() / 1000 + 1800];

function hourlyChart(container: HTMLElement): uPlot {
  const series: uPlot.Series[] = [{}];
  for (const [name, colour] of Object.entries(KIND_COLOURS)) series.push({ label: name, stroke: colour, width: 2, points: { show: true, size: 6 } });
  return new uPlot(
    {
      width: chartWidth(container),
      height: 220,
      series,
      axes: [{}, { label: 'per hour' }],
      scales: { x: { time: true, range: lastDay } },
    },
    [[], [], [], [], [], []],
    container,
  );
}

function latencyChart(container: HTMLElement): uPlot {
  const series: uPlot.Series[] = [{}];
  for (const [kind, p, colour] of LATENCY_SERIES) {
    series.push({ label: `${kind === 'processing' ? 'processing' : 'end-to-end'} ${p}`, stroke: colour, width: 2, points: { show: true, size: 5 } });
  }
  return new uPlot(
    { width: chartWidth(container), height: 220, series, axes: [{}, { label: 'ms, per hour' }], scales: { x: { time: true, range: lastDay } } },
    [[], ...LATENCY_SERIES.map((): number[] => [])],
    container,
  );
}

function renderFigures(m: Metrics): void {
  const list = byId('figures');
  list.replaceChildren(
    ...FIGURES.map(([key, label, format]) =>
      el('div', { class: 'figure' }, el('dt', {}, label), el('dd', { 'data-metric': key, 'data-value': String(m[key]) }, format(m[key] as number))),
    ),
  );
}

function renderAnomalies(h: Health): void {
  byId('health-status').textContent = h.status;
  byId('health-status').setAttribute('data-status', h.status);
  const list = byId('anomalies');
  const items = [...h.warnings.map((w) => el('li', { class: 'warning' }, w))];
  for (const a of h.anomalies.slice(0, 20)) {
    items.push(
      el('li', { 'data-severity': a.severity }, el('strong', {}, a.type), ' ', a.drawing_id ? drawingLink(a.drawing_id) : 'system', ` · ${a.severity} · `, el('time', { datetime: a.timestamp }, new Date(a.timestamp).toLocaleString())),
    );
  }
  list.replaceChildren(...(items.length > 0 ? items : [el('li', {}, 'No anomalies in the last 24 hours.')]));
}

function renderDrawings(drawings: DrawingSummary[]): void {
  const body = byId('drawings');
  body.replaceChildren(
    ...drawings.map((d) =>
      el(
        'tr',
        { 'data-drawing-id': d.drawing_id },
        el('th', { scope: 'row' }, drawingLink(d.drawing_id)),
        el('td', {}, el('time', { datetime: d.latest_result_at }, new Date(d.latest_result_at).toLocaleString())),
        el('td', { class: 'n' }, String(d.counts.added)),
        el('td', { class: 'n' }, String(d.counts.removed)),
        el('td', { class: 'n' }, String(d.counts.moved)),
        el('td', { class: 'n' }, String(d.counts.modified)),
      ),
    ),
  );
  if (drawings.length === 0) body.replaceChildren(el('tr', {}, el('td', { colspan: '6' }, 'No results yet.')));
}

function main(): void {
  const hourly = hourlyChart(byId('hourly-chart'));
  const latency = latencyChart(byId('latency-chart'));
  window.addEventListener('resize', () => {
    hourly.setSize({ width: chartWidth(byId('hourly-chart')), height: 220 });
    latency.setSize({ width: chartWidth(byId('latency-chart')), height: 220 });
  });

  every(async () => {
    const [metrics, health, ready, drawings] = await Promise.all([
      getJson<Metrics>('/metrics'),
      getJson<Health>('/health'),
      getJson<{ status?: string; error?: { message: string } }>('/readyz'),
      getJson<{ drawings: DrawingSummary[] }>('/drawings?limit=20'),
    ]);
    const m = metrics.body;
    renderFigures(m);
    renderAnomalies(health.body);
    renderDrawings(drawings.body.drawings);
    const readiness = byId('readiness');
    readiness.textContent = ready.status === 200 ? 'ready' : (ready.body.error?.message ?? 'not ready');
    readiness.setAttribute('data-ready', String(ready.status === 200));

    const hours = Object.keys(m.hourly_stats).sort();
    const kinds = Object.keys(KIND_COLOURS) as (keyof typeof KIND_COLOURS)[];
    hourly.setData([hours.map((h) => Date.parse(h) / 1000), ...kinds.map((k) => hours.map((h) => m.hourly_stats[h]![k]))]);

    const latencyHours = Object.keys(m.hourly_latency).sort();
    latency.setData([
      latencyHours.map((h) => Date.parse(h) / 1000),
      ...LATENCY_SERIES.map(([kind, p]) => latencyHours.map((h) => m.hourly_latency[h]![kind][p])),
    ]);
  }, byId('updated'));
}

main();
