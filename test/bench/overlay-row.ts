/**
 * The overlay row: drawing a result as SVG (`renderOverlay`, what `GET /changes/overlay.svg`
 * serves, and with both versions, what `buildtrace diff --svg` draws) against a bare `JSON.parse`
 * of the same pair's text, timed side by side in the same runs.
 */
import { diffVersions } from '../../src/domain/diff.js';
import { validateVersion } from '../../src/domain/drawing.js';
import { renderOverlay } from '../../src/overlay/render.js';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { formatMs, sideBySide } from './measure.js';
import type { BenchLine } from './table.js';

export interface OverlayRowOptions {
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly batchMs: number;
  readonly warmupMs: number;
  readonly log?: (text: string) => void;
}

/** The bound: a 100,000-object result renders in well under a second. */
export const OVERLAY_MS_TARGET = 1000;

export function overlayRows(options: OverlayRowOptions): BenchLine[] {
  const lines: BenchLine[] = [];
  for (const objects of options.sizes) {
    options.log?.(`overlay: ${objects} objects per version`);
    const [rawA, rawB] = generatePair(createRandom(objects + 12), { objects });
    const textA = JSON.stringify(rawA);
    const textB = JSON.stringify(rawB);
    const a = validateVersion(JSON.parse(textA), 'bench', 'a');
    const b = validateVersion(JSON.parse(textB), 'bench', 'b');
    const changes = diffVersions(a, b);
    let bytes = 0;
    const [parse, stored, full] = sideBySide(
      [
        () => [JSON.parse(textA), JSON.parse(textB)],
        () => (bytes = renderOverlay({ drawingId: 'bench', changes }).length),
        () => renderOverlay({ drawingId: 'bench', changes, versions: { a, b } }),
      ],
      { runs: options.runs, batchMs: options.batchMs, warmupMs: options.warmupMs },
    );
    const label = objects.toLocaleString('en-US');
    const timed = objects >= 100_000;
    lines.push({
      group: 'overlay',
      what: `overlay SVG ÷ JSON.parse, ${label} objects/version`,
      measured:
        `renderOverlay(stored result, ${changes.moved.length + changes.added.length + changes.removed.length} changes) ${formatMs(stored!.ms)}, ` +
        `with both versions (grey unchanged) ${formatMs(full!.ms)} ÷ JSON.parse(A, B) ${formatMs(parse!.ms)}; ` +
        `with versions ÷ parse ${full!.ratio.toFixed(2)}; SVG ${(bytes / 1024).toFixed(0)} KiB (median of ${options.runs} runs)`,
      value: stored!.ratio,
      shown: stored!.ratio.toFixed(2),
      target: timed ? `— (with versions < ${OVERLAY_MS_TARGET} ms)` : '—',
      met: timed ? full!.ms < OVERLAY_MS_TARGET : null,
      details: { objects, parseMs: parse!.ms, storedMs: stored!.ms, withVersionsMs: full!.ms, withVersionsRatio: full!.ratio, svgBytes: bytes },
    });
  }
  return lines;
}
