/**
 * Writes rows to BigQuery with streaming inserts: creates the dataset and tables when missing,
 * sends rows in API-sized requests with deterministic insertIds, retries only the rows that
 * failed (with backoff, a bounded number of times) and keeps the ones that still fail, rejecting
 * with a TransientError so the pipeline nacks instead of acking a row that was never written.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { Logger } from '../../src/log.js';
import { DEFAULT_MAX_RETAINED_BYTES, DEFAULT_MAX_RETAINED_ROWS, DEFAULT_RETRY, INSERT_CONCURRENCY, INSERT_LIMITS, type RetryPolicy } from './config.js';
import { chunkRows, rowBytes, uniqueRows, type InsertRow } from './encode.js';
import { TABLE_IDS, TABLES, tableMetadata, type TableId } from './schema.js';
import { addMissingColumns } from './columns.js';

/** The slice of the BigQuery client the writer uses; tests hand in the real client at a local endpoint. */
export type BigQueryClient = Pick<BigQuery, 'dataset' | 'query'>;

export type RowsByTable = Partial<Record<TableId, readonly InsertRow[]>>;

export interface BigQueryWriterOptions {
  readonly client: BigQueryClient;
  readonly datasetId: string;
  /** Location for a dataset this writer creates (the API defaults to US). */
  readonly location?: string;
  readonly logger: Logger;
  readonly retry?: RetryPolicy;
  readonly maxRetainedRows?: number;
  readonly maxRetainedBytes?: number;
  /** Injected for tests; waits between retry rounds. */
  readonly sleep?: (ms: number) => Promise<void>;
}

interface FailedRow {
  readonly row: InsertRow;
  readonly reason: string;
  /** `invalid` rows fail the same way every time: retrying them within one call is pointless. */
  readonly retryable: boolean;
}

