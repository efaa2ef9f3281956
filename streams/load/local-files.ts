/**
 * Drawing versions from files under INPUT_DIR in local mode. Task references come from outside
 * (HTTP bodies, queue messages), so every path is confined to the input directory after resolving
 * `..` and symlinks, and every file's size is checked before it is read.
 */
import { constants, type Dirent } from 'node:fs';
import { open, opendir, realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ERROR_CODES, MalformedInputError, TransientError } from '../../src/domain/errors.js';
import { DRAWING_ID_PATTERN } from '../../src/domain/task.js';
import { referenceProblem, type HalfPair, type InputStore, type PairFolder, type PairListing } from './input-store.js';

const VERSION_A = 'version_a.json';
const VERSION_B = 'version_b.json';
/** Folders examined at once while listing: enough to overlap I/O, few enough to spare descriptors. */
const LIST_CONCURRENCY = 32;

export interface LocalInputOptions {
  /** Root every reference must stay inside. */
  readonly inputDir: string;
  /** Larger version files are refused (MAX_VERSION_BYTES). */
  readonly maxBytes: number;
}

/**
 * Reads versions and lists seed-layout folders under `inputDir`.
 *
 * @example
 * const input = localInputStore({ inputDir: config.inputDir, maxBytes: config.maxVersionBytes });
 * const bytes = await input.read('batch-1/D1/version_a.json');
 * const { pairs, halfPairs } = await input.listPairs('batch-1');
 */
export function localInputStore(options: LocalInputOptions): InputStore {
  return new LocalInputStore(options);
}

export class LocalInputStore implements InputStore {
  private readonly root: string;
  private readonly maxBytes: number;
  private realRootCache: string | null = null;

  constructor(options: LocalInputOptions) {
    this.root = path.resolve(options.inputDir);
    if (!Number.isInteger(options.maxBytes) || options.maxBytes < 1) {
      throw new RangeError(`Expected maxBytes to be a whole number from 1 and up, got ${options.maxBytes}`);
    }
    this.maxBytes = options.maxBytes;
  }

  referenceProblem(ref: string): string | null {
    return referenceProblem(ref, null);
  }

