/**
 * The load stage: turns a task's version references into the two raw versions to diff, reading
 * through whichever InputStore the deployment uses. Bytes stay bytes here so that a large pair
 * can be parsed off the main thread by the diff stage.
 */
import type { Task } from '../../src/domain/types.js';
import type { InputStore } from './input-store.js';

/** A version as loaded: already-parsed JSON (inline tasks) or the file's bytes. */
export type RawVersion = { readonly kind: 'value'; readonly value: unknown } | { readonly kind: 'bytes'; readonly bytes: Buffer };

export interface LoadedPair {
  readonly a: RawVersion;
  readonly b: RawVersion;
}

/**
 * Loads both versions of a task. Both reads run at once; the first error wins (a MalformedInputError
 * for a bad or missing reference, a TransientError when the store is down).
 */
export async function loadVersions(task: Task, input: InputStore): Promise<LoadedPair> {
  const versions = task.versions;
  switch (versions.kind) {
    case 'inline':
      return { a: { kind: 'value', value: versions.a }, b: { kind: 'value', value: versions.b } };
    case 'uri': {
      const [a, b] = await Promise.all([input.read(versions.a), input.read(versions.b)]);
      return { a: { kind: 'bytes', bytes: a }, b: { kind: 'bytes', bytes: b } };
    }
    case 'folder': {
      const folder = versions.path.replace(/\/+$/, '');
      const [a, b] = await Promise.all([
        input.read(`${folder}/version_a.json`),
        input.read(`${folder}/version_b.json`),
      ]);
      return { a: { kind: 'bytes', bytes: a }, b: { kind: 'bytes', bytes: b } };
    }
  }
}
