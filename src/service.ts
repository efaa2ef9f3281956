/**
 * The composition root: picks a source and sinks from the two registration tables, builds the
 * pipeline, the aggregation and the HTTP server around them, and owns their order of shutdown.
 */
import type { Server } from 'node:http';
import { createHttpServer } from './server/http-server.js';
import { once } from 'node:events';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { wholeResultPages } from '../sinks/change-pages.js';
import { withWriteBatch, type ResultSink, type SinkBatch } from './domain/sink.js';
import { AnomalySnapshot } from '../streams/detect/anomaly-snapshot.js';
import { HEALTH_ANOMALY_SCAN, HEALTH_LOOKBACK_MS, SEVERITIES } from './server/routes/health.js';
import { Pipeline } from '../streams/pipeline.js';
import { AnomalyOutbox } from '../streams/commit.js';
import { DiffWorkerPool } from '../streams/diff/worker-pool.js';
import { diffPair, estimatedObjects, type DiffRequest } from '../streams/diff/diff-pair.js';
import { Aggregation } from '../streams/aggregate/aggregation.js';
import { createApp } from './server/app.js';
import type { ServerDeps } from './server/deps.js';
import { aggregationSettings, sourceFactories, sinkFactories, type SourceParts } from './registry.js';
import { TIMED_OUT, within } from './timeout.js';
import { Telemetry } from '../streams/telemetry/telemetry.js';
import { instrumentSink, instrumentSource } from '../streams/telemetry/instrument.js';
import { telemetrySeriesSource } from '../streams/telemetry/monitoring.js';
import { sinkLabel } from '../streams/telemetry/metrics.js';
import { prometheusRegistry } from '../streams/telemetry/prometheus.js';
import { SinkBreaker } from '../streams/retry/sink-breaker.js';

/** Time kept back from the grace period for flushing and closing after the drain. */
const SHUTDOWN_MARGIN_MS = 3_000;
const SINK_CHECK_INTERVAL_MS = 1_000;
const SINK_CHECK_TIMEOUT_MS = 2_000;
/** Reads answer 503 when the store takes longer: within common client and load-balancer timeouts. */
/** Headers must all arrive within this (a slowloris is cut off here, the body later). */
const HEADERS_TIMEOUT_MS = 10_000;
const READ_DEADLINE_MS = 10_000;
/** How long /health serves the anomalies it read before reading again (in the background). */
const HEALTH_ANOMALIES_FRESH_MS = 2_000;
/** The first /health answer waits this long for the store at most. */
const HEALTH_FIRST_WAIT_MS = 1_000;

export interface Service {
  readonly server: Server;
  readonly url: string;
  readonly pipeline: Pipeline;
  readonly telemetry: Telemetry;
  /**
   * The durable sink's breaker: `status` ({ state, reason }) and `onChange(listener)`, for
   * probes, /health and telemetry.
   */
  readonly breaker: SinkBreaker;
  /** Resolves with the error if the pipeline's stream fails (the source broke); never otherwise. */
  readonly failed: Promise<unknown>;
  /** Drains and closes everything; resolves when all is flushed. */
  stop(): Promise<void>;
}

