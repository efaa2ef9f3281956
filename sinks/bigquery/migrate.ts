/**
 * Schema migration for an existing BigQuery table: what differs from its `TableSpec`, and the
 * patch that brings it in line. Columns are only ever added (as NULLABLE: BigQuery refuses to add
 * a REQUIRED column to a table that has rows) and never dropped or retyped, so an older replica
 * still writing its rows keeps working and no data is lost. `buildtrace setup` plans with
 * `tableDrift` and the service's start-up check applies `migrationPatch`, so both agree.
 */
import { partitionExpiration, type FieldSpec, type TableSpec } from './schema.js';

/** The parts of a table's metadata (as `tables.get` returns it) that migration reads. */
export interface ExistingTable {
  readonly schema?: { readonly fields?: readonly { readonly name: string }[] };
  readonly timePartitioning?: { readonly expirationMs?: string | number | null };
}

export interface TableDrift {
  /** Columns the spec has and the table lacks, in the spec's order, as they will be added. */
  readonly missingColumns: readonly FieldSpec[];
  /** The expiration to set, when the table's differs from the spec's. */
  readonly partitionExpirationMs: string | null;
}

/**
 * What an existing table lacks compared with its spec. Extra columns in the table are left alone.
 *
 * @example
 * tableDrift(TABLES.jobs, { schema: { fields: [{ name: 'job_id' }] } }).missingColumns.map((f) => f.name)
 * // ['tasks_created', 'created_at']
 */
export function tableDrift(spec: TableSpec, existing: ExistingTable): TableDrift {
  const have = new Set((existing.schema?.fields ?? []).map((f) => f.name.toLowerCase()));
  const missingColumns = spec.fields.filter((f) => !have.has(f.name.toLowerCase())).map((f): FieldSpec => ({ ...f, mode: 'NULLABLE' }));
  const want = partitionExpiration(spec).expirationMs ?? null;
  const current = existing.timePartitioning?.expirationMs;
  const haveExpiration = current === undefined || current === null ? null : String(current);
  return { missingColumns, partitionExpirationMs: want !== null && want !== haveExpiration ? want : null };
}

export function hasDrift(drift: TableDrift): boolean {
  return drift.missingColumns.length > 0 || drift.partitionExpirationMs !== null;
}

/** The plan line's `<what>`: e.g. `add columns a, b; partition expiration`. */
export function describeDrift(drift: TableDrift): string {
  const parts: string[] = [];
  if (drift.missingColumns.length > 0) parts.push(`add columns ${drift.missingColumns.map((f) => f.name).join(', ')}`);
  if (drift.partitionExpirationMs !== null) parts.push('partition expiration');
  return parts.join('; ');
}

/**
 * The `tables.patch` body: the whole existing schema plus the missing columns (a patch replaces
 * the field list, so every existing field is sent back as it was), and the expiration.
 */
export function migrationPatch(
  existing: ExistingTable,
  drift: TableDrift,
): { schema?: { fields: unknown[] }; timePartitioning?: Record<string, unknown> } {
  return {
    ...(drift.missingColumns.length > 0 ? { schema: { fields: [...(existing.schema?.fields ?? []), ...drift.missingColumns] } } : {}),
    ...(drift.partitionExpirationMs !== null
      ? { timePartitioning: { ...(existing.timePartitioning ?? {}), expirationMs: drift.partitionExpirationMs } }
      : {}),
  };
}
