/**
 * Reads a JSON request body with a size limit: 415 for anything but JSON, 413 past the limit
 * (checked while streaming, so an oversized body is never held whole), 400 for broken JSON.
 */
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { HttpError, HTTP_CODES, badRequest, quoteValue } from './errors.js';

export async function readJsonBody(ctx: Context, limitBytes: number): Promise<unknown> {
  if (!ctx.is('application/json', '+json')) {
    throw new HttpError(
      415,
      HTTP_CODES.unsupportedMediaType,
      `request body must be JSON (Content-Type: application/json), got ${JSON.stringify(ctx.get('content-type') || 'none')}`,
    );
  }
  const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    // Refused rather than decoded: a small gzip body can inflate past any limit, and echoing its
    // compressed bytes in a JSON error helps no one.
    throw new HttpError(
      415,
      HTTP_CODES.unsupportedMediaType,
      `request body must not be compressed (Content-Encoding ${quoteValue(encoding)}); send plain JSON`,
    );
  }
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
  let text: string;
  try {
    text = await getRawBody(ctx.req, { limit: limitBytes, encoding: 'utf8', length: ctx.get('content-length') || undefined });
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') throw tooLarge(limitBytes);
    throw badRequest(`could not read the request body: ${(err as Error).message}`);
  }
  if (text.trim() === '') throw badRequest('request body is empty; expected a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}

function tooLarge(limitBytes: number): HttpError {
  return new HttpError(413, HTTP_CODES.tooLarge, `request body is larger than the limit of ${limitBytes} bytes`);
}