  async read(ref: string): Promise<Buffer> {
    const file = await this.confine(ref);
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: the last component cannot have been swapped for a symlink since realpath;
      // O_NONBLOCK: a FIFO planted in the input directory cannot hang the open.
      handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw fsError(err, ref);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) {
        throw new MalformedInputError(ERROR_CODES.missingUpload, `${quote(ref)} is not a file under the input directory`);
      }
      if (info.size > this.maxBytes) throw this.tooLarge(ref, info.size);
      return await this.readCapped(handle, info.size, ref);
    } catch (err) {
      throw fsError(err, ref);
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async listPairs(prefix: string): Promise<PairListing> {
    const folder = await this.confine(prefix);
    const realRoot = await this.realRoot();
    try {
      if (!(await stat(folder)).isDirectory()) {
        throw new MalformedInputError(ERROR_CODES.missingUpload, `${quote(prefix)} is not a folder under the input directory`);
      }
      const candidates: Dirent[] = [];
      const misnamed: Dirent[] = [];
      for await (const entry of await opendir(folder)) {
        if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
        (DRAWING_ID_PATTERN.test(entry.name) ? candidates : misnamed).push(entry);
      }
      const pairs: PairFolder[] = [];
      const halfPairs: HalfPair[] = [];
      for (let i = 0; i < candidates.length; i += LIST_CONCURRENCY) {
        const found = await Promise.all(
          candidates.slice(i, i + LIST_CONCURRENCY).map((entry) => this.inspect(path.join(folder, entry.name), realRoot)),
        );
        found.forEach((versions, j) => {
          const drawingId = candidates[i + j]!.name;
          const storagePath = path.relative(realRoot, path.join(folder, drawingId)).split(path.sep).join('/');
          if (versions.a && versions.b) pairs.push({ drawingId, storagePath });
          else if (versions.a) halfPairs.push({ drawingId, storagePath, present: VERSION_A });
          else if (versions.b) halfPairs.push({ drawingId, storagePath, present: VERSION_B });
        });
      }
      const invalidFolders: string[] = [];
      for (let i = 0; i < misnamed.length; i += LIST_CONCURRENCY) {
        const batch = misnamed.slice(i, i + LIST_CONCURRENCY);
        const found = await Promise.all(batch.map((entry) => this.inspect(path.join(folder, entry.name), realRoot)));
        found.forEach((versions, j) => {
          if (versions.a || versions.b) invalidFolders.push(path.relative(realRoot, path.join(folder, batch[j]!.name)).split(path.sep).join('/'));
        });
      }
      const byId = (x: { drawingId: string }, y: { drawingId: string }) => (x.drawingId < y.drawingId ? -1 : x.drawingId > y.drawingId ? 1 : 0);
      return { pairs: pairs.sort(byId), halfPairs: halfPairs.sort(byId), invalidFolders: invalidFolders.sort() };
    } catch (err) {
      throw fsError(err, prefix);
    }
  }

  /** Which versions a drawing folder holds; a symlinked folder counts only if it stays inside. */
  private async inspect(folder: string, realRoot: string): Promise<{ a: boolean; b: boolean }> {
    let real: string;
    try {
      real = await realpath(folder);
      if (!inside(realRoot, real) || !(await stat(real)).isDirectory()) return { a: false, b: false };
    } catch (err) {
      if (isMissing(err)) return { a: false, b: false };
      throw err;
    }
    const [a, b] = await Promise.all([isFile(path.join(real, VERSION_A)), isFile(path.join(real, VERSION_B))]);
    return { a, b };
  }

  /**
   * Resolves a reference to a real path inside the input directory, or throws forbidden_path
   * (escapes, NUL bytes, URLs) or missing_upload (nothing there).
   */
  private async confine(ref: string): Promise<string> {
    if (typeof ref !== 'string') throw forbidden(`a path must be a string, got ${typeof ref}`);
    const problem = referenceProblem(ref, null);
    if (problem) throw forbidden(`${quote(ref)} ${problem}`);
    const lexical = path.resolve(this.root, ref);
    const realRoot = await this.realRoot();
    let real: string;
    try {
      real = await realpath(lexical);
    } catch (err) {
      throw fsError(err, ref);
    }
    if (!inside(realRoot, real)) throw forbidden(`${quote(ref)} leads outside the input directory through a symlink`);
    return real;
  }

  private async realRoot(): Promise<string> {
    if (this.realRootCache) return this.realRootCache;
    try {
      this.realRootCache = await realpath(this.root);
      return this.realRootCache;
    } catch (err) {
      if (isMissing(err)) {
        // The message reaches API clients: name the setting, not the server's file layout.
        throw new MalformedInputError(ERROR_CODES.missingUpload, 'the input directory (INPUT_DIR) does not exist');
      }
      throw fsError(err, 'INPUT_DIR');
    }
  }

  /** Reads to EOF but never past maxBytes, in case the file grew after its size was checked. */
  private async readCapped(handle: FileHandle, size: number, ref: string): Promise<Buffer> {
    let buffer = Buffer.allocUnsafe(Math.min(size, this.maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (length > this.maxBytes) throw this.tooLarge(ref, length);
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, this.maxBytes + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
    }
  }

  private tooLarge(ref: string, size: number): MalformedInputError {
    return new MalformedInputError(
      ERROR_CODES.inputTooLarge,
      `${quote(ref)} is ${size} bytes, more than the ${this.maxBytes} allowed (MAX_VERSION_BYTES)`,
    );
  }
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** A reference quoted in an error, cut short: a 100 KB path is not echoed back whole. */
function quote(ref: string): string {
  return ref.length > 120 ? `${JSON.stringify(ref.slice(0, 120))}…` : JSON.stringify(ref);
}

function forbidden(message: string): MalformedInputError {
  return new MalformedInputError(ERROR_CODES.forbiddenPath, message);
}

/**
 * Our own errors pass through; file-system errors become missing, forbidden or transient.
 * Exported for tests: EMFILE or EIO cannot be provoked reliably on a test machine.
 */
export function fsError(err: unknown, ref: string): Error {
  if (err instanceof MalformedInputError || err instanceof TransientError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new MalformedInputError(ERROR_CODES.missingUpload, `${quote(ref)} does not exist under the input directory`);
  }
  if (code === 'EISDIR') {
    return new MalformedInputError(ERROR_CODES.missingUpload, `${quote(ref)} is a folder, not a version file`);
  }
  if (code === 'ELOOP' || code === 'ENAMETOOLONG') {
    return forbidden(`${quote(ref)} cannot be resolved inside the input directory (${code})`);
  }
  return new TransientError(ERROR_CODES.storageUnavailable, `cannot read ${quote(ref)}: ${code ?? String(err)}`, {
    cause: err,
  });
}
