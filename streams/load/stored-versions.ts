/**
 * Reads a stored result's versions again, for the overlay's unchanged objects: through the same
 * InputStore as the load stage (so the same confinement and MAX_VERSION_BYTES), and only when the
 * bytes still hash to what was diffed. Anything else is an answer, not an error: the overlay then
 * draws the changes alone and its legend gives the reason.
 */
import { validateVersion } from '../../src/domain/drawing.js';
import { utf8Text } from '../../src/domain/text.js';
import type { DrawingVersion } from '../../src/domain/types.js';
import type { VersionRef, VersionRefs } from '../../src/domain/sink.js';
import type { InputStore } from './input-store.js';
import { versionHash } from './load-versions.js';

export type StoredVersions =
  | { readonly kind: 'read'; readonly a: DrawingVersion; readonly b: DrawingVersion }
  /**
   * `reason` ends the legend's sentence "Unchanged objects are not drawn: …"; absent for a
   * result that never kept its versions (sent inline), where the renderer's own wording fits.
   */
  | { readonly kind: 'unavailable'; readonly reason?: string };


/**
 * Both versions of a stored result, or why they cannot be drawn.
 *
 * @example
 * const v = await readStoredVersions('D1', result.versions, input);
 * renderOverlay(v.kind === 'read' ? { drawingId, changes, versions: v } : { drawingId, changes, withoutVersions: v.reason });
 */
export async function readStoredVersions(drawingId: string, refs: VersionRefs | undefined, input: InputStore): Promise<StoredVersions> {
  // Inline tasks (and rows stored before references were kept): the renderer's own reason.
  if (refs === undefined) return { kind: 'unavailable' };
  const [a, b] = await Promise.all([readOne(drawingId, 'a', refs.a, input), readOne(drawingId, 'b', refs.b, input)]);
  if (typeof a === 'string') return { kind: 'unavailable', reason: a };
  if (typeof b === 'string') return { kind: 'unavailable', reason: b };
  return { kind: 'read', a, b };
}

/** The version, or the reason it cannot be drawn. */
async function readOne(drawingId: string, which: 'a' | 'b', ref: VersionRef, input: InputStore): Promise<DrawingVersion | string> {
  const name = `version ${which.toUpperCase()}`;
  let bytes: Buffer;
  try {
    bytes = await input.read(ref.ref);
  } catch (err) {
    return `${name} can no longer be read (${err instanceof Error ? err.message : String(err)})`;
  }
  if (versionHash(bytes) !== ref.sha256) return `${name} (${JSON.stringify(ref.ref)}) has changed since the result was made`;
  try {
    return validateVersion(JSON.parse(utf8Text(bytes)), drawingId, which);
  } catch (err) {
    // The same bytes were valid when diffed; only a change of the rules could land here.
    return `${name} can no longer be read (${err instanceof Error ? err.message : String(err)})`;
  }
}
