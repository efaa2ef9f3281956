/**
 * Brings an existing table's schema up to this build's: adds the columns it lacks. BigQuery can
 * add a column to a table but only a NULLABLE one, and never change or drop one, so a column
 * added after a table was first created must be NULLABLE in `schema.ts`; one that is REQUIRED is
 * refused here with a message naming it rather than sent for the API to reject.
 *
 * Used by the writer's start-up (sink.ts) and meant for `buildtrace setup`'s schema migration.
 */
import type { Table } from '@google-cloud/bigquery';
import type { FieldSpec, TableSpec } from './schema.js';

/** The slice of a table handle this needs; tests hand in the real client at a local endpoint. */
export type SchemaTable = Pick<Table, 'getMetadata' | 'setMetadata'>;

/** A column the spec has and the table lacks, which BigQuery cannot add (it is REQUIRED). */
export class ColumnMigrationError extends Error {
  override readonly name = 'ColumnMigrationError';
  constructor(
    readonly table: string,
    readonly columns: readonly string[],
  ) {
    super(`table ${table} lacks REQUIRED column(s) ${columns.join(', ')}, which BigQuery cannot add to an existing table`);
  }
}

/**
 * The spec's columns missing from `existing` (by name, case-insensitive as BigQuery compares).
 *
 * @example
 * missingColumns(TABLES.change_results, [{ name: 'task_key' }]); // every other field
 */
export function missingColumns(spec: TableSpec, existing: readonly { readonly name?: string }[]): FieldSpec[] {
  const have = new Set(existing.map((f) => (f.name ?? '').toLowerCase()));
  return spec.fields.filter((f) => !have.has(f.name.toLowerCase()));
}

/**
 * Adds the columns of `spec` that `table` lacks, keeping every existing column as it is.
 * Resolves with the names added (empty when the table was already up to date).
 *
 * @throws ColumnMigrationError when a missing column is REQUIRED; the client's error when
 *   BigQuery refuses or is unreachable.
 *
 * @example
 * await addMissingColumns(dataset.table('change_results'), TABLES.change_results); // ['renamed', 'ambiguous']
 */
export async function addMissingColumns(table: SchemaTable, spec: TableSpec): Promise<string[]> {
  const [metadata] = await table.getMetadata();
  const fields = ((metadata as { schema?: { fields?: { name?: string }[] } }).schema?.fields ?? []) as { name?: string }[];
  const missing = missingColumns(spec, fields);
  if (missing.length === 0) return [];
  const required = missing.filter((f) => f.mode === 'REQUIRED').map((f) => f.name);
  if (required.length > 0) throw new ColumnMigrationError(spec.id, required);
  // A PATCH replaces the schema: send the existing fields unchanged, the new ones after them.
  await table.setMetadata({ schema: { fields: [...fields, ...missing.map((f) => ({ ...f }))] } });
  return missing.map((f) => f.name);
}
