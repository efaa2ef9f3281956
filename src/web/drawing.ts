/**
 * One drawing's page (`/drawings/:id`): its results newest first, each with its overlay, refreshed
 * by polling so a new result shows up without a reload.
 */
import { byId, el, every, getJson, type ChangeSummary } from './api.js';

const HISTORY = 10;

function overlayUrl(drawingId: string, jobId: string | null): string {
  const q = new URLSearchParams({ drawing_id: drawingId });
  if (jobId !== null) q.set('job_id', jobId);
  return `/changes/overlay.svg?${q.toString()}`;
}

function main(): void {
  const root = byId('drawing');
  const drawingId = root.dataset.drawingId ?? '';
  let shown = '';
  every(async () => {
    const res = await getJson<ChangeSummary[] | { error: { message: string } }>(`/changes?drawing_id=${encodeURIComponent(drawingId)}&limit=${HISTORY}`);
    const list = byId('history');
    if (res.status === 404) {
      list.replaceChildren(el('p', {}, 'No results for this drawing yet.'));
      return;
    }
    if (!Array.isArray(res.body)) throw new Error(res.body.error.message);
    const key = res.body.map((r) => `${r.job_id}@${r.created_at}`).join();
    if (key === shown) return;
    shown = key;
    list.replaceChildren(
      ...res.body.map((r, i) => {
        const c = r.counts;
        const counts = `${c.added} added, ${c.removed} removed, ${c.moved} moved, ${c.modified} modified${c.renamed ? `, ${c.renamed} renamed` : ''}`;
        // The latest result's overlay is the unqualified URL, which always answers with it.
        const src = i === 0 ? overlayUrl(drawingId, null) : overlayUrl(drawingId, r.job_id);
        return el(
          'article',
          { class: 'result', 'data-job-id': r.job_id ?? '' },
          el('h2', {}, el('time', { datetime: r.created_at }, new Date(r.created_at).toLocaleString()), r.job_id ? ` · job ${r.job_id}` : ''),
          el('p', {}, counts),
          el('p', { class: 'summary' }, r.summary),
          el('figure', {}, el('a', { href: src }, el('img', { src, alt: `Overlay of the changes: ${counts}`, loading: i === 0 ? 'eager' : 'lazy', class: 'overlay' })), el('figcaption', {}, 'Green added, red removed, blue moved (old place ghosted), amber modified, purple renamed (geometry matching).')),
        );
      }),
    );
  }, byId('updated'));
}

main();
