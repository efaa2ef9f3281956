/**
 * A local stand-in for the Cloud Storage JSON API, for the real @google-cloud/storage client
 * (Google ships no emulator). It keeps objects in memory with generations, and checks what the
 * client sends: multipart (not resumable) uploads with their metadata part, `ifGenerationMatch`
 * preconditions (412 when they fail), `generation`-pinned downloads, listings with prefix,
 * matchGlob and pages. It answers with the API's checksums (crc32c, md5) so the client's
 * integrity checks run, and can inject error statuses or dropped connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { Storage } from '@google-cloud/storage';

export interface StoredObject {
  readonly bucket: string;
  readonly name: string;
  readonly data: Buffer;
  readonly generation: number;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: Date;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

interface Fault {
  readonly method?: string;
  readonly match: (path: string, query: URLSearchParams) => boolean;
  remaining: number;
  /** An HTTP status, or 'reset' to drop the connection without an answer. */
  readonly status: number | 'reset';
  /** Apply the request first, then fail the response (the client sees an error, the write happened). */
  readonly afterApplying: boolean;
}

export interface FakeGcs {
  readonly url: string;
  readonly requests: RecordedRequest[];
  createBucket(name: string): void;
  /** A bucket's metadata as the API answers it (location, iamConfiguration, lifecycle, ...). */
  bucketMetadata(name: string): Record<string, unknown> | undefined;
  /** Overwrites part of a bucket's metadata behind the client's back (drift in tests). */
  driftBucket(name: string, metadata: Record<string, unknown>): void;
  /** A bucket's IAM policy (bindings and etag). */
  bucketPolicy(name: string): { bindings: { role: string; members: string[] }[]; etag: string } | undefined;
  /** Requests that change state (anything but GET), setup's plan must send none. */
  mutatingRequests(): RecordedRequest[];
  /** Seeds an object (creating its bucket). */
  put(bucket: string, name: string, data: string | Buffer, contentType?: string): StoredObject;
  object(bucket: string, name: string): StoredObject | undefined;
  objects(bucket: string): StoredObject[];
  /**
   * The next `times` matching requests fail with `status` (default 503) or a dropped connection.
   * `afterApplying` makes an upload succeed on the server and still fail on the wire.
   */
  failRequests(fault: {
    method?: string;
    pathIncludes?: string;
    match?: (path: string, query: URLSearchParams) => boolean;
    times?: number;
    status?: number | 'reset';
    afterApplying?: boolean;
  }): void;
  /** Ends every injected fault (an outage is over). */
  clearFaults(): void;
  /** A real client pointed at this server (client retries on unless maxRetries is 0, with short delays). */
  client(options?: { maxRetries?: number }): Storage;
  close(): Promise<void>;
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
 * const gcs = await startFakeGcs();
 * t.teardown(() => gcs.close());
 * gcs.put('in-bucket', 'uploads/D1/version_a.json', '[]');
 */
export async function startFakeGcs(options: { sparseGlobPages?: boolean } = {}): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  /** Bucket resources beyond their objects: seeded buckets get the API's defaults. */
  const bucketMeta = new Map<string, Record<string, unknown>>();
  const policies = new Map<string, { bindings: { role: string; members: string[] }[]; etag: string }>();
  let etagClock = 1;
  const defaultMeta = (): Record<string, unknown> => ({
    location: 'US',
    iamConfiguration: { uniformBucketLevelAccess: { enabled: false }, publicAccessPrevention: 'inherited' },
  });
  const metaOf = (name: string): Record<string, unknown> => {
    bucket(name);
    if (!bucketMeta.has(name)) bucketMeta.set(name, defaultMeta());
    return bucketMeta.get(name)!;
  };
  const policyOf = (name: string) => {
    bucket(name);
    if (!policies.has(name)) policies.set(name, { bindings: [], etag: `CA${etagClock++}` });
    return policies.get(name)!;
  };
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  let generationClock = 1_700_000_000_000_000;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      requests.push({ method, path: url.pathname, query: url.searchParams, headers: req.headers, body });
      const fault = faults.find((f) => f.remaining > 0 && (!f.method || f.method === method) && f.match(url.pathname, url.searchParams));
      if (fault) fault.remaining--;
      if (fault && !fault.afterApplying) return fail(res, fault.status);
      try {
        const answer = route(method, url, req.headers, body);
        if (fault) return fail(res, fault.status);
        if (answer.kind === 'media') {
          res.writeHead(200, {
            'content-type': answer.object.contentType,
            'content-length': String(answer.object.data.length),
            'x-goog-generation': String(answer.object.generation),
            'x-goog-hash': `crc32c=${crc32cBase64(answer.object.data)},md5=${md5Base64(answer.object.data)}`,
            'x-goog-stored-content-length': String(answer.object.data.length),
          });
          res.end(answer.object.data);
        } else if (answer.kind === 'empty') {
          res.writeHead(204);
          res.end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify(answer.json));
        }
      } catch (err) {
        const f = err instanceof ApiFailure ? err : new ApiFailure(500, 'internalError', String(err));
        res.writeHead(f.status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(JSON.stringify({ error: { code: f.status, message: f.message, errors: [{ message: f.message, domain: 'global', reason: f.reason }] } }));
      }
    });
  });

  function fail(res: http.ServerResponse, status: number | 'reset'): void {
    if (status === 'reset') {
      res.socket?.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(JSON.stringify({ error: { code: status, message: `Injected ${status}`, errors: [{ message: `Injected ${status}`, domain: 'global', reason: 'backendError' }] } }));
  }

  type Answer = { kind: 'json'; json: unknown } | { kind: 'media'; object: StoredObject } | { kind: 'empty' };

  function route(method: string, url: URL, headers: http.IncomingHttpHeaders, body: Buffer): Answer {
    const p = url.pathname;
    const qs = url.searchParams;
    let m: RegExpExecArray | null;
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(p)) && method === 'POST') {
      return { kind: 'json', json: upload(decodeURIComponent(m[1]!), qs, headers, body) };
    }
    if (p === '/storage/v1/b' && method === 'POST') return { kind: 'json', json: insertBucket(qs, body) };
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(p)) && method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      return { kind: 'json', json: { kind: 'storage#bucket', id: name, name, ...metaOf(name) } };
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(p)) && method === 'PATCH') {
      const name = decodeURIComponent(m[1]!);
      return { kind: 'json', json: { kind: 'storage#bucket', id: name, name, ...patchBucket(name, jsonBody(body)) } };
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/iam$/.exec(p)) && method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      return { kind: 'json', json: { kind: 'storage#policy', resourceId: `projects/_/buckets/${name}`, version: 1, ...policyOf(name) } };
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/iam$/.exec(p)) && method === 'PUT') {
      const name = decodeURIComponent(m[1]!);
      return { kind: 'json', json: { kind: 'storage#policy', resourceId: `projects/_/buckets/${name}`, version: 1, ...setPolicy(name, jsonBody(body)) } };
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(p)) && method === 'GET') {
      return { kind: 'json', json: list(decodeURIComponent(m[1]!), qs) };
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(p))) {
      const b = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      const obj = find(b, name, qs.get('generation'));
      if (method === 'GET') return qs.get('alt') === 'media' ? { kind: 'media', object: obj } : { kind: 'json', json: resource(obj) };
      if (method === 'DELETE') {
        bucket(b).delete(name);
        return { kind: 'empty' };
      }
    }
    throw new ApiFailure(404, 'notFound', `fake GCS does not serve ${method} ${p}`);
  }

  function jsonBody(body: Buffer): Record<string, unknown> {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through
    }
    throw new ApiFailure(400, 'parseError', 'Request body is not a JSON object');
  }

  /** What buckets.insert and buckets.patch check of the fields setup sends. */
  function checkBucketFields(meta: Record<string, unknown>): void {
    const iam = meta.iamConfiguration as { publicAccessPrevention?: unknown; uniformBucketLevelAccess?: { enabled?: unknown } } | undefined;
    if (iam?.publicAccessPrevention !== undefined && !['enforced', 'inherited'].includes(String(iam.publicAccessPrevention))) {
      throw new ApiFailure(400, 'invalid', `Invalid publicAccessPrevention ${String(iam.publicAccessPrevention)}`);
    }
    if (iam?.uniformBucketLevelAccess !== undefined && typeof iam.uniformBucketLevelAccess.enabled !== 'boolean') {
      throw new ApiFailure(400, 'invalid', 'uniformBucketLevelAccess.enabled must be a boolean');
    }
    const rules = (meta.lifecycle as { rule?: unknown } | undefined)?.rule;
    if (rules !== undefined) {
      if (!Array.isArray(rules)) throw new ApiFailure(400, 'invalid', 'lifecycle.rule must be a list');
      for (const r of rules as { action?: { type?: unknown }; condition?: { age?: unknown } }[]) {
        if (!['Delete', 'SetStorageClass', 'AbortIncompleteMultipartUpload'].includes(String(r.action?.type))) throw new ApiFailure(400, 'invalid', 'Invalid lifecycle action');
        if (!r.condition || Object.keys(r.condition).length === 0) throw new ApiFailure(400, 'invalid', 'A lifecycle rule needs a condition');
        if (r.condition.age !== undefined && !(Number.isInteger(r.condition.age) && (r.condition.age as number) >= 0)) throw new ApiFailure(400, 'invalid', 'Invalid lifecycle age');
      }
    }
  }

  function insertBucket(qs: URLSearchParams, body: Buffer): unknown {
    if (!qs.get('project')) throw new ApiFailure(400, 'required', 'Required parameter: project');
    const meta = jsonBody(body);
    const name = meta.name;
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(name)) throw new ApiFailure(400, 'invalid', `Invalid bucket name: ${String(name)}`);
    if (buckets.has(name)) throw new ApiFailure(409, 'conflict', 'Your previous request to create the named bucket succeeded and you already own it.');
    checkBucketFields(meta);
    const { name: _name, ...rest } = meta;
    buckets.set(name, new Map());
    bucketMeta.set(name, { ...defaultMeta(), ...rest, location: String(rest.location ?? 'US').toUpperCase() });
    return { kind: 'storage#bucket', id: name, name, ...bucketMeta.get(name) };
  }

  function patchBucket(name: string, patch: Record<string, unknown>): Record<string, unknown> {
    const current = metaOf(name);
    checkBucketFields(patch);
    if (patch.location !== undefined && String(patch.location).toUpperCase() !== current.location) throw new ApiFailure(400, 'invalid', 'A bucket cannot move');
    const next = { ...current, ...patch };
    if (patch.iamConfiguration) next.iamConfiguration = { ...(current.iamConfiguration as object), ...(patch.iamConfiguration as object) };
    bucketMeta.set(name, next);
    return next;
  }

  function setPolicy(name: string, body: Record<string, unknown>): { bindings: { role: string; members: string[] }[]; etag: string } {
    const current = policyOf(name);
    if (body.etag !== undefined && body.etag !== current.etag) throw new ApiFailure(412, 'conditionNotMet', 'The etag does not match: the policy changed');
    const bindings = body.bindings;
    if (!Array.isArray(bindings)) throw new ApiFailure(400, 'invalid', 'bindings must be a list');
    for (const b of bindings as { role?: unknown; members?: unknown }[]) {
      if (typeof b.role !== 'string' || !/^roles\/[A-Za-z.]+$/.test(b.role)) throw new ApiFailure(400, 'invalid', `Invalid role ${String(b.role)}`);
      if (!Array.isArray(b.members) || b.members.some((m) => typeof m !== 'string' || !/^(serviceAccount|user|group|domain|projectViewer|projectEditor|projectOwner):\S+$/.test(m))) {
        throw new ApiFailure(400, 'invalid', `Invalid members for ${b.role}`);
      }
      if ((b.members as string[]).some((m) => m === 'allUsers' || m === 'allAuthenticatedUsers')) throw new ApiFailure(412, 'conditionNotMet', 'public access prevention');
    }
    const next = { bindings: bindings as { role: string; members: string[] }[], etag: `CA${etagClock++}` };
    policies.set(name, next);
    return next;
  }

  function bucket(name: string): Map<string, StoredObject> {
    const b = buckets.get(name);
    if (!b) throw new ApiFailure(404, 'notFound', 'The specified bucket does not exist.');
    return b;
  }

  function find(b: string, name: string, generation: string | null): StoredObject {
    const obj = bucket(b).get(name);
    if (!obj || (generation !== null && String(obj.generation) !== generation)) {
      throw new ApiFailure(404, 'notFound', `No such object: ${b}/${name}`);
    }
    return obj;
  }

  function upload(b: string, qs: URLSearchParams, headers: http.IncomingHttpHeaders, body: Buffer): unknown {
    const objects = bucket(b);
    if (qs.get('uploadType') !== 'multipart') {
      throw new ApiFailure(400, 'invalid', `fake GCS only accepts uploadType=multipart, got ${qs.get('uploadType')}`);
    }
    const { metadata, data } = parseMultipart(headers['content-type'] ?? '', body);
    const name = qs.get('name') ?? (typeof metadata.name === 'string' ? metadata.name : null);
    if (!name) throw new ApiFailure(400, 'required', 'Required: object name');
    checkObjectName(name);
    const existing = objects.get(name);
    const ifMatch = qs.get('ifGenerationMatch');
    if (ifMatch !== null && String(existing?.generation ?? 0) !== ifMatch) {
      throw new ApiFailure(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    }
    const custom = metadata.metadata ?? {};
    if (typeof custom !== 'object' || Object.values(custom as object).some((v) => typeof v !== 'string')) {
      throw new ApiFailure(400, 'invalid', 'Custom metadata values must be strings');
    }
    const obj: StoredObject = {
      bucket: b,
      name,
      data,
      generation: ++generationClock,
      contentType: typeof metadata.contentType === 'string' ? metadata.contentType : 'application/octet-stream',
      metadata: custom as Record<string, string>,
      created: new Date(),
    };
    objects.set(name, obj);
    return resource(obj);
  }

  /**
   * objects.list as the API pages it: names in lexicographic order after the page token, at most
   * `maxResults` (default and ceiling 1,000) items plus prefixes per page, `nextPageToken` only
   * when more follow. A prefix rolls up every name under it, so it appears once, on one page.
   * With `sparseGlobPages`, a page covers `maxResults` names before `matchGlob` filters them, so
   * pages come back short or empty with a token, as the API allows for filtered listings.
   */
  function list(b: string, qs: URLSearchParams): unknown {
    const objects = bucket(b);
    const prefix = qs.get('prefix') ?? '';
    const delimiter = qs.get('delimiter');
    const glob = qs.get('matchGlob');
    const globRe = glob === null ? null : globToRegExp(glob);
    const maxResults = Math.min(Number(qs.get('maxResults') ?? 1000) || 1000, 1000);
    const after = qs.get('pageToken') ? Buffer.from(qs.get('pageToken')!, 'base64url').toString('utf8') : null;
    const sparse = Boolean(options.sparseGlobPages && globRe);
    const names = [...objects.keys()]
      .filter((n) => n.startsWith(prefix) && (after === null || n > after) && (sparse || !globRe || globRe.test(n)))
      .sort();
    const items: StoredObject[] = [];
    const prefixes: string[] = [];
    let last: string | null = null;
    let scanned = 0;
    let i = 0;
    for (; i < names.length; i++) {
      if (items.length + prefixes.length >= maxResults) break;
      if (sparse && scanned >= maxResults) break;
      const n = names[i]!;
      scanned++;
      last = n;
      if (globRe && !globRe.test(n)) continue;
      const rest = n.slice(prefix.length);
      if (delimiter && rest.includes(delimiter)) {
        const rolled = prefix + rest.slice(0, rest.indexOf(delimiter) + delimiter.length);
        prefixes.push(rolled);
        // Everything under the rolled-up prefix is consumed with it.
        while (i + 1 < names.length && names[i + 1]!.startsWith(rolled)) last = names[++i]!;
      } else items.push(objects.get(n)!);
    }
    const more = i < names.length;
    return {
      kind: 'storage#objects',
      ...(items.length > 0 ? { items: items.map(resource) } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(more && last !== null ? { nextPageToken: Buffer.from(last, 'utf8').toString('base64url') } : {}),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    requests,
    createBucket: (name) => {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    bucketMetadata: (name) => (buckets.has(name) ? structuredClone(metaOf(name)) : undefined),
    driftBucket: (name, metadata) => {
      bucketMeta.set(name, { ...metaOf(name), ...metadata });
    },
    bucketPolicy: (name) => (buckets.has(name) ? structuredClone(policyOf(name)) : undefined),
    mutatingRequests: () => requests.filter((r) => r.method !== 'GET'),
    put: (b, name, data, contentType = 'application/json') => {
      if (!buckets.has(b)) buckets.set(b, new Map());
      const obj: StoredObject = {
        bucket: b,
        name,
        data: Buffer.isBuffer(data) ? data : Buffer.from(data),
        generation: ++generationClock,
        contentType,
        metadata: {},
        created: new Date(),
      };
      buckets.get(b)!.set(name, obj);
      return obj;
    },
    object: (b, name) => buckets.get(b)?.get(name),
    objects: (b) => [...(buckets.get(b)?.values() ?? [])].sort((x, y) => (x.name < y.name ? -1 : 1)),
    clearFaults: () => void (faults.length = 0),
    failRequests: (f) =>
      faults.push({
        ...(f.method ? { method: f.method } : {}),
        match: f.match ?? ((path) => path.includes(f.pathIncludes ?? '')),
        remaining: f.times ?? 1,
        status: f.status ?? 503,
        afterApplying: f.afterApplying ?? false,
      }),
    client: (o = {}) =>
      new Storage({
        projectId: 'buildtrace-test',
        apiEndpoint: url,
        // maxRetries: 0 would read as "default" (3); autoRetry: false is how the client spells none.
        // maxRetryDelay below 1 s breaks multipart-upload retries (their minimum delay is 1 s).
        retryOptions: {
          autoRetry: (o.maxRetries ?? 2) > 0,
          maxRetries: Math.max(1, o.maxRetries ?? 2),
          retryDelayMultiplier: 1.1,
          maxRetryDelay: 1,
          totalTimeout: 30,
        },
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The API's object resource: numbers as strings, checksums base64. */
function resource(o: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    name: o.name,
    bucket: o.bucket,
    generation: String(o.generation),
    metageneration: '1',
    contentType: o.contentType,
    size: String(o.data.length),
    md5Hash: md5Base64(o.data),
    crc32c: crc32cBase64(o.data),
    timeCreated: o.created.toISOString(),
    updated: o.created.toISOString(),
    ...(Object.keys(o.metadata).length > 0 ? { metadata: o.metadata } : {}),
  };
}

function checkObjectName(name: string): void {
  if (Buffer.byteLength(name) > 1024) throw new ApiFailure(400, 'invalid', 'Object name longer than 1024 bytes');
  if (/[\r\n]/.test(name) || name === '.' || name === '..') throw new ApiFailure(400, 'invalid', `Invalid object name ${JSON.stringify(name)}`);
}

/** `multipart/related`: a JSON metadata part, then the media part. */
function parseMultipart(contentType: string, body: Buffer): { metadata: Record<string, unknown>; data: Buffer } {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!contentType.startsWith('multipart/related') || !boundary) {
    throw new ApiFailure(400, 'invalid', `Expected multipart/related upload, got ${contentType}`);
  }
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(at + delimiter.length, next));
    at = next;
  }
  if (parts.length !== 2) throw new ApiFailure(400, 'invalid', `Expected 2 multipart parts, got ${parts.length}`);
  const [meta, media] = parts.map((part) => {
    const split = part.indexOf('\r\n\r\n');
    const content = part.subarray(split + 4);
    // each part ends with CRLF before the next delimiter
    return content.subarray(0, content.length - (content.subarray(-2).toString() === '\r\n' ? 2 : 0));
  }) as [Buffer, Buffer];
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(meta.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ApiFailure(400, 'parseError', 'Metadata part is not JSON');
  }
  return { metadata, data: media };
}

/** GCS matchGlob: `**` any, `*` and `?` within a segment, `[...]` classes, `{a,b}` alternatives. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i);
      re += glob.slice(i, end + 1);
      i = end;
    } else if (c === '{') {
      const end = glob.indexOf('}', i);
      re += `(?:${glob.slice(i + 1, end).split(',').map(escapeRe).join('|')})`;
      i = end;
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C (Castagnoli), big-endian, base64 — the form GCS reports. */
export function crc32cBase64(data: Buffer): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}
