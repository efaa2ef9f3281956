/**
 * A local stand-in for the REST APIs `buildtrace setup` calls beyond the client libraries:
 * Resource Manager (the project, its number and IAM policy), IAM (service accounts and their
 * policies) and Pub/Sub IAM policies on topics and subscriptions (the emulator answers no IAM
 * call; which topics and subscriptions exist is asked of the emulator). One server serves all
 * three, as RESOURCE_MANAGER_API_ENDPOINT, IAM_API_ENDPOINT and PUBSUB_API_ENDPOINT. It checks
 * what the API would: the loopback token, etags (a stale read-modify-write fails with 409),
 * role names fitting the resource, and that a service account member in this project exists.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOOPBACK_ACCESS_TOKEN } from '../../sinks/bigquery/config.js';

export interface IamBinding {
  role: string;
  members: string[];
}

export interface IamPolicy {
  bindings: IamBinding[];
  etag: string;
  version: number;
}

export interface FakeIamRequest {
  readonly method: string;
  readonly path: string;
  readonly body: unknown;
}

export interface FakeIam {
  readonly url: string;
  readonly projectNumber: string;
  readonly requests: FakeIamRequest[];
  /** Service accounts by email. */
  readonly serviceAccounts: Map<string, { email: string; displayName?: string }>;
  /** Policies by resource (`projects/P`, `projects/P/topics/T`, `projects/P/serviceAccounts/E`). */
  policy(resource: string): IamPolicy;
  /** Requests that change state: creates and setIamPolicy. */
  mutatingRequests(): FakeIamRequest[];
  close(): Promise<void>;
}

class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Starts the fake on 127.0.0.1 (a free port).
 *
 * @example
 * const iam = await startFakeIam({ projectId: 'p', pubsubExists: async (kind, id) => ... });
 * t.teardown(() => iam.close());
 */
