/**
 * One place that shapes every error response as `{"error": {"code", "message"}}` with a fitting
 * status, so no route ever leaks a stack trace or an HTML page.
 */
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';
import { MalformedInputError, TransientError, ERROR_CODES } from '../domain/errors.js';

export const HTTP_CODES = {
  badRequest: 'bad_request',
  notFound: 'not_found',
  methodNotAllowed: 'method_not_allowed',
  tooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  unavailable: 'unavailable',
  notReady: 'not_ready',
  internal: 'internal_error',
} as const;

/** An error a route throws on purpose: its status, code and message reach the client as is. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code: string = HTTP_CODES.badRequest): HttpError =>
  new HttpError(400, code, message);
export const notFound = (message: string): HttpError => new HttpError(404, HTTP_CODES.notFound, message);

/** Maps domain errors to HTTP: bad input 400 (404 when what it names does not exist), outages 503. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof MalformedInputError) {
    if (err.code === ERROR_CODES.missingUpload) return new HttpError(404, HTTP_CODES.notFound, err.message);
    if (err.code === ERROR_CODES.inputTooLarge) return new HttpError(413, HTTP_CODES.tooLarge, err.message);
    return new HttpError(400, err.code, err.message);
  }
  if (err instanceof TransientError) return new HttpError(503, err.code, `${err.message}; try again later`);
  return new HttpError(500, HTTP_CODES.internal, 'internal error');
}

export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, HTTP_CODES.notFound, `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      const http = toHttpError(err);
      if (http.status >= 500) logger.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = http.status;
      ctx.set(http.headers);
      ctx.body = { error: { code: http.code, message: clipMessage(http.message) } };
    }
  };
}

/** Longest error message sent: enough to act on, never a whole echoed payload. */
export const MAX_ERROR_MESSAGE = 1000;

function clipMessage(message: string): string {
  return message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message;
}

/** Most characters of a client's value echoed in a message. */
const MAX_ECHO = 120;

/**
 * A client's value quoted for an error message, cut short so an answer never echoes a payload.
 *
 * @example
 * badRequest(`"storage_path" is not a folder, got ${quoteValue(path)}`);
 */
export function quoteValue(value: string): string {
  return value.length > MAX_ECHO ? `${JSON.stringify(value.slice(0, MAX_ECHO))}… (${value.length} characters)` : JSON.stringify(value);
}
