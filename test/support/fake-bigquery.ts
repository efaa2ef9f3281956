/**
 * A local stand-in for the BigQuery REST API (Google ships no emulator): the real
 * @google-cloud/bigquery client talks HTTP to it. It checks what arrives the way the API would
 * (paths, bearer token, table schemas, partitioning and clustering, insertAll row types, named
 * query parameters) and answers like the API, including injected 5xx responses and partial
 * insert failures. Queries really run: stored rows live in an in-memory SQLite database and the
 * BigQuery SQL is translated (backtick table names, QUALIFY) so query results are computed, not
 * scripted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { BigQuery } from '@google-cloud/bigquery';
import { FAKE_TOKEN, fakeAuthClient } from './fake-google-auth.js';
import { LOOPBACK_ACCESS_TOKEN } from '../../sinks/bigquery/config.js';

/** Largest insertAll body the API accepts (10 MB). */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const MAX_INSERT_ID = 128;
const TYPES = new Set(['STRING', 'INT64', 'INTEGER', 'FLOAT64', 'FLOAT', 'BOOL', 'BOOLEAN', 'TIMESTAMP', 'DATE', 'JSON', 'BYTES', 'NUMERIC']);
const MODES = new Set(['NULLABLE', 'REQUIRED', 'REPEATED']);

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: unknown;
}

export interface FieldSchema {
  readonly name: string;
  readonly type: string;
  readonly mode?: string;
}

export interface TableState {
  readonly metadata: Record<string, unknown>;
  /** Grows when a tables.patch adds columns. */
  readonly fields: FieldSchema[];
  /** Rows accepted, as sent (after insertId dedupe when enabled). */
  readonly rows: { insertId: string | undefined; json: Record<string, unknown> }[];
  readonly insertIds: Set<string>;
}

interface RequestFault {
  readonly method?: string;
  readonly pathIncludes: string;
  remaining: number;
  readonly status: number;
  readonly reason: string;
}

interface RowFault {
  readonly table?: string;
  readonly match: (row: Record<string, unknown>) => boolean;
  remaining: number;
  readonly reason: string;
}

export interface FakeBigQueryOptions {
  readonly projectId?: string;
  /** BigQuery drops a repeated insertId on a best-effort basis; off shows that queries dedupe anyway. */
  readonly dedupeInsertIds?: boolean;
  /**
   * Also accept the token a client built by `createBigQueryClient` sends to a loopback endpoint
   * (sinks/bigquery/config.ts), so code that builds its own client from BIGQUERY_API_ENDPOINT
   * can talk to this fake directly.
   */
  readonly acceptLoopbackToken?: boolean;
}

export interface FakeBigQuery {
  readonly url: string;
  readonly projectId: string;
  readonly requests: RecordedRequest[];
  /** SQL text and parameters of every query received. */
  readonly queries: { sql: string; parameters: QueryParameter[] }[];
  readonly datasets: Map<string, { tables: Map<string, TableState> }>;
  table(datasetId: string, tableId: string): TableState | undefined;
  /** A dataset's resource as `datasets.get` answers it (location, access entries). */
  dataset(datasetId: string): Record<string, unknown> | undefined;
  /** Requests that change state (POST, PATCH, PUT, DELETE) other than row inserts and queries. */
  mutatingRequests(): RecordedRequest[];
  /** Deletes a table with its rows, as `bq rm` would. */
  deleteTable(datasetId: string, tableId: string): void;
  /** The next `times` requests whose path includes `pathIncludes` get an error status. */
  failRequests(fault: { method?: string; pathIncludes: string; times?: number; status?: number; reason?: string }): void;
  /** Rows matching `match` fail with `reason` in insertAll (`backendError`: transient; `invalid`: others stopped). */
  failRows(fault: { table?: string; match: (row: Record<string, unknown>) => boolean; times?: number; reason?: string }): void;
  /** Ends every injected fault (an outage is over). */
  clearFaults(): void;
  /** insertAll request bodies received for one table, in order. */
  insertRequests(tableId: string): { rows: { insertId?: string; json: Record<string, unknown> }[] }[];
  /** A real client pointed at this server, with test credentials. */
  client(options?: { autoRetry?: boolean; maxRetries?: number }): BigQuery;
  close(): Promise<void>;
}

interface QueryParameter {
  readonly name?: string;
  readonly parameterType?: { type?: string; arrayType?: { type?: string } };
  readonly parameterValue?: { value?: unknown; arrayValues?: { value?: unknown }[] };
}

class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the fake on 127.0.0.1 (a free port).
 *
 * @example
 * const fake = await startFakeBigQuery();
 * t.teardown(() => fake.close());
 * const bigquery = fake.client();
 */
