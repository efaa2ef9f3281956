/**
 * Waiting on something that may never settle (a hung API, a stream that will not close), for at
 * most a while: the one race every bounded wait in the service needs, with its timer always
 * cleared so a settled wait keeps nothing alive.
 */

/** What `within` answers when time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * `promise`'s value, or TIMED_OUT after `ms`; a rejection of `promise` before then rejects. The
 * promise itself carries on; its later outcome is ignored.
 *
 * @example
 * if ((await within(source.close(), 3_000)) === TIMED_OUT) log.warn('still closing');
 */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