/** Starts the whole service on `config`; `clock` is injectable for tests. */
export async function startService(config: Config, logger: Logger, clock: () => number = Date.now): Promise<Service> {
  const sinks = await sinkFactories[config.sinks](config, logger);
  let sources: SourceParts;
  try {
    sources = await sourceFactories[config.source](config, logger);
  } catch (err) {
    await sinks.close();
    throw err;
  }

  const telemetry = new Telemetry(logger, clock);
  // /health shows this process's own anomaly writes at once, whatever path wrote them (the
  // pipeline's failures, the aggregation's spikes and delays, /process's missing uploads).
  const healthAnomalies = new AnomalySnapshot({
    // per severity, so that no flood of lesser anomalies hides the newest high-severity ones
    read: async (since) =>
      (await Promise.all(SEVERITIES.map((severity) => sinks.store.anomalies(since, HEALTH_ANOMALY_SCAN, severity)))).flat(),
    clock,
    lookbackMs: HEALTH_LOOKBACK_MS,
    limit: HEALTH_ANOMALY_SCAN * SEVERITIES.length,
    freshMs: HEALTH_ANOMALIES_FRESH_MS,
    firstWaitMs: HEALTH_FIRST_WAIT_MS,
  });
  const sink = reportingAnomalies(instrumentSink(sinks.sink, telemetry), (anomalies) => healthAnomalies.written(anomalies));
  const source = instrumentSource(sources.source, telemetry);
  sinks.attachMetrics?.(telemetrySeriesSource(telemetry));
  const prometheus = prometheusRegistry(telemetry);

  const outbox = new AnomalyOutbox();
  // One retry policy for every write to the durable sink; shutdown aborts its retries in time to
  // nack and exit 0 within the grace period.
  const breaker = new SinkBreaker(config.sinkBreaker, clock);
  const stopRetrying = new AbortController();
  // Telemetry logs each change of state (one labelled line) and reports it as a metric.
  breaker.onChange((status) =>
    telemetry.breakerChanged(status.state, status.state === 'closed' ? 'the sink answers again; the stream resumes' : status.reason, sinkLabel(sinks.sink.name)),
  );
  const aggregation = new Aggregation(aggregationSettings(config), { sink, store: sinks.store }, outbox, clock, logger);
  // The server listens and the pipeline consumes while the windows are restored (a hung store
  // must not hold the probes back); /readyz says "restoring" until it is done. See restore().
  const restoreStarted = performance.now();
  void aggregation.restore().then(() => {
    if (aggregation.restoreStatus.done) telemetry.windowsRestored(performance.now() - restoreStarted);
  });

  const pool = new DiffWorkerPool(Math.max(1, Math.min(config.concurrency, 4)));
  const diff = (request: DiffRequest) =>
    estimatedObjects(request.pair) > config.workerThreshold
      ? pool.run(request)
      : new Promise<ReturnType<typeof diffPair>>((resolve) => resolve(diffPair(request)));

  const pipeline = new Pipeline(
    source,
    {
      input: sinks.input,
      diff,
      tolerance: config.moveTolerance,
      matchFallback: config.matchFallback,
      matchRadius: config.matchRadius,
      maxDeliveryAttempts: sources.source.maxDeliveryAttempts,
      replicaId: config.replicaId,
      clock,
    },
    {
      sink,
      observer: aggregation,
      outbox,
      replicaId: config.replicaId,
      clock,
      logger,
      breaker,
      stopRetrying: stopRetrying.signal,
    },
    { concurrency: config.concurrency, batchSize: config.batchSize, batchMaxWaitMs: config.batchMaxWaitMs },
    logger,
  );
  // processDelivery and commitBatch never reject, so the stream only errors if the source itself
  // fails; the process then exits (main.ts) and its supervisor restarts it, losing nothing.
  const failed = pipeline.start().then(
    () => new Promise<never>(() => {}),
    (err: unknown) => err,
  );
  aggregation.startTimers(sources.backlog);

  // Until the restore is done, /readyz and /health say so (with why the last try failed).
  const restoringReason = (): string | null => {
    const { done, lastError } = aggregation.restoreStatus;
    if (done) return null;
    return `restoring this replica's hourly windows from the store${lastError ? ` (the last try failed: ${lastError}; retrying)` : ''}`;
  };

  // Probes and /health share one health check at most every second: taking the store's write
  // lock on every request would make the probes themselves a load. A sink that does not answer
  // is reported as such after SINK_CHECK_TIMEOUT_MS, so the probes answer too; its check is not
  // started again while the one that hangs is still open.
  let sinkHealthy: { ok: boolean; reason: string } = { ok: true, reason: '' };
  let lastCheck = 0;
  let checking: Promise<void> | null = null;
  let unanswered: Promise<void> | null = null;
  const checkSink = (): Promise<void> => {
    if (checking) return checking;
    if (clock() - lastCheck < SINK_CHECK_INTERVAL_MS) return Promise.resolve();
    const call = unanswered ?? sinks.sink.healthcheck();
    unanswered = call;
    const answered = () => void (unanswered = null);
    void call.then(answered, answered);
    const notWritable = (why: string) => void (sinkHealthy = { ok: false, reason: `sink ${sinks.sink.name} is not writable: ${why}` });
    checking = within(call, SINK_CHECK_TIMEOUT_MS)
      .then(
        (answer) => (answer === TIMED_OUT ? notWritable(`no answer within ${SINK_CHECK_TIMEOUT_MS / 1000} s`) : void (sinkHealthy = { ok: true, reason: '' })),
        (err: unknown) => notWritable((err as Error).message),
      )
      .finally(() => {
        lastCheck = clock();
        checking = null;
      });
    return checking;
  };
  // Started, not awaited: a sink that hangs must not hold the server back from listening.
  void checkSink();

  const deps: ServerDeps = {
    publisher: sources.publisher,
    input: sinks.input,
    store: sinks.store,
    changePages: sinks.changePages ?? wholeResultPages(sinks.store),
    changesPageItems: config.changesPageItems,
    recordAnomalies: async (anomalies) => {
      await sink.writeBatch({ results: [], failures: [], anomalies });
      aggregation.anomaliesWritten();
    },
    metrics: async () => ({ ...(await aggregation.metricsView()), pipeline: (await telemetry.sample(), telemetry.snapshot()) }),
    prometheus: async () => {
      await telemetry.sample();
      return { contentType: prometheus.contentType, body: await prometheus.metrics() };
    },
    healthAnomalies: () => healthAnomalies.get(),
    serviceWarnings: async () => {
      const warnings: string[] = [];
      if (!sources.source.isReady()) warnings.push(`source ${sources.source.name} is not connected`);
      // The last check's answer: /health never waits on a sink that hangs (the probes do, briefly).
      void checkSink();
      if (!sinkHealthy.ok) warnings.push(sinkHealthy.reason);
      const b = breaker.status;
      if (b.state !== 'closed') warnings.push(breakerReason(b));
      const restoring = restoringReason();
      if (restoring) warnings.push(restoring);
      if (pipeline.stats.failedWrites > 0) warnings.push(`${pipeline.stats.failedWrites} batch write(s) abandoned at shutdown and nacked`);
      if (pipeline.stats.rejected > 0) warnings.push(`${pipeline.stats.rejected} result(s) refused by the sink for good; their tasks failed`);
      const backlog = await sources.backlog?.().catch(() => undefined);
      if (backlog !== undefined && backlog > config.pubsub.maxOutstandingMessages * 10) {
        warnings.push(`${backlog} tasks waiting in the queue`);
      }
      return warnings;
    },
    readiness: async () => {
      await checkSink();
      const reasons: string[] = [];
      if (stopping) reasons.push('shutting down');
      if (!sources.source.isReady()) reasons.push(`source ${sources.source.name} is not connected`);
      if (!sinkHealthy.ok) reasons.push(sinkHealthy.reason);
      const b = breaker.status;
      if (b.state !== 'closed') reasons.push(breakerReason(b));
      const restoring = restoringReason();
      if (restoring) reasons.push(restoring);
      return { ready: reasons.length === 0, reasons };
    },
    limits: { maxBodyBytes: config.maxBodyBytes, maxPairsPerRequest: config.maxPairsPerRequest, maxPairsPerPrefix: config.maxPairsPerPrefix },
    anomalyFreshMinutes: config.anomalyFreshMinutes,
    readDeadlineMs: READ_DEADLINE_MS,
    corsOrigins: config.corsOrigins,
    clock,
    logger,
  };
  telemetry.useSamplers({
    inFlight: () => pipeline.stats.inFlight,
    ...(sources.backlog ? { backlog: sources.backlog } : {}),
    ...(sources.oldestTaskAgeMs ? { oldestTaskAgeMs: sources.oldestTaskAgeMs } : {}),
    ready: async () => (await deps.readiness()).ready,
  });
  const app = createApp(deps);
  const server = createHttpServer(app.callback(), {
    headersTimeoutMs: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutSeconds * 1000),
    requestTimeoutMs: config.requestTimeoutSeconds * 1000,
    maxConnections: config.maxConnections,
    maxRequestsPerConnection: config.maxRequestsPerConnection,
  });
  server.listen(config.port, config.host);
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info({ url, source: config.source, sinks: config.sinks, replicaId: config.replicaId }, 'BuildTrace is serving');

  let stopping = false;
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      setTimeout(() => stopRetrying.abort(), Math.max(0, config.shutdownGraceSeconds * 1000 - SHUTDOWN_MARGIN_MS)).unref();
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await pipeline.stop();
      aggregation.stopTimers();
      await aggregation.flush();
      await closing;
      await pool.close();
      await sources.close();
      await sinks.close();
      aggregation.close();
      logger.info({ stats: pipeline.stats }, 'BuildTrace stopped');
    })();
    return stopped;
  };
  return { server, url, pipeline, telemetry, breaker, failed, stop };
}

/** `sink`, telling `onWritten` the anomalies of each batch it wrote durably. */
function reportingAnomalies<S extends ResultSink>(sink: S, onWritten: (anomalies: SinkBatch['anomalies']) => void): S {
  const writeBatch = async (batch: SinkBatch) => {
    const receipt = await sink.writeBatch(batch);
    if (batch.anomalies.length > 0) onWritten(batch.anomalies);
    return receipt;
  };
  return withWriteBatch(sink, writeBatch);
}

function breakerReason(status: Exclude<SinkBreaker['status'], { state: 'closed' }>): string {
  return `sink breaker ${status.state} since ${status.since.toISOString()}: ${status.reason}`;
}