export async function startFakeBigQuery(options: FakeBigQueryOptions = {}): Promise<FakeBigQuery> {
  const projectId = options.projectId ?? 'buildtrace-test';
  const dedupe = options.dedupeInsertIds ?? true;
  const requests: RecordedRequest[] = [];
  const queries: { sql: string; parameters: QueryParameter[] }[] = [];
  const datasets = new Map<string, { tables: Map<string, TableState> }>();
  /** Dataset resource fields beyond its tables: location, access entries. */
  const datasetMeta = new Map<string, { location: string; access: Record<string, unknown>[]; etag: number }>();
  const requestFaults: RequestFault[] = [];
  const rowFaults: RowFault[] = [];
  const db = new Database(':memory:');
  // GoogleSQL functions the store's queries use, over the fake's TIMESTAMP (epoch µs) and INT64.
  db.function('UNIX_SECONDS', { deterministic: true }, (micros: unknown) => (micros === null ? null : Math.floor(Number(micros) / 1_000_000)));
  db.function('DIV', { deterministic: true }, (x: unknown, y: unknown) => {
    if (x === null || y === null) return null;
    if (Number(y) === 0) throw new ApiFailure(400, 'invalidQuery', 'division by zero: DIV');
    return Math.trunc(Number(x) / Number(y));
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let body: unknown = undefined;
      try {
        body = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = raw.toString('utf8');
      }
      const method = req.method ?? 'GET';
      requests.push({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body });
      try {
        const tokens = [`Bearer ${FAKE_TOKEN}`, ...(options.acceptLoopbackToken ? [`Bearer ${LOOPBACK_ACCESS_TOKEN}`] : [])];
        if (!tokens.includes(req.headers.authorization ?? '')) {
          throw new ApiFailure(401, 'unauthorized', 'Request is missing required authentication credential.');
        }
        const fault = requestFaults.find(
          (f) => f.remaining > 0 && url.pathname.includes(f.pathIncludes) && (!f.method || f.method === method),
        );
        if (fault) {
          fault.remaining--;
          throw new ApiFailure(fault.status, fault.reason, `Injected ${fault.status}`);
        }
        if (raw.length > MAX_REQUEST_BYTES) {
          throw new ApiFailure(400, 'invalid', `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`);
        }
        const answer = route(method, url.pathname, url.searchParams, body);
        res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify(answer));
      } catch (err) {
        const f = err instanceof ApiFailure ? err : new ApiFailure(500, 'internalError', String(err));
        res.writeHead(f.status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(
          JSON.stringify({
            error: { code: f.status, message: f.message, errors: [{ message: f.message, domain: 'global', reason: f.reason }] },
          }),
        );
      }
    });
  });

  function route(method: string, path: string, qs: URLSearchParams, body: unknown): unknown {
    const m = /^\/bigquery\/v2\/projects\/([^/]+)(\/.*)?$/.exec(path);
    if (!m) throw new ApiFailure(404, 'notFound', `Unknown path ${path}`);
    if (decodeURIComponent(m[1]!) !== projectId) throw new ApiFailure(404, 'notFound', `Not found: Project ${m[1]}`);
    const rest = m[2] ?? '';
    let r: RegExpExecArray | null;
    if (method === 'POST' && rest === '/datasets') return createDataset(body);
    if ((r = /^\/datasets\/([^/]+)$/.exec(rest)) && method === 'GET') return getDataset(decodeURIComponent(r[1]!));
    if ((r = /^\/datasets\/([^/]+)$/.exec(rest)) && method === 'PATCH') return patchDataset(decodeURIComponent(r[1]!), body);
    if ((r = /^\/datasets\/([^/]+)\/tables$/.exec(rest)) && method === 'POST') return createTable(decodeURIComponent(r[1]!), body);
    if ((r = /^\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(rest)) && method === 'GET') {
      return getTable(decodeURIComponent(r[1]!), decodeURIComponent(r[2]!)).metadata;
    }
    if ((r = /^\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(rest)) && (method === 'PATCH' || method === 'PUT')) {
      return patchTable(decodeURIComponent(r[1]!), decodeURIComponent(r[2]!), body);
    }
    if ((r = /^\/datasets\/([^/]+)\/tables\/([^/]+)\/insertAll$/.exec(rest)) && method === 'POST') {
      return insertAll(decodeURIComponent(r[1]!), decodeURIComponent(r[2]!), body);
    }
    if (rest === '/queries' && method === 'POST') return runQuery(body);
    throw new ApiFailure(404, 'notFound', `fake BigQuery does not serve ${method} ${path}${qs.size ? '?' + qs.toString() : ''}`);
  }

  function getDataset(datasetId: string): unknown {
    if (!datasets.has(datasetId)) throw new ApiFailure(404, 'notFound', `Not found: Dataset ${projectId}:${datasetId}`);
    const meta = datasetMeta.get(datasetId) ?? { location: 'US', access: [], etag: 1 };
    return {
      kind: 'bigquery#dataset',
      id: `${projectId}:${datasetId}`,
      datasetReference: { projectId, datasetId },
      location: meta.location,
      access: meta.access,
      etag: String(meta.etag),
    };
  }

  /** datasets.patch: setup changes only `access`; each entry names one role and one principal. */
  function patchDataset(datasetId: string, body: unknown): unknown {
    getDataset(datasetId);
    const patch = (body ?? {}) as { access?: unknown; location?: unknown };
    const meta = datasetMeta.get(datasetId) ?? { location: 'US', access: [], etag: 1 };
    if (patch.location !== undefined && String(patch.location).toUpperCase() !== meta.location.toUpperCase()) {
      throw new ApiFailure(400, 'invalid', 'Cannot change the location of a dataset');
    }
    if (patch.access !== undefined) {
      if (!Array.isArray(patch.access)) throw new ApiFailure(400, 'invalid', 'access must be a list');
      for (const entry of patch.access as Record<string, unknown>[]) {
        const principals = ['userByEmail', 'groupByEmail', 'domain', 'specialGroup', 'iamMember', 'view', 'routine', 'dataset'].filter((k) => k in entry);
        if (principals.length !== 1) throw new ApiFailure(400, 'invalid', 'Each access entry names exactly one principal');
        if (!('view' in entry) && !/^(READER|WRITER|OWNER|roles\/[A-Za-z.]+)$/.test(String(entry.role))) throw new ApiFailure(400, 'invalid', `Invalid role ${String(entry.role)}`);
      }
      meta.access = patch.access as Record<string, unknown>[];
    }
    meta.etag++;
    datasetMeta.set(datasetId, meta);
    return getDataset(datasetId);
  }

  /**
   * tables.patch as BigQuery allows it: the schema may gain NULLABLE (or REPEATED) columns but
   * never lose or retype one; the partitioning column and type stay; the expiration may change.
   */
  function patchTable(datasetId: string, tableId: string, body: unknown): unknown {
    const table = getTable(datasetId, tableId);
    const patch = (body ?? {}) as { schema?: { fields?: FieldSchema[] }; timePartitioning?: { type?: string; field?: string; expirationMs?: string } };
    let fields = table.fields;
    if (patch.schema !== undefined) {
      const next = patch.schema.fields ?? [];
      for (const old of table.fields) {
        const kept = next.find((f) => f.name.toLowerCase() === old.name.toLowerCase());
        if (!kept) throw new ApiFailure(400, 'invalid', `Provided Schema does not match Table ${projectId}:${datasetId}.${tableId}. Field ${old.name} is missing in new schema`);
        if (kept.type !== old.type) throw new ApiFailure(400, 'invalid', `Provided Schema does not match Table. Field ${old.name} has changed type from ${old.type} to ${kept.type}`);
      }
      const added = next.filter((f) => !table.fields.some((old) => old.name.toLowerCase() === f.name.toLowerCase()));
      for (const f of added) {
        if (!TYPES.has(f.type) || !/^[A-Za-z_][A-Za-z0-9_]{0,299}$/.test(f.name)) throw new ApiFailure(400, 'invalid', `Invalid field ${f.name}`);
        if ((f.mode ?? 'NULLABLE') === 'REQUIRED') throw new ApiFailure(400, 'invalid', `Provided Schema does not match Table. Cannot add required field ${f.name}`);
        db.exec(`ALTER TABLE ${sqliteName(datasetId, tableId)} ADD COLUMN "${f.name}" ${sqliteType(f.type)}`);
      }
      fields = [...table.fields, ...added];
    }
    const old = (table.metadata.timePartitioning ?? {}) as { type?: string; field?: string };
    if (patch.timePartitioning !== undefined) {
      const tp = patch.timePartitioning;
      if ((tp.type ?? old.type) !== old.type || (tp.field ?? old.field) !== old.field) {
        throw new ApiFailure(400, 'invalid', 'Cannot change partitioning spec of a partitioned table');
      }
      if (tp.expirationMs !== undefined && !/^\d+$/.test(String(tp.expirationMs))) throw new ApiFailure(400, 'invalid', 'Invalid expirationMs');
    }
    const metadata = {
      ...table.metadata,
      schema: { fields },
      ...(patch.timePartitioning ? { timePartitioning: { ...old, ...patch.timePartitioning } } : {}),
    };
    datasets.get(datasetId)!.tables.set(tableId, { ...table, fields, metadata });
    return metadata;
  }

  function createDataset(body: unknown): unknown {
    const ref = (body as { datasetReference?: { datasetId?: unknown; projectId?: unknown } } | undefined)?.datasetReference;
    if (typeof ref?.datasetId !== 'string' || !/^[A-Za-z0-9_]{1,1024}$/.test(ref.datasetId)) {
      throw new ApiFailure(400, 'invalid', 'Invalid dataset ID');
    }
    if (ref.projectId !== undefined && ref.projectId !== projectId) throw new ApiFailure(400, 'invalid', 'Project mismatch');
    if (datasets.has(ref.datasetId)) throw new ApiFailure(409, 'duplicate', `Already Exists: Dataset ${projectId}:${ref.datasetId}`);
    datasets.set(ref.datasetId, { tables: new Map() });
    const location = (body as { location?: unknown }).location;
    datasetMeta.set(ref.datasetId, { location: typeof location === 'string' ? location : 'US', access: [], etag: 1 });
    return getDataset(ref.datasetId);
  }

  function getTable(datasetId: string, tableId: string): TableState {
    const table = datasets.get(datasetId)?.tables.get(tableId);
    if (!table) throw new ApiFailure(404, 'notFound', `Not found: Table ${projectId}:${datasetId}.${tableId}`);
    return table;
  }

  function createTable(datasetId: string, body: unknown): unknown {
    const ds = datasets.get(datasetId);
    if (!ds) throw new ApiFailure(404, 'notFound', `Not found: Dataset ${projectId}:${datasetId}`);
    const meta = (body ?? {}) as {
      tableReference?: { projectId?: string; datasetId?: string; tableId?: string };
      schema?: { fields?: FieldSchema[] };
      timePartitioning?: { type?: string; field?: string };
      clustering?: { fields?: string[] };
    };
    const ref = meta.tableReference;
    if (!ref || ref.projectId !== projectId || ref.datasetId !== datasetId || typeof ref.tableId !== 'string') {
      throw new ApiFailure(400, 'invalid', 'tableReference must name this project and dataset');
    }
    if (!/^[A-Za-z0-9_]{1,1024}$/.test(ref.tableId)) throw new ApiFailure(400, 'invalid', `Invalid table ID ${ref.tableId}`);
    const fields = meta.schema?.fields;
    if (!Array.isArray(fields) || fields.length === 0) throw new ApiFailure(400, 'invalid', 'Schema has no fields');
    const names = new Set<string>();
    for (const f of fields) {
      if (typeof f.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,299}$/.test(f.name)) {
        throw new ApiFailure(400, 'invalid', `Invalid field name "${f.name}"`);
      }
      if (names.has(f.name.toLowerCase())) throw new ApiFailure(400, 'invalid', `Duplicate field ${f.name}`);
      names.add(f.name.toLowerCase());
      if (!TYPES.has(f.type)) throw new ApiFailure(400, 'invalid', `Invalid type ${f.type} for field ${f.name}`);
      if (f.mode !== undefined && !MODES.has(f.mode)) throw new ApiFailure(400, 'invalid', `Invalid mode ${f.mode}`);
    }
    const byName = (n: string) => fields.find((f) => f.name === n);
    if (meta.timePartitioning) {
      const tp = meta.timePartitioning;
      if (!['DAY', 'HOUR', 'MONTH', 'YEAR'].includes(tp.type ?? '')) throw new ApiFailure(400, 'invalid', `Invalid partitioning type ${tp.type}`);
      if (tp.field !== undefined) {
        const f = byName(tp.field);
        if (!f || !['TIMESTAMP', 'DATE'].includes(f.type) || f.mode === 'REPEATED') {
          throw new ApiFailure(400, 'invalid', `The field specified for time partitioning can only be of type TIMESTAMP or DATE: ${tp.field}`);
        }
      }
    }
    if (meta.clustering) {
      const cf = meta.clustering.fields ?? [];
      if (cf.length === 0 || cf.length > 4) throw new ApiFailure(400, 'invalid', 'Clustering needs 1 to 4 fields');
      for (const n of cf) {
        const f = byName(n);
        if (!f || f.mode === 'REPEATED' || f.type === 'JSON') throw new ApiFailure(400, 'invalid', `Invalid clustering field ${n}`);
      }
    }
    if (ds.tables.has(ref.tableId)) throw new ApiFailure(409, 'duplicate', `Already Exists: Table ${projectId}:${datasetId}.${ref.tableId}`);
    const metadata = { kind: 'bigquery#table', id: `${projectId}:${datasetId}.${ref.tableId}`, ...meta, creationTime: String(Date.now()) };
    ds.tables.set(ref.tableId, { metadata, fields, rows: [], insertIds: new Set() });
    db.exec(
      `CREATE TABLE ${sqliteName(datasetId, ref.tableId)} (${fields.map((f) => `"${f.name}" ${sqliteType(f.type)}`).join(', ')})`,
    );
    return metadata;
  }

  function insertAll(datasetId: string, tableId: string, body: unknown): unknown {
    const table = getTable(datasetId, tableId);
    const req = (body ?? {}) as { rows?: unknown; skipInvalidRows?: boolean; ignoreUnknownValues?: boolean };
    if (!Array.isArray(req.rows) || req.rows.length === 0) throw new ApiFailure(400, 'invalid', 'No rows present in the request.');
    if (req.rows.length > 50_000) throw new ApiFailure(400, 'invalid', 'Too many rows present in the request, limit: 50000');
    const errors: { index: number; errors: { reason: string; message: string; location?: string }[] }[] = [];
    const rows = req.rows as { insertId?: unknown; json?: unknown }[];
    rows.forEach((row, index) => {
      const problem = validateRow(table.fields, row, Boolean(req.ignoreUnknownValues));
      if (problem) {
        errors.push({ index, errors: [{ reason: 'invalid', message: problem.message, location: problem.location }] });
        return;
      }
      const fault = rowFaults.find((f) => f.remaining > 0 && (!f.table || f.table === tableId) && f.match(row.json as Record<string, unknown>));
      if (fault) {
        fault.remaining--;
        errors.push({ index, errors: [{ reason: fault.reason, message: `Injected ${fault.reason}` }] });
      }
    });
    const invalid = errors.some((e) => e.errors.some((x) => x.reason === 'invalid'));
    if (invalid && !req.skipInvalidRows) {
      // The API writes nothing when a row is invalid: every other row is reported as stopped.
      const failed = new Set(errors.map((e) => e.index));
      rows.forEach((_, index) => {
        if (!failed.has(index)) errors.push({ index, errors: [{ reason: 'stopped', message: '' }] });
      });
      errors.sort((a, b) => a.index - b.index);
      return { kind: 'bigquery#tableDataInsertAllResponse', insertErrors: errors };
    }
    const failed = new Set(errors.map((e) => e.index));
    const insert = db.prepare(
      `INSERT INTO ${sqliteName(datasetId, tableId)} (${table.fields.map((f) => `"${f.name}"`).join(', ')}) VALUES (${table.fields
        .map((f) => `@${f.name}`)
        .join(', ')})`,
    );
    rows.forEach((row, index) => {
      if (failed.has(index)) return;
      const insertId = typeof row.insertId === 'string' ? row.insertId : undefined;
      if (insertId !== undefined && dedupe && table.insertIds.has(insertId)) return;
      if (insertId !== undefined) table.insertIds.add(insertId);
      const json = row.json as Record<string, unknown>;
      table.rows.push({ insertId, json });
      insert.run(Object.fromEntries(table.fields.map((f) => [f.name, toSqlite(f.type, json[f.name])])));
    });
    return errors.length > 0
      ? { kind: 'bigquery#tableDataInsertAllResponse', insertErrors: errors }
      : { kind: 'bigquery#tableDataInsertAllResponse' };
  }

  function runQuery(body: unknown): unknown {
    const req = (body ?? {}) as {
      query?: unknown;
      useLegacySql?: unknown;
      parameterMode?: unknown;
      queryParameters?: QueryParameter[];
      formatOptions?: { useInt64Timestamp?: boolean };
    };
    if (typeof req.query !== 'string' || req.query.trim() === '') throw new ApiFailure(400, 'invalid', 'Query is empty');
    if (req.useLegacySql !== false) throw new ApiFailure(400, 'invalidQuery', 'The fake only runs GoogleSQL (useLegacySql: false)');
    const parameters = req.queryParameters ?? [];
    queries.push({ sql: req.query, parameters });
    if (parameters.length > 0 && String(req.parameterMode).toUpperCase() !== 'NAMED') {
      throw new ApiFailure(400, 'invalid', 'parameterMode must be NAMED for named parameters');
    }
    const bound: Record<string, unknown> = {};
    for (const p of parameters) {
      if (typeof p.name !== 'string') throw new ApiFailure(400, 'invalid', 'Unnamed query parameter');
      bound[p.name] = paramValue(p);
    }
    const used = new Set([...stripStrings(req.query).matchAll(/@([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    for (const name of used) {
      if (!(name in bound)) throw new ApiFailure(400, 'invalidQuery', `Query parameter '${name}' not found`);
    }
    for (const name of Object.keys(bound)) {
      if (!used.has(name)) throw new ApiFailure(400, 'invalidQuery', `Query parameter '${name}' is not used`);
    }
    const translated = translateSql(req.query);
    let stmt: Database.Statement;
    try {
      stmt = db.prepare(translated);
    } catch (err) {
      throw new ApiFailure(400, 'invalidQuery', `Syntax error (fake BigQuery via SQLite): ${(err as Error).message}`);
    }
    const columns = stmt.columns();
    const result = stmt.all(bound) as Record<string, unknown>[];
    const int64Ts = req.formatOptions?.useInt64Timestamp === true;
    const fields = columns.map((c) => ({ name: c.name, type: resultType(c, result), mode: 'NULLABLE' }));
    const rows = result.map((r) => ({
      f: columns.map((c, i) => ({ v: encodeCell(fields[i]!.type, r[c.name], int64Ts) })),
    }));
    return {
      kind: 'bigquery#queryResponse',
      jobReference: { projectId, jobId: `job_${randomUUID()}`, location: 'US' },
      schema: { fields },
      rows,
      totalRows: String(rows.length),
      jobComplete: true,
      cacheHit: false,
    };
  }

  /** The BigQuery type of a result column: the source column's type when there is one. */
  function resultType(c: { name: string; column: string | null; table: string | null }, rows: Record<string, unknown>[]): string {
    if (c.table && c.column) {
      const [ds, t] = c.table.split('.');
      const f = datasets.get(ds ?? '')?.tables.get(t ?? '')?.fields.find((x) => x.name === c.column);
      if (f) return normalType(f.type);
    }
    // A computed column's type from its own values (not another column's).
    const sample = rows.map((r) => r[c.name]).find((v) => v !== null && v !== undefined);
    return typeof sample === 'number' && !Number.isInteger(sample) ? 'FLOAT64' : typeof sample === 'string' ? 'STRING' : 'INT64';
  }

  /** `project.dataset.table` in backticks → the SQLite table; unknown tables answer 404 like the API. */
  function translateSql(sql: string): string {
    const named = sql.replace(/`([^`]+)`/g, (_, ref: string) => {
      const parts = ref.split('.');
      const [p, d, t] = parts.length === 3 ? parts : [projectId, ...parts];
      if (p !== projectId || !d || !t) throw new ApiFailure(404, 'notFound', `Not found: Table ${ref}`);
      getTable(d, t);
      return sqliteName(d, t);
    });
    // `x IN UNNEST(@array)` (an ARRAY<STRING> parameter, bound as JSON text)
    const unnested = named.replace(/\bUNNEST\(@([A-Za-z_][A-Za-z0-9_]*)\)/g, '(SELECT value FROM json_each(@$1))');
    return rewriteQualify(unnested);
  }

  // Google's front ends keep idle connections open for minutes, not Node's default 5 s. With the
  // default, a query the fake answers synchronously (it runs in the caller's process) can block
  // the loop past an idle connection's timeout, and the client, not having seen the close yet,
  // sends its next request on it and reads ECONNRESET: a failure the real API does not have.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    projectId,
    requests,
    queries,
    datasets,
    table: (d, t) => datasets.get(d)?.tables.get(t),
    dataset: (d) => (datasets.has(d) ? (getDataset(d) as Record<string, unknown>) : undefined),
    mutatingRequests: () => requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/insertAll') && !r.path.endsWith('/queries')),
    deleteTable: (d, t) => {
      if (datasets.get(d)?.tables.delete(t)) db.exec(`DROP TABLE ${sqliteName(d, t)}`);
    },
    failRequests: (f) =>
      requestFaults.push({
        ...(f.method ? { method: f.method } : {}),
        pathIncludes: f.pathIncludes,
        remaining: f.times ?? 1,
        status: f.status ?? 503,
        reason: f.reason ?? 'backendError',
      }),
    failRows: (f) =>
      rowFaults.push({ ...(f.table ? { table: f.table } : {}), match: f.match, remaining: f.times ?? 1, reason: f.reason ?? 'backendError' }),
    insertRequests: (tableId) =>
      requests
        .filter((r) => r.method === 'POST' && r.path.endsWith(`/tables/${tableId}/insertAll`))
        .map((r) => r.body as { rows: { insertId?: string; json: Record<string, unknown> }[] }),
    client: (o = {}) => {
      return new BigQuery({
        projectId,
        apiEndpoint: url,
        // The writer retries rows itself; client retries would only slow failure tests down.
        autoRetry: o.autoRetry ?? false,
        ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
        authClient: fakeAuthClient() as never,
      });
    },
    clearFaults() {
      requestFaults.length = 0;
      rowFaults.length = 0;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      db.close();
    },
  };
}

function sqliteName(datasetId: string, tableId: string): string {
  return `"${datasetId}.${tableId}"`;
}

function normalType(t: string): string {
  return ({ INTEGER: 'INT64', FLOAT: 'FLOAT64', BOOLEAN: 'BOOL' } as Record<string, string>)[t] ?? t;
}

function sqliteType(t: string): string {
  switch (normalType(t)) {
    case 'INT64':
    case 'TIMESTAMP':
    case 'BOOL':
      return 'INTEGER';
    case 'FLOAT64':
      return 'REAL';
    default:
      return 'TEXT';
  }
}

/** Why a row would be rejected by insertAll, or null. */
function validateRow(
  fields: readonly FieldSchema[],
  row: { insertId?: unknown; json?: unknown },
  ignoreUnknown: boolean,
): { message: string; location?: string } | null {
  if (row.insertId !== undefined && (typeof row.insertId !== 'string' || row.insertId.length > MAX_INSERT_ID)) {
    return { message: `insertId must be a string of at most ${MAX_INSERT_ID} characters` };
  }
  if (row.json === null || typeof row.json !== 'object' || Array.isArray(row.json)) return { message: 'Row is not a JSON object' };
  const json = row.json as Record<string, unknown>;
  if (!ignoreUnknown) {
    for (const key of Object.keys(json)) {
      if (!fields.some((f) => f.name === key)) return { message: `no such field: ${key}.`, location: key };
    }
  }
  for (const f of fields) {
    const v = json[f.name];
    if (v === null || v === undefined) {
      if (f.mode === 'REQUIRED') return { message: `Missing required field: ${f.name}.`, location: f.name };
      continue;
    }
    if (!valueFits(normalType(f.type), v)) {
      return { message: `Cannot convert value to ${f.type} for field ${f.name}: ${JSON.stringify(v)?.slice(0, 80)}`, location: f.name };
    }
  }
  return null;
}

function valueFits(type: string, v: unknown): boolean {
  switch (type) {
    case 'STRING':
      return typeof v === 'string';
    case 'INT64':
      return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
    case 'FLOAT64':
      return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)));
    case 'BOOL':
      return typeof v === 'boolean' || v === 'true' || v === 'false';
    case 'TIMESTAMP':
      return (typeof v === 'string' && parseTimestampMicros(v) !== null) || (typeof v === 'number' && Number.isFinite(v));
    case 'JSON':
      if (typeof v !== 'string') return false;
      try {
        JSON.parse(v);
        return true;
      } catch {
        return false;
      }
    default:
      return true;
  }
}

/** ISO 8601 or `YYYY-MM-DD HH:MM:SS[.ffffff][Z| UTC]` → epoch microseconds. */
function parseTimestampMicros(s: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?\s*(Z|UTC|[+-]\d{2}:\d{2})?$/.exec(s.trim());
  if (!m) return null;
  const zone = m[4] === undefined || m[4] === 'UTC' ? 'Z' : m[4];
  const seconds = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(seconds)) return null;
  const fraction = Number(((m[3] ?? '') + '000000').slice(0, 6));
  return seconds * 1000 + fraction;
}

function toSqlite(type: string, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (normalType(type)) {
    case 'INT64':
      return Number(v);
    case 'FLOAT64':
      return Number(v);
    case 'BOOL':
      return v === true || v === 'true' ? 1 : 0;
    case 'TIMESTAMP':
      return typeof v === 'number' ? Math.round(v * 1_000_000) : parseTimestampMicros(String(v));
    case 'JSON':
      return JSON.stringify(JSON.parse(String(v)));
    default:
      return String(v);
  }
}

function paramValue(p: QueryParameter): unknown {
  const type = normalType(p.parameterType?.type ?? '');
  if (type === 'ARRAY') {
    // ARRAY<STRING> only, bound as JSON text: translateSql turns UNNEST(@p) into json_each(@p).
    const element = normalType(p.parameterType?.arrayType?.type ?? '');
    if (element !== 'STRING') throw new ApiFailure(400, 'invalidQuery', `The fake supports ARRAY<STRING> only, got ARRAY<${element}> (${p.name})`);
    const values = p.parameterValue?.arrayValues ?? [];
    if (values.some((v) => typeof v?.value !== 'string')) throw new ApiFailure(400, 'invalidQuery', `Invalid ARRAY<STRING> parameter ${p.name}`);
    return JSON.stringify(values.map((v) => v.value));
  }
  const v = p.parameterValue?.value;
  if (v === undefined || v === null) return null;
  switch (type) {
    case 'STRING':
      return String(v);
    case 'INT64':
      if (!/^-?\d+$/.test(String(v))) throw new ApiFailure(400, 'invalidQuery', `Invalid INT64 parameter ${p.name}: ${String(v)}`);
      return Number(v);
    case 'FLOAT64':
      return Number(v);
    case 'BOOL':
      return v === true || v === 'true' ? 1 : 0;
    case 'TIMESTAMP': {
      const micros = parseTimestampMicros(String(v));
      if (micros === null) throw new ApiFailure(400, 'invalidQuery', `Invalid TIMESTAMP parameter ${p.name}: ${String(v)}`);
      return micros;
    }
    default:
      throw new ApiFailure(400, 'invalidQuery', `The fake does not support ${type} parameters (${p.name})`);
  }
}

/** A result cell as the API sends it: every scalar as a string, TIMESTAMP as epoch µs or seconds. */
function encodeCell(type: string, v: unknown, int64Timestamp: boolean): string | null {
  if (v === null || v === undefined) return null;
  if (type === 'TIMESTAMP') {
    const micros = Number(v);
    return int64Timestamp ? String(micros) : (micros / 1_000_000).toString();
  }
  if (type === 'BOOL') return v ? 'true' : 'false';
  return String(v);
}

/** The SQL with string literals blanked, so `@` or keywords inside strings are not seen. */
function stripStrings(sql: string): string {
  return sql.replace(/'(?:[^'\\]|\\.)*'/g, (s) => `'${' '.repeat(s.length - 2)}'`);
}

/**
 * SQLite has window functions but no QUALIFY: `SELECT L FROM F WHERE W QUALIFY Q [ORDER…] [LIMIT…]`
 * becomes `SELECT L FROM (SELECT *, (Q) AS __qualify FROM F WHERE W) WHERE __qualify [ORDER…] [LIMIT…]`,
 * block by block (a QUALIFY inside a sub-select is rewritten inside its parentheses).
 */
export function rewriteQualify(sql: string): string {
  for (;;) {
    const plain = stripStrings(sql);
    const q = plain.search(/\bQUALIFY\b/i);
    if (q < 0) return sql;
    let depth = 0;
    let blockStart = 0;
    for (let i = q - 1; i >= 0; i--) {
      if (plain[i] === ')') depth++;
      else if (plain[i] === '(') {
        if (depth === 0) {
          blockStart = i + 1;
          break;
        }
        depth--;
      }
    }
    depth = 0;
    let blockEnd = sql.length;
    for (let i = q; i < plain.length; i++) {
      if (plain[i] === '(') depth++;
      else if (plain[i] === ')') {
        if (depth === 0) {
          blockEnd = i;
          break;
        }
        depth--;
      }
    }
    const head = sql.slice(blockStart, q);
    const tail = sql.slice(q + 'QUALIFY'.length, blockEnd);
    const fromAt = topLevelKeyword(head, 'FROM');
    const selectAt = topLevelKeyword(head, 'SELECT');
    if (fromAt < 0 || selectAt < 0) throw new ApiFailure(400, 'invalidQuery', 'QUALIFY outside a SELECT … FROM block');
    const list = head.slice(selectAt + 'SELECT'.length, fromAt);
    const source = head.slice(fromAt);
    const orderAt = topLevelKeyword(tail, 'ORDER');
    const limitAt = topLevelKeyword(tail, 'LIMIT');
    const cut = [orderAt, limitAt].filter((i) => i >= 0).sort((a, b) => a - b)[0] ?? tail.length;
    const condition = tail.slice(0, cut);
    const rest = tail.slice(cut);
    const block = `SELECT ${list.trim()} FROM (SELECT *, (${condition.trim()}) AS __qualify ${source.trim()}) WHERE __qualify ${rest.trim()}`;
    sql = `${sql.slice(0, blockStart)}${block}${sql.slice(blockEnd)}`;
  }
}

function topLevelKeyword(text: string, keyword: string): number {
  const plain = stripStrings(text);
  const re = new RegExp(`\\b${keyword}\\b`, 'gi');
  let m: RegExpExecArray | null;
  while ((m = re.exec(plain))) {
    let depth = 0;
    for (let i = 0; i < m.index; i++) {
      if (plain[i] === '(') depth++;
      else if (plain[i] === ')') depth--;
    }
    if (depth === 0) return m.index;
  }
  return -1;
}
