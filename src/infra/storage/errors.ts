import { errorMessage } from '../../domain/errors.js';
/**
 * How a Cloud Storage client error maps onto BuildTrace's outcomes, in one place for the result
 * markers and the input store: 404 and 412 are answers, not failures; the rest is "try later".
 */

/** HTTP status of an API error, or the Node error code (ECONNREFUSED, ETIMEDOUT, …) of a network one. */
export function storageErrorCode(err: unknown): number | string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'number' || typeof code === 'string') return code;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => storageErrorCode(err) === 404;

/** `ifGenerationMatch` did not hold: for a create-if-absent, the object already exists. */
export const isPreconditionFailed = (err: unknown): boolean => storageErrorCode(err) === 412;

export function describeStorageError(err: unknown): string {
  const code = storageErrorCode(err);
  const message = errorMessage(err);
  return code === undefined ? message : `${code}: ${message}`;
}
