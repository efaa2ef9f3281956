/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of a local fake (the BigQuery fake): the
 * service is pointed at the proxy, and the test decides when the "API" is down. Faults are by
 * time (an outage lasts until `recover()`), not by request count, because a real outage does
 * not care how many retries a client makes. It also stands where Google's front end would: it
 * checks the bearer token the service sends and uses the fake's own token onward.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultProxyOptions {
  /** Base URL of the server behind the proxy, e.g. the fake BigQuery's `url`. */
  readonly target: string;
  /** Requests must carry `Bearer <expectToken>`; others get 401 and never reach the target. */
  readonly expectToken?: string;
  /** Authorization sent onward as `Bearer <forwardToken>` (the target's own check). */
  readonly forwardToken?: string;
}

export interface FaultProxyStats {
  /** Requests passed to the target and answered by it. */
  forwarded: number;
  /** Requests answered with the outage status instead. */
  refused: number;
  /** Requests refused for a missing or wrong token. */
  unauthorized: number;
  /** Requests held unanswered by `hang()`. */
  held: number;
}

export interface FaultProxy {
  readonly url: string;
  readonly stats: FaultProxyStats;
  /** Every request is answered `status` (503 by default) from now until `recover()`. */
  outage(status?: number): void;
  /** Every request is held unanswered from now until `recover()`, which drops them (a hung API). */
  hang(): void;
  recover(): void;
  /** Whether an outage is on. */
  readonly down: boolean;
  /** Requests held by `hang()` whose connection is still open (a client that gave up closed it). */
  readonly holding: number;
  close(): Promise<void>;
}

/**
 * Starts the proxy on a free port of 127.0.0.1.
 *
 * @example
 * const proxy = await startFaultProxy({ target: bq.url, expectToken: LOOPBACK_ACCESS_TOKEN, forwardToken: FAKE_TOKEN });
 * t.teardown(() => proxy.close());
 * proxy.outage(503); // … later
 * proxy.recover();
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) {
    throw new RangeError(`the fault proxy forwards to loopback only, got ${options.target}`);
  }
  const stats: FaultProxyStats = { forwarded: 0, refused: 0, unauthorized: 0, held: 0 };
  let outageStatus: number | null = null;
  let hanging = false;
  const heldResponses = new Set<http.ServerResponse>();

  const answer = (res: http.ServerResponse, status: number, reason: string, message: string): void => {
    // The shape Google APIs use for errors, so the client reports it as the API would.
    const body = JSON.stringify({ error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: reason } });
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    if (options.expectToken !== undefined && req.headers.authorization !== `Bearer ${options.expectToken}`) {
      stats.unauthorized += 1;
      req.resume();
      return answer(res, 401, 'UNAUTHENTICATED', `expected the loopback token, got ${req.headers.authorization ?? 'no Authorization header'}`);
    }
    if (hanging) {
      stats.held += 1;
      req.resume();
      heldResponses.add(res);
      res.on('close', () => heldResponses.delete(res));
      return;
    }
    if (outageStatus !== null) {
      stats.refused += 1;
      req.resume();
      return answer(res, outageStatus, 'backendError', `Injected outage: ${outageStatus}`);
    }
    const headers = { ...req.headers, host: target.host };
    if (options.forwardToken !== undefined) headers.authorization = `Bearer ${options.forwardToken}`;
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (upRes) => {
        stats.forwarded += 1;
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      if (!res.headersSent) answer(res, 502, 'badGateway', `fault proxy: ${err.message}`);
      else res.destroy(err);
    });
    req.pipe(upstream);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    stats,
    outage: (status = 503) => {
      outageStatus = status;
    },
    hang: () => {
      hanging = true;
    },
    recover: () => {
      outageStatus = null;
      hanging = false;
      for (const res of heldResponses) res.destroy();
    },
    get down() {
      return outageStatus !== null || hanging;
    },
    get holding() {
      return heldResponses.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
