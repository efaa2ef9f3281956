/**
 * The fault suite points the real service process at local fakes purely by environment; this
 * checks the client factories that make that possible: a plaintext loopback BigQuery endpoint
 * gets a fixed token and never looks up credentials, a loopback Monitoring endpoint gets
 * plaintext gRPC, and anything else keeps Application Default Credentials.
 */
import test from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config.js';
import { createBigQueryClient, isPlaintextLoopback, LOOPBACK_ACCESS_TOKEN } from '../../sinks/bigquery/config.js';
import { createMonitoringClient, isLoopbackHost } from '../../src/infra/monitoring/config.js';
import { METRICS } from '../../src/infra/monitoring/metrics.js';
import { startFakeMonitoring } from '../support/fake-monitoring.js';
import { startFakeBigQuery } from '../support/fake-bigquery.js';
import { FAKE_TOKEN } from '../support/fake-google-auth.js';
import { startFaultProxy } from '../support/fault-proxy.js';

// Any attempt to use Application Default Credentials in this process fails loudly and at once
// (no network), so a request that succeeds proves none were looked up.
const MISSING_CREDENTIALS = '/nonexistent/buildtrace-fault-suite-credentials.json';
process.env.GOOGLE_APPLICATION_CREDENTIALS = MISSING_CREDENTIALS;
process.env.METADATA_SERVER_DETECTION = 'none';

const PROJECT = 'buildtrace-test';

/** A loopback server that answers every request with an empty dataset and records its headers. */
async function recordingServer(t: import('ava').ExecutionContext) {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'bigquery#dataset', id: `${PROJECT}:d`, datasetReference: { projectId: PROJECT, datasetId: 'd' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('isPlaintextLoopback: http to 127/8, ::1 or localhost only', (t) => {
  for (const yes of ['http://127.0.0.1:9050', 'http://127.1.2.3', 'http://localhost:1/x', 'http://[::1]:9050']) {
    t.true(isPlaintextLoopback(yes), yes);
  }
  for (const no of [
    'https://127.0.0.1:9050',
    'https://bigquery.googleapis.com',
    'http://10.0.0.5:9050',
    'http://127.0.0.1.example.com',
    'http://localhost.example.com',
    'not a url',
  ]) {
    t.false(isPlaintextLoopback(no), no);
  }
});

test('isLoopbackHost: the host part of MONITORING_API_ENDPOINT', (t) => {
  for (const yes of ['127.0.0.1', '127.9.9.9', 'localhost', '::1', '[::1]']) t.true(isLoopbackHost(yes), yes);
  for (const no of ['monitoring.googleapis.com', '10.1.2.3', '127.0.0.1.nip.io', '']) t.false(isLoopbackHost(no), no);
});

test('a plaintext loopback BIGQUERY_API_ENDPOINT is called with the fixed token, no credentials looked up', async (t) => {
  const server = await recordingServer(t);
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: PROJECT, BIGQUERY_API_ENDPOINT: server.url });

  const [dataset] = await createBigQueryClient(config).dataset('d').get();

  t.is(dataset.id, 'd');
  t.is(server.seen.length, 1);
  t.is(server.seen[0]!.authorization, `Bearer ${LOOPBACK_ACCESS_TOKEN}`);
});

test('through the fault proxy the real client reaches the fake BigQuery, and the proxy refuses a wrong token', async (t) => {
  const bq = await startFakeBigQuery();
  t.teardown(() => bq.close());
  const proxy = await startFaultProxy({ target: bq.url, expectToken: LOOPBACK_ACCESS_TOKEN, forwardToken: FAKE_TOKEN });
  t.teardown(() => proxy.close());
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: PROJECT, BIGQUERY_API_ENDPOINT: proxy.url });
  const client = createBigQueryClient(config);

  await client.createDataset('faults');
  t.truthy(bq.datasets.get('faults'), 'the dataset reached the fake');

  // an outage answers 503 without reaching the fake; recovery passes requests again
  proxy.outage(503);
  const path = `/bigquery/v2/projects/${PROJECT}/datasets/faults`;
  const down = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${LOOPBACK_ACCESS_TOKEN}` } });
  t.is(down.status, 503);
  t.is(((await down.json()) as { error: { code: number } }).error.code, 503);
  proxy.recover();
  const [again] = await client.dataset('faults').get();
  t.is(again.id, 'faults');

  // a request signed with anything else never reaches the fake
  const wrong = await fetch(`${proxy.url}${path}`, { headers: { authorization: `Bearer ${FAKE_TOKEN}` } });
  t.is(wrong.status, 401);
  t.deepEqual(proxy.stats, { forwarded: 2, refused: 1, unauthorized: 1, held: 0 });
});

test('an https BIGQUERY_API_ENDPOINT keeps Application Default Credentials', async (t) => {
  // 127.0.0.1:1 so that nothing could leave the machine even if credentials were skipped.
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: PROJECT, BIGQUERY_API_ENDPOINT: 'https://127.0.0.1:1' });
  const err = await t.throwsAsync(createBigQueryClient(config).dataset('d').get());
  t.regex(err!.message, /nonexistent\/buildtrace-fault-suite-credentials\.json/, 'ADC were looked up (and are missing here)');
});

test('a loopback MONITORING_API_ENDPOINT gets plaintext gRPC and no credentials', async (t) => {
  const fake = await startFakeMonitoring({ projectId: PROJECT });
  t.teardown(() => fake.close());
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: PROJECT, MONITORING_API_ENDPOINT: fake.address });
  const client = createMonitoringClient(config);
  t.teardown(() => client.close());

  const [descriptor] = await client.createMetricDescriptor({
    name: `projects/${PROJECT}`,
    metricDescriptor: { type: METRICS.pairsProcessed, metricKind: 'CUMULATIVE', valueType: 'INT64' },
  });

  t.is(descriptor.type, METRICS.pairsProcessed);
  t.true(fake.descriptors.has(METRICS.pairsProcessed));
});

test('a MONITORING_API_ENDPOINT elsewhere keeps TLS and Application Default Credentials', async (t) => {
  // 203.0.113.0/24 is reserved for documentation; credentials are read before any channel opens,
  // so with none available the call fails without a packet sent.
  const config = loadConfig({ GOOGLE_CLOUD_PROJECT: PROJECT, MONITORING_API_ENDPOINT: '203.0.113.7:443' });
  const client = createMonitoringClient(config);
  // initialize() opens the channel, reading credentials first; close() would rethrow the failure
  t.teardown(() => client.close().catch(() => undefined));
  const err = await t.throwsAsync(client.initialize());
  t.regex(err!.message, /nonexistent\/buildtrace-fault-suite-credentials\.json/);
});
