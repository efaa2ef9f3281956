#!/usr/bin/env node
/**
 * `npm start`: validates the configuration, starts the service, and turns SIGTERM/SIGINT into a
 * graceful drain that exits 0 within the grace period (design.md, Delivery guarantees).
 */
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startService, type Service } from './service.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`buildtrace: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);

  process.on('unhandledRejection', (reason) => {
    // A stray rejection in a client library must not take the consumer down; it is logged loudly.
    logger.error({ err: reason }, 'unhandled promise rejection');
  });

  let service: Service;
  try {
    service = await startService(config, logger);
  } catch (err) {
    logger.fatal({ err }, 'BuildTrace could not start');
    process.exit(1);
  }

  void service.failed.then((err) => {
    logger.fatal({ err }, 'the pipeline stopped unexpectedly; exiting so that the process is restarted');
    process.exit(1);
  });

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down: draining in-flight tasks');
    // The contract is an exit 0 within the grace period. A drain that cannot finish in time (a
    // sink that never answers) loses nothing by stopping here: a task is acked only once its
    // result is durable, so whatever is unsettled is delivered again.
    const timer = setTimeout(() => {
      logger.warn({ inFlight: service.pipeline.stats.inFlight }, 'grace period reached before the drain finished; exiting, unsettled tasks will be redelivered');
      service.pipeline.abort();
      process.exit(0);
    }, config.shutdownGraceSeconds * 1000);
    timer.unref();
    service
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  watchLauncher(() => shutdown('SIGTERM'));
}

/**
 * Under `npm start`, npm is the parent. If npm is killed outright (SIGKILL), no signal reaches
 * this process, which would keep serving as an orphan and hold the port against a restart; so an
 * orphaned process drains and exits as if it had been sent SIGTERM.
 */
function watchLauncher(onOrphaned: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 250);
  timer.unref();
}

void main();
