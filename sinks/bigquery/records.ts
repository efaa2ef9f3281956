/**
 * BigQuery as the records sink of SINKS=gcp (sinks/fan-out.ts): it decides durability and
 * per-item rejection. A task's rows are its `change_results` row, then its `processing_metrics`
 * row once BigQuery took the first (a `completed` metrics row of a refused result would count the
 * task as completed in /jobs). A row BigQuery refuses for good rejects its task alone.
 */
import type { Logger } from '../../src/log.js';
import type { RecordsReceipt, RecordsSink } from '../fan-out.js';
import type { Rejection, ResultRecord, Rollup, SinkBatch } from '../../src/domain/sink.js';
import { EXCERPT_ITEMS, SPILL_ROW_BYTES } from './config.js';
import { anomalyRow, changeResultRow, excerptChangeResultRow, failureMetricRow, resultMetricRow, rollupRow, rowBytes, type InsertRow } from './encode.js';
import type { BigQueryWriter, InsertReceipt, RowsByTable } from './sink.js';

export interface BigQueryRecordsOptions {
  readonly writer: BigQueryWriter;
  readonly logger: Logger;
  /**
   * Where the whole of a result too large for one row is kept (`gs://…`), for its row's pointer;
   * the row then holds an excerpt. Null: such a result is refused as too large.
   */
  readonly wholeResultUri: ((r: ResultRecord) => string) | null;
}

export class BigQueryRecords implements RecordsSink {
  readonly name = 'bigquery';
  private rejectedRows = 0;
  private readonly init: Promise<void>;

  constructor(private readonly options: BigQueryRecordsOptions) {
    // Set up in the background: a slow or down API at start-up must not crash the process;
    // writes and readiness wait for (and retry) the schema themselves.
    this.init = options.writer.ensureSchema().catch((err: unknown) => options.logger.warn({ err: String(err) }, 'BigQuery schema not ready yet'));
  }

  async write(batch: SinkBatch): Promise<RecordsReceipt> {
    const rejected = new Map<string, Rejection>();
    const refuse = (inserted: InsertReceipt, taskOf: ReadonlyMap<string, string>) => {
      for (const r of inserted.rejected) {
        this.rejectedRows += 1;
        const taskKey = taskOf.get(`${r.table}\u0000${r.insertId}`);
        if (taskKey && !rejected.has(taskKey)) rejected.set(taskKey, { code: r.code, message: `BigQuery ${r.table}: ${r.message}` });
      }
    };
    const first = this.rowsOf({ results: batch.results, failures: [], anomalies: batch.anomalies }, false);
    refuse(await this.options.writer.insert(first.rows), first.taskOf);
    const second = this.rowsOf({ results: batch.results.filter((r) => !rejected.has(r.taskKey)), failures: batch.failures, anomalies: [] }, true);
    refuse(await this.options.writer.insert(second.rows), second.taskOf);
    return { rejected };
  }

  /**
   * Appends a version of each rollup; readers take the newest `updated_at` per (replica, hour),
   * which is an upsert as far as every query can tell.
   */
  async writeRollups(rollups: readonly Rollup[]): Promise<void> {
    if (rollups.length === 0) return;
    const { rejected } = await this.options.writer.insert({ hourly_rollups: rollups.map(rollupRow) });
    // A refused rollup is logged by the writer; the next flush writes a newer version of it.
    this.rejectedRows += rejected.length;
  }

  /** Every insert wrote its rows or said so: nothing is kept to flush. */
  flush(): Promise<void> {
    return this.options.writer.flush();
  }

  /** Ready when the tables exist and the dataset answers. */
  async healthcheck(): Promise<void> {
    await this.options.writer.ensureSchema();
    await this.options.writer.healthcheck();
  }

  /** Waits for the background schema set-up; the client holds no connection to release. */
  async close(): Promise<void> {
    await this.init;
  }

  /** Rows refused for good since start. */
  get refusedRows(): number {
    return this.rejectedRows;
  }

  /** The change_results row of a result: whole when it fits, else an excerpt and a pointer. */
  private resultRow(r: ResultRecord): InsertRow {
    const row = changeResultRow(r);
    if (rowBytes(row) <= SPILL_ROW_BYTES || !this.options.wholeResultUri) return row;
    return excerptChangeResultRow(r, this.options.wholeResultUri(r), EXCERPT_ITEMS);
  }

  /** The rows of a batch, and the task each row belongs to (by `table \0 insertId`), to map refusals back. */
  private rowsOf(batch: SinkBatch, metrics: boolean): { rows: RowsByTable; taskOf: Map<string, string> } {
    const rows: { -readonly [K in keyof RowsByTable]: RowsByTable[K] } = {};
    const taskOf = new Map<string, string>();
    const tag = (table: string, taskKey: string, row: InsertRow) => (taskOf.set(`${table}\u0000${row.insertId}`, taskKey), row);
    if (batch.anomalies.length > 0) rows.anomalies = batch.anomalies.map(anomalyRow);
    if (!metrics) {
      if (batch.results.length > 0) rows.change_results = batch.results.map((r) => tag('change_results', r.taskKey, this.resultRow(r)));
      return { rows, taskOf };
    }
    const metricRows = [
      ...batch.results.map((r) => tag('processing_metrics', r.taskKey, resultMetricRow(r))),
      ...batch.failures.map((f) => tag('processing_metrics', f.taskKey, failureMetricRow(f))),
    ];
    if (metricRows.length > 0) rows.processing_metrics = metricRows;
    return { rows, taskOf };
  }
}
