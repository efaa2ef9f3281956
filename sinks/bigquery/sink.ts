/**
 * Writes rows to BigQuery with streaming inserts: creates the dataset and tables when missing,
 * sends rows in API-sized requests with deterministic insertIds, and answers per row: written,
 * rejected for good (BigQuery's `invalid`, a row over the row-size limit; reported, never kept),
 * or unavailable (backend errors, 5xx, 429, no connection: the whole insert rejects with a
 * TransientError, and the caller's retry policy resends it; insertIds make the resend idempotent).
 * It keeps nothing between calls and retries nothing on its own, except rows BigQuery `stopped`
 * only because an invalid row shared their request: those are sent again at once without it.
 */
import type { BigQuery, TableMetadata } from '@google-cloud/bigquery';
import { ERROR_CODES, TransientError, errorMessage } from '../../src/domain/errors.js';
import type { Logger } from '../../src/log.js';
import { INSERT_CONCURRENCY, INSERT_LIMITS, MAX_ROW_BYTES } from './config.js';
import { chunkRows, rowBytes, uniqueRows, type InsertRow } from './encode.js';
import { hasDrift, migrationPatch, tableDrift, type ExistingTable } from './migrate.js';
import { TABLE_IDS, TABLES, tableMetadata, type TableId } from './schema.js';

/** The slice of the BigQuery client the writer uses; tests hand in the real client at a local endpoint. */
export type BigQueryClient = Pick<BigQuery, 'dataset' | 'query'>;

export type RowsByTable = Partial<Record<TableId, readonly InsertRow[]>>;

export interface BigQueryWriterOptions {
  readonly client: BigQueryClient;
  readonly datasetId: string;
  /** Location for a dataset this writer creates (the API defaults to US). */
  readonly location?: string;
  readonly logger: Logger;
}

/** A row BigQuery refused for good: sending it again would fail the same way. */
export interface RowRejection {
  readonly table: TableId;
  readonly insertId: string;
  /** `invalid_row` (BigQuery's `invalid`, e.g. a column the table lacks) or `row_too_large`. */
  readonly code: 'invalid_row' | 'row_too_large';
  readonly message: string;
}

export interface InsertReceipt {
  /** Rows refused for good; every other row was written. */
  readonly rejected: readonly RowRejection[];
}

/** What one request said about one row. */
type RowOutcome =
  | { readonly kind: 'rejected'; readonly row: InsertRow; readonly code: RowRejection['code']; readonly message: string }
  | { readonly kind: 'resend'; readonly row: InsertRow }
  | { readonly kind: 'unavailable'; readonly row: InsertRow; readonly message: string };

/** Rounds of resending `stopped` rows (or rows split out of a refused request) within one call. */
const MAX_ROUNDS = 3;

/** The HTTP status (number) or Node error code (string) of a client error. */
export function errorCode(err: unknown): number | string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'number' || typeof code === 'string') return code;
  }
  return undefined;
}

export class BigQueryWriter {
  private schemaReady: Promise<void> | null = null;

  constructor(private readonly options: BigQueryWriterOptions) {}

