/**
 * Health for people and probes: `/health` explains (anomalies, warnings), `/healthz` says the
 * process answers, `/readyz` says it can do work (source connected, sinks writable).
 */
import type Router from '@koa/router';
import type { Severity } from '../../domain/types.js';
import { buildHealth } from '../../../streams/detect/health.js';
import { HttpError, HTTP_CODES } from '../errors.js';
import type { ServerDeps } from '../deps.js';

/** Anomalies listed in the answer. */
const HEALTH_ANOMALY_LIMIT = 100;
/**
 * Anomalies read per severity to count the warnings: more than are listed, so the counts stay
 * right in a flood. Read per severity so that no flood of lesser ones, however large, hides the
 * newest high-severity ones.
 */
export const HEALTH_ANOMALY_SCAN = 5_000;
export const SEVERITIES: readonly Severity[] = ['high', 'medium', 'low'];
/** /health lists the last day of anomalies; only fresh ones turn it degraded. */
export const HEALTH_LOOKBACK_MS = 24 * 3600_000;

export function registerHealth(router: Router, deps: ServerDeps): void {
  router.get('/health', async (ctx) => {
    const now = deps.clock();
    const since = new Date(now - HEALTH_LOOKBACK_MS);
    const [reading, serviceWarnings] = await Promise.all([
      deps.healthAnomalies
        ? deps.healthAnomalies()
        : Promise.all(SEVERITIES.map((severity) => deps.store.anomalies(since, HEALTH_ANOMALY_SCAN, severity))).then((bySeverity) => ({
            anomalies: bySeverity.flat(),
            warning: null,
          })),
      deps.serviceWarnings(),
    ]);
    const { anomalies } = reading;
    const warnings = reading.warning ? [...serviceWarnings, reading.warning] : serviceWarnings;
    const view = buildHealth({ anomalies, now, freshnessMs: deps.anomalyFreshMinutes * 60_000, limit: HEALTH_ANOMALY_LIMIT });
    ctx.body = {
      ...view,
      status: view.status === 'healthy' && warnings.length === 0 ? 'healthy' : 'degraded',
      warnings: [...warnings, ...view.warnings],
    };
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    const readiness = await deps.readiness();
    if (!readiness.ready) throw new HttpError(503, HTTP_CODES.notReady, `not ready: ${readiness.reasons.join('; ')}`);
    ctx.body = { status: 'ready' };
  });
}
