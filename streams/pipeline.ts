/**
 * The one observable from the source to the acks (design.md, Shape). Memory is bounded at the
 * source (its flow control caps unsettled deliveries), concurrency by `mergeMap`, and the sink
 * sees batches so that each write is one transaction or one request.
 */
import {
  asyncScheduler,
  bufferTime,
  concatMap,
  filter,
  mergeMap,
  pipe,
  type ObservableInput,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { Logger } from '../src/log.js';
import type { TaskSource } from '../src/domain/source.js';
import { processDelivery, type Outcome, type ProcessDeps } from './process.js';
import { commitBatch, type CommitDeps, type CommitStats } from './commit.js';
import { errorMessage } from '../src/domain/errors.js';

export interface PipelineOptions {
  readonly concurrency: number;
  readonly batchSize: number;
  readonly batchMaxWaitMs: number;
}

export interface PipelineStats extends CommitStats {
  received: number;
  retried: number;
  malformed: number;
  exhausted: number;
  inFlight: number;
  lastError: { readonly at: string; readonly message: string } | null;
}

export class Pipeline {
  readonly stats: PipelineStats = {
    received: 0,
    retried: 0,
    malformed: 0,
    exhausted: 0,
    inFlight: 0,
    written: 0,
    duplicates: 0,
    failedWrites: 0,
    rejected: 0,
    lastError: null,
  };
  private subscription: Subscription | null = null;
  private done: Promise<void> | null = null;

  constructor(
    private readonly source: TaskSource,
    private readonly processDeps: Omit<ProcessDeps, 'onError'>,
    private readonly commitDeps: CommitDeps,
    private readonly options: PipelineOptions,
    private readonly logger: Logger,
  ) {}

  /** Starts consuming; the promise resolves when the stream has drained after `stop()`. */
  start(): Promise<void> {
    if (this.done) return this.done;
    const stats = this.stats;
    const processDeps: ProcessDeps = {
      ...this.processDeps,
      onError: (err, delivery, task) => {
        const message = errorMessage(err);
        stats.lastError = { at: new Date().toISOString(), message };
        this.logger.warn(
          { err: message, code: (err as { code?: string }).code, messageId: delivery.id, drawingId: task?.drawingId, attempt: delivery.deliveryAttempt },
          'task failed',
        );
      },
    };
    this.done = new Promise<void>((resolve, reject) => {
      this.subscription = this.source
        .deliveries()
        .pipe(
          pipelineStages(
            {
              work: (delivery) => {
                stats.received += 1;
                stats.inFlight += 1;
                // While the sink breaker is open no new pair is worked on: the deliveries wait here,
                // leased (the source keeps extending them), and the source's flow control, counting
                // them as unsettled, stops it pulling more. Shutdown opens the gate, so they are
                // nacked unprocessed rather than left hanging.
                const { breaker, stopRetrying } = this.commitDeps;
                return breaker
                  .whenClosed(stopRetrying)
                  .then((): Outcome | Promise<Outcome> => {
                    if (breaker.status.state === 'closed') return processDelivery(delivery, processDeps);
                    delivery.nack();
                    return { kind: 'retried', delivery };
                  })
                  .finally(() => (stats.inFlight -= 1));
              },
              toSink: (o) => {
                if (o.kind === 'retried') stats.retried += 1;
                else if (o.kind === 'failure') o.settle.kind === 'deadLetter' ? (stats.malformed += 1) : (stats.exhausted += 1);
                return o.kind !== 'retried';
              },
              commit: (batch) => commitBatch(batch, this.commitDeps, stats),
            },
            this.options,
          ),
        )
        .subscribe({ complete: resolve, error: reject });
    });
    return this.done;
  }

  /** Stops pulling and waits for in-flight pairs to be written and settled. */
  async stop(): Promise<void> {
    await this.source.stop();
    await this.done;
  }

  /** Abandons the stream (after the grace period): unsettled deliveries are left to the source. */
  abort(): void {
    this.subscription?.unsubscribe();
  }
}

/** What each stage of the stream does; `pipelineStages` says how they are put together. */
export interface Stages<D, O, C> {
  /** Works one delivery into an outcome (at most `concurrency` at a time). */
  readonly work: (delivery: D) => ObservableInput<O>;
  /** Whether an outcome goes to the sink (a retried delivery, already nacked, does not). */
  readonly toSink: (outcome: O) => boolean;
  /** Writes one batch and then settles its deliveries; batches are committed one at a time, in order. */
  readonly commit: (batch: O[]) => ObservableInput<C>;
}

/**
 * The stream's shape: bounded concurrency, then batches of `batchSize` or whatever arrived within
 * `batchMaxWaitMs`, each committed after the one before. Generic over what it carries so the
 * ordering, batching and concurrency can be checked in virtual time (`scheduler`) on their own.
 */
export function pipelineStages<D, O, C>(
  stages: Stages<D, O, C>,
  options: PipelineOptions,
  scheduler: SchedulerLike = asyncScheduler,
): OperatorFunction<D, C> {
  return pipe(
    mergeMap((delivery: D) => stages.work(delivery), options.concurrency),
    filter((outcome: O) => stages.toSink(outcome)),
    bufferTime(options.batchMaxWaitMs, null, options.batchSize, scheduler),
    concatMap((batch) => stages.commit(batch)),
  );
}
