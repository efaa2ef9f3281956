/**
 * The JSON text of an inline task (design.md, Input) built around the versions' own text, so a
 * malformed version (`1e999`, which `JSON.stringify` cannot write) reaches the service verbatim.
 */
import type { SimItem } from './scenario.js';

/**
 * `{"drawing_id", …fields, "version_a", "version_b"}`; a half pair lacks the missing version.
 *
 * @example
 * inlineTaskJson(item, { job_id: 'sim-7', task_id: 'sim-7:0' });
 */
export function inlineTaskJson(item: SimItem, fields: Readonly<Record<string, string>> = {}): string {
  let text = `{"drawing_id":${JSON.stringify(item.drawingId)}`;
  for (const [key, value] of Object.entries(fields)) text += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  if (item.a !== null) text += `,"version_a":${item.a}`;
  if (item.b !== null) text += `,"version_b":${item.b}`;
  return `${text}}`;
}
