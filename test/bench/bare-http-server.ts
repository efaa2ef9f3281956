/**
 * The HTTP row's peer, run as its own process: a bare `node:http` server that answers every
 * request with one fixed JSON body. Loaded beside the service at the same rate and time, its p99
 * is what this machine's loopback, scheduler and load generator allow any Node server.
 *
 * Usage: node bare-http-server.js BODY_BYTES — prints {"port":N} once listening; stops on SIGTERM.
 */
import { createServer } from 'node:http';

const bytes = Number(process.argv[2] ?? 512);
if (!Number.isInteger(bytes) || bytes < 16) throw new Error(`BODY_BYTES must be an integer >= 16, got ${process.argv[2]}`);
const body = Buffer.from(JSON.stringify({ status: 'ok', padding: 'x'.repeat(bytes - 29) }));

const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
