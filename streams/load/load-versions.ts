/**
 * The load stage: turns a task's version references into the two raw versions to diff, reading
 * through whichever InputStore the deployment uses. Bytes stay bytes here so that a large pair
 * can be parsed off the main thread by the diff stage.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../../src/domain/types.js';
import type { VersionRefs } from '../../src/domain/sink.js';
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
  const refs = versionFiles(task);
  if (refs === null) {
    const inline = versions as Extract<Task['versions'], { kind: 'inline' }>;
    return { a: { kind: 'value', value: inline.a }, b: { kind: 'value', value: inline.b } };
  }
  const [a, b] = await Promise.all([input.read(refs.a), input.read(refs.b)]);
  return { a: { kind: 'bytes', bytes: a }, b: { kind: 'bytes', bytes: b } };
}

/** The two files a task's versions are read from (InputStore references), or null for an inline task. */
export function versionFiles(task: Task): { readonly a: string; readonly b: string } | null {
  const versions = task.versions;
  switch (versions.kind) {
    case 'inline':
      return null;
    case 'uri':
      return { a: versions.a, b: versions.b };
    case 'folder': {
      const folder = versions.path.replace(/\/+$/, '');
      return { a: `${folder}/version_a.json`, b: `${folder}/version_b.json` };
    }
  }
}

/** SHA-256 of a version file's bytes, hex: tells a re-read whether the file changed since. */
export function versionHash(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * What a result keeps of where its versions came from: the files and the hashes of the bytes
 * diffed. Null for inline tasks, whose versions are not kept anywhere.
 */
export function versionRefs(task: Task, pair: LoadedPair): VersionRefs | null {
  const files = versionFiles(task);
  if (files === null || pair.a.kind !== 'bytes' || pair.b.kind !== 'bytes') return null;
  return { a: { ref: files.a, sha256: versionHash(pair.a.bytes) }, b: { ref: files.b, sha256: versionHash(pair.b.bytes) } };
}
