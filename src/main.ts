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

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down: draining in-flight tasks');
    const timer = setTimeout(() => {
      logger.error('grace period exceeded; exiting with tasks unsettled (they will be redelivered)');
      service.pipeline.abort();
      process.exit(1);
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
}

void main();