/** The HTTP status (number) or Node error code (string) of a client error. */
export function errorCode(err: unknown): number | string | undefined {
  if (err !== null && typeof err === 'object' && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'number' || typeof code === 'string') return code;
  }
  return undefined;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export class BigQueryWriter {
  private readonly retry: RetryPolicy;
  private readonly maxRetained: number;
  private readonly maxRetainedBytes: number;
  private retainedBytes = 0;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Rows whose retries ran out, by `table \0 insertId`, oldest first; re-sent with the next insert. */
  private readonly retained = new Map<string, { readonly table: TableId; readonly row: InsertRow; readonly bytes: number }>();
  private schemaReady: Promise<void> | null = null;
  private droppedRetained = 0;

  constructor(private readonly options: BigQueryWriterOptions) {
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.maxRetained = options.maxRetainedRows ?? DEFAULT_MAX_RETAINED_ROWS;
    this.maxRetainedBytes = options.maxRetainedBytes ?? DEFAULT_MAX_RETAINED_BYTES;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Creates the dataset and every table that is missing (day-partitioned, clustered), and adds
   * to an existing table the columns a newer build writes (columns.ts). Safe to
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
        : new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery schema setup failed: ${describe(err)}`, { cause: err });
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
          const added = await addMissingColumns(table, TABLES[id]);
          if (added.length > 0) this.options.logger.info({ dataset: this.options.datasetId, table: id, columns: added }, 'added BigQuery columns');
          return;
        }
        await ignoreConflict(table.create(tableMetadata(TABLES[id])));
        this.options.logger.info({ dataset: this.options.datasetId, table: id }, 'created BigQuery table');
      }),
    );
  }

  /**
   * Streams rows into their tables, together with any rows retained from earlier failures.
   * Resolves once every row was accepted; otherwise keeps the failed rows and rejects with
   * TransientError('sink_unavailable').
   */
  async insert(rowsByTable: RowsByTable): Promise<void> {
    await this.ensureSchema();
    const tables = new Set<TableId>([...this.retainedTables(), ...(Object.keys(rowsByTable) as TableId[])]);
    const outcomes = await Promise.all(
      [...tables].map(async (table) => ({ table, failed: await this.insertTable(table, rowsByTable[table] ?? []) })),
    );
    const failed = outcomes.filter((o) => o.failed.length > 0);
    if (failed.length === 0) return;
    const summary = failed
      .map((o) => `${o.failed.length} ${o.table} row(s) (${[...new Set(o.failed.map((f) => f.reason))].slice(0, 3).join('; ')})`)
      .join(', ');
    throw new TransientError(
      ERROR_CODES.sinkUnavailable,
      `BigQuery did not accept ${summary} after ${this.retry.attempts} attempt(s); rows kept for retry`,
    );
  }

  /** Re-sends retained rows; resolves when none are left. */
  async flush(): Promise<void> {
    if (this.retained.size > 0) await this.insert({});
  }

  /** Rows currently kept after failing (bounded), their size, and how many were dropped past the bound. */
  retainedStats(): { readonly retained: number; readonly bytes: number; readonly dropped: number } {
    return { retained: this.retained.size, bytes: this.retainedBytes, dropped: this.droppedRetained };
  }

  /** Resolves when the dataset answers (readiness). */
  async healthcheck(): Promise<void> {
    try {
      await this.options.client.dataset(this.options.datasetId).getMetadata();
    } catch (err) {
      throw new TransientError(ERROR_CODES.sinkUnavailable, `BigQuery dataset ${this.options.datasetId} unreachable: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  private retainedTables(): TableId[] {
    return [...new Set([...this.retained.values()].map((r) => r.table))];
  }

  /** Inserts one table's rows with bounded retries of the failed ones; returns those still failing. */
  private async insertTable(table: TableId, fresh: readonly InsertRow[]): Promise<FailedRow[]> {
    const retained = [...this.retained.values()].filter((r) => r.table === table).map((r) => r.row);
    const rows = uniqueRows([...retained, ...fresh]);
    const permanent: FailedRow[] = [];
    let retryable: FailedRow[] = [];
    let pending: readonly InsertRow[] = rows;
    for (let attempt = 1; attempt <= this.retry.attempts && pending.length > 0; attempt++) {
      if (attempt > 1) await this.sleep(this.backoff(attempt - 1));
      const round = await this.sendOnce(table, pending);
      if (round.length > 0) {
        this.options.logger.warn(
          { table, attempt, failed: round.length, of: pending.length, reason: round[0]?.reason },
          'BigQuery insert: rows failed',
        );
      }
      // Invalid rows fail the same way every time: not retried here, but they stay failed (nack).
      permanent.push(...round.filter((f) => !f.retryable));
      retryable = round.filter((f) => f.retryable);
      pending = retryable.map((f) => f.row);
    }
    const failed = [...permanent, ...retryable];
    const failedIds = new Set(failed.map((f) => f.row.insertId));
    for (const row of rows) {
      const key = `${table}\u0000${row.insertId}`;
      if (failedIds.has(row.insertId)) this.retain(key, table, row);
      else this.release(key);
    }
    return failed;
  }

  /** One round: every chunk once, a few requests at a time. */
  private async sendOnce(table: TableId, rows: readonly InsertRow[]): Promise<FailedRow[]> {
    const target = this.options.client.dataset(this.options.datasetId).table(table);
    const chunks = chunkRows(rows, INSERT_LIMITS);
    const failed: FailedRow[] = [];
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const chunk = chunks[next++]!;
        try {
          // partialRetries: 0 — the client would retry failed rows at once, without backoff.
          await target.insert(chunk as InsertRow[], { raw: true, partialRetries: 0 });
        } catch (err) {
          failed.push(...this.failedRowsOf(table, chunk, err));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(INSERT_CONCURRENCY, chunks.length) }, worker));
    return failed;
  }

  private failedRowsOf(table: TableId, chunk: readonly InsertRow[], err: unknown): FailedRow[] {
    const partial = partialFailures(err);
    if (partial) {
      return partial.map(({ row, reasons }) => ({
        row,
        reason: reasons.join(', ') || 'unknown',
        retryable: !reasons.includes('invalid'),
      }));
    }
    const code = errorCode(err);
    // A deleted table: set it up again on the next call.
    if (code === 404) this.schemaReady = null;
    const retryable = typeof code !== 'number' || code >= 500 || code === 429 || code === 408;
    this.options.logger.warn({ table, code, err: describe(err) }, 'BigQuery insert request failed');
    return chunk.map((row) => ({ row, reason: `${code ?? 'error'}: ${describe(err)}`, retryable }));
  }

  private retain(key: string, table: TableId, row: InsertRow): void {
    this.release(key);
    const bytes = rowBytes(row);
    this.retained.set(key, { table, row, bytes });
    this.retainedBytes += bytes;
    while (this.retained.size > this.maxRetained || (this.retainedBytes > this.maxRetainedBytes && this.retained.size > 1)) {
      this.release(this.retained.keys().next().value as string);
      this.droppedRetained++;
      this.options.logger.error({ table, dropped: this.droppedRetained }, 'BigQuery retained rows over limit: oldest dropped (its task stays unacked)');
    }
  }

  private release(key: string): void {
    const entry = this.retained.get(key);
    if (!entry) return;
    this.retained.delete(key);
    this.retainedBytes -= entry.bytes;
  }

  private backoff(retry: number): number {
    const cap = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (retry - 1));
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }
}

/** The failed rows of a PartialFailureError (insertAll `insertErrors`), or null for other errors. */
function partialFailures(err: unknown): { row: InsertRow; reasons: string[] }[] | null {
  if (err === null || typeof err !== 'object' || (err as { name?: unknown }).name !== 'PartialFailureError') return null;
  const errors = (err as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return null;
  return errors
    .filter((e): e is { row: InsertRow; errors?: { reason?: string }[] } => e !== null && typeof e === 'object' && 'row' in e && Boolean(e.row))
    .map((e) => ({ row: e.row, reasons: (e.errors ?? []).map((x) => x.reason ?? 'unknown') }));
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    // Another replica created it first.
    if (errorCode(err) !== 409) throw err;
  }
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
