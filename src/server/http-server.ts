/**
 * The `node:http` server around the Koa app, with the limits a careless or hostile client meets
 * before any route runs: header and whole-request timeouts that are checked every second (Node
 * checks every 30 s by default, so a 10 s header timeout fired after up to 40 s), a cap on
 * connections, a cap on requests per kept-alive connection, and the JSON error shape for the
 * errors Node's HTTP layer answers itself (400, 408, 431), which it would send with empty bodies.
 */
import { createServer, STATUS_CODES, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface HttpServerLimits {
  /** A request whose headers have not all arrived after this long is answered 408. */
  readonly headersTimeoutMs: number;
  /** A request not wholly received (headers and body) after this long is answered 408. */
  readonly requestTimeoutMs: number;
  /** Open connections at once; one more is answered 503 and closed. */
  readonly maxConnections: number;
  /** Requests served on one kept-alive connection before the server closes it. */
  readonly maxRequestsPerConnection: number;
}

/**
 * Longer than a Google Cloud load balancer keeps idle backend connections (600 s): a shorter one
 * closes sockets the balancer is about to reuse, which its clients see as 502s.
 */
const KEEP_ALIVE_MS = 620_000;
/** How often Node looks for requests past their timeouts; the timeouts fire this late at most. */
const TIMEOUT_CHECK_MS = 1_000;

/**
 * @example
 * const server = createHttpServer(app.callback(), { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, maxConnections: 1024, maxRequestsPerConnection: 1000 });
 * server.listen(8080);
 */
export function createHttpServer(app: RequestListener, limits: HttpServerLimits): Server {
  const capped = capConnections(capRequestsPerConnection(app, limits.maxRequestsPerConnection), limits.maxConnections);
  const server = createServer(
    {
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: KEEP_ALIVE_MS,
    },
    capped.listener,
  );
  server.on('connection', capped.onConnection);
  server.on('clientError', answerClientError);
  return server;
}

/** Node's own status for each parser or timeout error it reports. */
function statusOf(err: NodeJS.ErrnoException): number {
  if (err.code === 'HPE_HEADER_OVERFLOW') return 431;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  408: 'request_timeout',
  431: 'headers_too_large',
  503: 'unavailable',
};

const MESSAGE_BY_STATUS: Record<number, string> = {
  400: 'the request is not valid HTTP/1.1',
  408: 'the request did not arrive in time; send it whole and without pauses',
  431: 'the request headers are too large',
  503: 'too many open connections; try again later',
};

/** A complete HTTP/1.1 answer carrying the JSON error shape, then the connection closes. */
export function rawErrorResponse(status: number): string {
  const body = JSON.stringify({ error: { code: CODE_BY_STATUS[status] ?? 'bad_request', message: MESSAGE_BY_STATUS[status] ?? 'bad request' } });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'X-Content-Type-Options: nosniff\r\n' +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n\r\n' +
    body
  );
}

function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // Only where no answer has begun: a half-written response cannot be followed by another.
  if (socket.writable && socket.bytesWritten === 0) socket.end(rawErrorResponse(statusOf(err)));
  socket.destroySoon();
}

/** How long a connection over the cap may take to send its request before it is closed. */
const OVER_CAP_GRACE_MS = 1_000;

/**
 * Over the cap a connection's request is answered 503 with the error shape and the connection is
 * closed, rather than dropped without a word (Node's `maxConnections`), so a client can tell an
 * overload from a crash; the request never reaches the app.
 */
function capConnections(listener: RequestListener, max: number): { listener: RequestListener; onConnection: (socket: Socket) => void } {
  let open = 0;
  const overCap = new WeakSet<Socket>();
  return {
    onConnection(socket) {
      open += 1;
      socket.once('close', () => {
        open -= 1;
      });
      if (open > max) {
        overCap.add(socket);
        socket.setTimeout(OVER_CAP_GRACE_MS, () => socket.destroy());
      }
    },
    listener(req, res) {
      if (!overCap.has(req.socket)) return listener(req, res);
      const body = JSON.stringify({ error: { code: CODE_BY_STATUS[503], message: MESSAGE_BY_STATUS[503] } });
      res.shouldKeepAlive = false;
      res.writeHead(503, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'Retry-After': '1',
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      res.end(body);
    },
  };
}

/**
 * The last request a connection may make is answered with `Connection: close`, and Node closes
 * the connection once that answer is sent. (Node's own `maxRequestsPerSocket` answers the next
 * request with an empty 503 and leaves the connection open.)
 */
function capRequestsPerConnection(listener: RequestListener, max: number): RequestListener {
  const served = new WeakMap<Socket, number>();
  return (req, res) => {
    const count = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, count);
    if (count >= max) res.setHeader('Connection', 'close');
    return listener(req, res);
  };
}
