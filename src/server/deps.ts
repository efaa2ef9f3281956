/**
 * What the HTTP layer needs from the rest of the service, as narrow functions and contracts, so
 * the routes are tested against a real listening server without a real pipeline behind them.
 */
import type { TaskPublisher } from '../domain/source.js';
import type { InputStore } from '../../streams/load/input-store.js';
import type { ResultStore } from '../domain/sink.js';
import type { ChangePages } from '../../sinks/change-pages.js';
import type { Anomaly } from '../domain/types.js';
import type { Logger } from '../log.js';
import type { AnomalyReading } from '../../streams/detect/anomaly-snapshot.js';

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, one line each. */
  readonly reasons: readonly string[];
}

export interface ServerDeps {
  readonly publisher: TaskPublisher;
  readonly input: InputStore;
  readonly store: ResultStore;
  /** Bounded reads of results (`GET /changes`). */
  readonly changePages: ChangePages;
  /** Items of each kind in one `GET /changes` answer. */
  readonly changesPageItems: number;
  /** Durably records anomalies found while handling a request (missing uploads). */
  readonly recordAnomalies: (anomalies: readonly Anomaly[]) => Promise<void>;
  /** The `GET /metrics` document. */
  readonly metrics: () => Promise<Record<string, unknown>>;
  /** `GET /metrics/prometheus`: the pipeline's telemetry in the Prometheus text format. */
  readonly prometheus: () => Promise<{ readonly contentType: string; readonly body: string }>;
  /**
   * The last day's anomalies for `/health`, kept and refreshed in the background (see
   * streams/detect/anomaly-snapshot.ts) so a slow store never makes `/health` slow; without it
   * the route reads the store on every request. Reaches back HEALTH_LOOKBACK_MS, lists up to
   * HEALTH_ANOMALY_SCAN (routes/health.ts).
   */
  readonly healthAnomalies?: () => Promise<AnomalyReading>;
  /** Warnings about the service itself (source down, sink failing, DLQ growing) for `/health`. */
  readonly serviceWarnings: () => Promise<readonly string[]>;
  readonly readiness: () => Promise<Readiness>;
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly maxPairsPerRequest: number;
    readonly maxPairsPerPrefix: number;
  };
  readonly anomalyFreshMinutes: number;
  /** A GET still waiting on the store after this long answers 503 (see deadline.ts). */
  readonly readDeadlineMs: number;
  readonly corsOrigins: readonly string[];
  readonly clock: () => number;
  readonly logger: Logger;
}