export async function startFakeIam(options: {
  readonly projectId: string;
  readonly projectNumber?: string;
  /** Whether a topic or subscription exists (the emulator's answer). */
  readonly pubsubExists: (kind: 'topics' | 'subscriptions', id: string) => Promise<boolean>;
}): Promise<FakeIam> {
  const { projectId } = options;
  const projectNumber = options.projectNumber ?? '123456789012';
  const requests: FakeIamRequest[] = [];
  const serviceAccounts = new Map<string, { email: string; displayName?: string }>();
  const policies = new Map<string, IamPolicy>();
  let etagClock = 1;
  const policyOf = (resource: string): IamPolicy => {
    if (!policies.has(resource)) policies.set(resource, { bindings: [], etag: `BwY${etagClock++}`, version: 1 });
    return policies.get(resource)!;
  };

  async function route(method: string, path: string, body: Record<string, unknown>): Promise<unknown> {
    const prefix = `/v1/projects/${projectId}`;
    if (!path.startsWith(prefix)) throw new ApiFailure(403, `The caller does not have permission (unknown project in ${path})`);
    const rest = path.slice(prefix.length);
    let m: RegExpExecArray | null;
    if (rest === '' && method === 'GET') return { projectId, projectNumber, lifecycleState: 'ACTIVE' };
    if ((m = /^:(getIamPolicy|setIamPolicy)$/.exec(rest)) && method === 'POST') return policyCall(`projects/${projectId}`, m[1]!, body, 'roles/');
    if (rest === '/serviceAccounts' && method === 'POST') return createAccount(body);
    if ((m = /^\/serviceAccounts\/([^/:]+)$/.exec(rest)) && method === 'GET') {
      const account = serviceAccounts.get(decodeURIComponent(m[1]!));
      if (!account) throw new ApiFailure(404, `Unknown service account`);
      return { name: `projects/${projectId}/serviceAccounts/${account.email}`, ...account };
    }
    if ((m = /^\/serviceAccounts\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(rest)) && method === 'POST') {
      const email = decodeURIComponent(m[1]!);
      if (!serviceAccounts.has(email)) throw new ApiFailure(404, `Unknown service account ${email}`);
      return policyCall(`projects/${projectId}/serviceAccounts/${email}`, m[2]!, body, 'roles/iam.');
    }
    if ((m = /^\/(topics|subscriptions)\/([^/:]+)(?::(getIamPolicy|setIamPolicy))?$/.exec(rest))) {
      const kind = m[1] as 'topics' | 'subscriptions';
      const id = decodeURIComponent(m[2]!);
      if (!(await options.pubsubExists(kind, id))) throw new ApiFailure(404, `Resource not found (resource=${id}).`);
      if (!m[3] && method === 'GET') return { name: `projects/${projectId}/${kind}/${id}` };
      if (m[3] && method === 'POST') return policyCall(`projects/${projectId}/${kind}/${id}`, m[3], body, 'roles/pubsub.');
    }
    throw new ApiFailure(404, `fake IAM does not serve ${method} ${path}`);
  }

  function createAccount(body: Record<string, unknown>): unknown {
    const accountId = body.accountId;
    if (typeof accountId !== 'string' || !/^[a-z]([-a-z0-9]{4,28}[a-z0-9])$/.test(accountId)) throw new ApiFailure(400, `Invalid accountId ${String(accountId)}`);
    const email = `${accountId}@${projectId}.iam.gserviceaccount.com`;
    if (serviceAccounts.has(email)) throw new ApiFailure(409, `Service account ${accountId} already exists within project projects/${projectId}.`);
    const displayName = (body.serviceAccount as { displayName?: string } | undefined)?.displayName;
    serviceAccounts.set(email, { email, ...(displayName ? { displayName } : {}) });
    return { name: `projects/${projectId}/serviceAccounts/${email}`, email };
  }

  function policyCall(resource: string, verb: string, body: Record<string, unknown>, rolePrefix: string): IamPolicy {
    const current = policyOf(resource);
    if (verb === 'getIamPolicy') return current;
    const policy = body.policy as Partial<IamPolicy> | undefined;
    if (!policy || !Array.isArray(policy.bindings)) throw new ApiFailure(400, 'setIamPolicy needs {"policy": {"bindings": [...]}}');
    if (policy.etag !== undefined && policy.etag !== current.etag) throw new ApiFailure(409, 'There were concurrent policy changes (etag mismatch).');
    for (const b of policy.bindings) {
      if (typeof b.role !== 'string' || !b.role.startsWith(rolePrefix) || !/^roles\/[A-Za-z.]+$/.test(b.role)) {
        throw new ApiFailure(400, `Role ${String(b.role)} is not supported for this resource.`);
      }
      for (const member of b.members ?? []) checkMember(member);
    }
    const next = { bindings: policy.bindings.map((b) => ({ role: b.role, members: [...b.members] })), etag: `BwY${etagClock++}`, version: 1 };
    policies.set(resource, next);
    return next;
  }

  function checkMember(member: string): void {
    const sa = /^serviceAccount:(.+)$/.exec(member);
    if (!sa) {
      if (!/^(user|group|domain):\S+$/.test(member)) throw new ApiFailure(400, `Invalid member ${member}`);
      return;
    }
    const email = sa[1]!;
    const wi = /^([a-z][a-z0-9-]+)\.svc\.id\.goog\[([a-z0-9-]+)\/([a-z0-9-]+)\]$/.exec(email);
    if (wi) {
      if (wi[1] !== projectId) throw new ApiFailure(400, `Identity namespace ${wi[1]}.svc.id.goog is not this project's`);
      return;
    }
    if (email.endsWith(`@${projectId}.iam.gserviceaccount.com`) && !serviceAccounts.has(email)) {
      throw new ApiFailure(400, `Service account ${email} does not exist.`);
    }
    const agent = /^service-(\d+)@gcp-sa-pubsub\.iam\.gserviceaccount\.com$/.exec(email);
    if (agent && agent[1] !== projectNumber) throw new ApiFailure(400, `Service account ${email} does not exist.`);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const method = req.method ?? 'GET';
      const path = decodeURIComponent(url.pathname);
      let body: Record<string, unknown> = {};
      const answer = async (): Promise<unknown> => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (raw) {
          try {
            body = JSON.parse(raw) as Record<string, unknown>;
          } catch {
            throw new ApiFailure(400, 'Invalid JSON payload');
          }
        }
        requests.push({ method, path, body });
        if (req.headers.authorization !== `Bearer ${LOOPBACK_ACCESS_TOKEN}`) throw new ApiFailure(401, 'Request had invalid authentication credentials.');
        return route(method, path, body);
      };
      answer().then(
        (json) => {
          res.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify(json));
        },
        (err: unknown) => {
          const f = err instanceof ApiFailure ? err : new ApiFailure(500, String(err));
          res.writeHead(f.status, { 'content-type': 'application/json; charset=UTF-8' });
          res.end(JSON.stringify({ error: { code: f.status, message: f.message } }));
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    projectNumber,
    requests,
    serviceAccounts,
    policy: (resource) => structuredClone(policyOf(resource)),
    mutatingRequests: () => requests.filter((r) => r.method !== 'GET' && !r.path.endsWith(':getIamPolicy')),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