  /**
   * Creates the dataset and every table that is missing (day-partitioned, clustered), and adds
   * the columns an existing table lacks (never drops one; sinks/bigquery/migrate.ts). Safe to
   * call concurrently and repeatedly: success is remembered, a failure is retried next call.
   *
   * @example
   * await writer.ensureSchema(); // rejects with TransientError('sink_unavailable') if BigQuery is down
   */
  ensureSchema(): Promise<void> {
    this.schemaReady ??= this.createSchema().catch((err: unknown) => {
      this.schemaReady = null;
      throw err instanceof TransientError
        ? err
        : new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery schema setup failed: ${errorMessage(err)}`, { cause: err });
    });
    return this.schemaReady;
  }

  private async createSchema(): Promise<void> {
    const dataset = this.options.client.dataset(this.options.datasetId);
    const [exists] = await dataset.exists();
    if (!exists) {
      await ignoreConflict(dataset.create(this.options.location ? { location: this.options.location } : {}));
      this.options.logger.info({ dataset: this.options.datasetId }, 'created BigQuery dataset');
    }
    await Promise.all(
      TABLE_IDS.map(async (id) => {
        const table = dataset.table(id);
        const [tableExists] = await table.exists();
        if (tableExists) {
          const [metadata] = await table.getMetadata();
          const existing = metadata as ExistingTable;
          const drift = tableDrift(TABLES[id], existing);
          if (!hasDrift(drift)) return;
          await table.setMetadata(migrationPatch(existing, drift) as TableMetadata);
          this.options.logger.info({ dataset: this.options.datasetId, table: id, added: drift.missingColumns.map((f) => f.name) }, 'migrated BigQuery table');
          return;
        }
        await ignoreConflict(table.create(tableMetadata(TABLES[id])));
        this.options.logger.info({ dataset: this.options.datasetId, table: id }, 'created BigQuery table');
      }),
    );
  }

  /**
   * Streams rows into their tables. Resolves with the rows BigQuery refused for good (every other
   * row is written); rejects with TransientError('sink_unavailable') when any row could not be
   * written for a reason that may pass, in which case the whole call may be repeated.
   */
  async insert(rowsByTable: RowsByTable): Promise<InsertReceipt> {
    await this.ensureSchema();
    const tables = Object.keys(rowsByTable) as TableId[];
    const outcomes = await Promise.all(tables.map(async (table) => ({ table, ...(await this.insertTable(table, rowsByTable[table] ?? [])) })));
    const rejected = outcomes.flatMap((o) => o.rejected);
    if (rejected.length > 0) {
      this.options.logger.error(
        { rejected: rejected.slice(0, 5).map((r) => `${r.table}/${r.insertId}: ${r.code}: ${r.message}`), count: rejected.length },
        'BigQuery refused rows for good; they are reported, not kept',
      );
    }
    const unavailable = outcomes.filter((o) => o.unavailable.length > 0);
    if (unavailable.length === 0) return { rejected };
    const summary = unavailable
      .map((o) => `${o.unavailable.length} ${o.table} row(s) (${[...new Set(o.unavailable)].slice(0, 3).join('; ')})`)
      .join(', ');
    throw new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery did not accept ${summary}`);
  }

  /** Every insert either wrote its rows or said so: nothing is kept, so nothing is left to flush. */
  async flush(): Promise<void> {}

  /** Resolves when the dataset answers (readiness). */
  async healthcheck(): Promise<void> {
    try {
      await this.options.client.dataset(this.options.datasetId).getMetadata();
    } catch (err) {
      throw new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery dataset ${this.options.datasetId} unreachable: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  /** Inserts one table's rows; returns the refused rows and the reasons of rows that could not be written now. */
  private async insertTable(table: TableId, fresh: readonly InsertRow[]): Promise<{ rejected: RowRejection[]; unavailable: string[] }> {
    const rejected: RowRejection[] = [];
    const unavailable: string[] = [];
    let pending: InsertRow[] = [];
    for (const row of uniqueRows(fresh)) {
      const bytes = rowBytes(row);
      if (bytes > MAX_ROW_BYTES) {
        rejected.push({ table, insertId: row.insertId, code: 'row_too_large', message: `${bytes} bytes, over the ${MAX_ROW_BYTES}-byte row limit` });
      } else {
        pending.push(row);
      }
    }
    for (let round = 1; round <= MAX_ROUNDS && pending.length > 0; round++) {
      const outcomes = await this.sendOnce(table, pending, round === MAX_ROUNDS);
      pending = [];
      for (const o of outcomes) {
        if (o.kind === 'rejected') rejected.push({ table, insertId: o.row.insertId, code: o.code, message: o.message });
        else if (o.kind === 'unavailable') unavailable.push(o.message);
        else pending.push(o.row);
      }
    }
    // Rows still to resend after the last round stay unwritten: the call is repeated as a whole.
    for (const _ of pending) unavailable.push('not written after an invalid row stopped its request');
    return { rejected, unavailable };
  }

  /** One round: every chunk once, a few requests at a time; returns what did not go in. */
  private async sendOnce(table: TableId, rows: readonly InsertRow[], last: boolean): Promise<RowOutcome[]> {
    const target = this.options.client.dataset(this.options.datasetId).table(table);
    const chunks = chunkRows(rows, INSERT_LIMITS);
    const outcomes: RowOutcome[] = [];
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        try {
          // partialRetries: 0 — the client would retry failed rows at once, without backoff.
          await target.insert(chunk as InsertRow[], { raw: true, partialRetries: 0 });
        } catch (err) {
          outcomes.push(...this.outcomesOf(table, chunk, err, last));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(INSERT_CONCURRENCY, chunks.length) }, worker));
    return outcomes;
  }

  private outcomesOf(table: TableId, chunk: readonly InsertRow[], err: unknown, last: boolean): RowOutcome[] {
    const partial = partialFailures(err);
    if (partial) {
      return partial.map(({ row, errors }): RowOutcome => {
        const invalid = errors.find((e) => e.reason === 'invalid');
        if (invalid) return { kind: 'rejected', row, code: 'invalid_row', message: invalid.message || 'invalid' };
        // `stopped`: not written only because another row of the request was invalid.
        if (errors.length > 0 && errors.every((e) => e.reason === 'stopped')) return { kind: 'resend', row };
        return { kind: 'unavailable', row, message: errors.map((e) => e.reason).join(', ') || 'unknown' };
      });
    }
    const code = errorCode(err);
    // A deleted table: set it up again on the next call.
    if (code === 404) this.schemaReady = null;
    this.options.logger.warn({ table, code, rows: chunk.length, err: errorMessage(err) }, 'BigQuery insert request failed');
    if (code === 400) {
      // The request as a whole was refused (too large, malformed): one row alone is refused for
      // good; several are sent again one by one, so only the offending row is refused.
      if (chunk.length === 1) {
        const message = errorMessage(err);
        return [{ kind: 'rejected', row: chunk[0]!, code: /payload size|too large/i.test(message) ? 'row_too_large' : 'invalid_row', message }];
      }
      if (!last) return chunk.map((row) => ({ kind: 'resend', row }) as const);
    }
    return chunk.map((row) => ({ kind: 'unavailable', row, message: `${code ?? 'error'}: ${errorMessage(err)}` }) as const);
  }
}

/** The failed rows of a PartialFailureError (insertAll `insertErrors`), or null for other errors. */
function partialFailures(err: unknown): { row: InsertRow; errors: { reason: string; message: string }[] }[] | null {
  if (err === null || typeof err !== 'object' || (err as { name?: unknown }).name !== 'PartialFailureError') return null;
  const errors = (err as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return null;
  return errors
    .filter((e): e is { row: InsertRow; errors?: { reason?: string; message?: string }[] } => e !== null && typeof e === 'object' && 'row' in e && Boolean(e.row))
    .map((e) => ({ row: e.row, errors: (e.errors ?? []).map((x) => ({ reason: x.reason ?? 'unknown', message: x.message ?? '' })) }));
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    // Another replica created it first.
    if (errorCode(err) !== 409) throw err;
  }
}
