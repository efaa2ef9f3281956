/**
 * One autocannon run in a process of its own: a load generator sharing an event loop with the
 * feeder or with another load generator adds its own delays to every latency it measures (with
 * coordinated-omission correction, a late send counts as a slow answer).
 *
 * Usage: node load-child.js URL RATE CONNECTIONS SECONDS — prints autocannon's result as JSON.
 */
import autocannon from 'autocannon';

const [url, rate, connections, seconds] = process.argv.slice(2);
if (!url || !rate || !connections || !seconds) throw new Error('usage: load-child URL RATE CONNECTIONS SECONDS');
const result = await autocannon({
  url,
  overallRate: Number(rate),
  connections: Number(connections),
  duration: Number(seconds),
  timeout: 10,
});
process.stdout.write(
  `${JSON.stringify({
    latency: result.latency,
    requests: { total: result.requests.total, sent: result.requests.sent },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  })}\n`,
);
