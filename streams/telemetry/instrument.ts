/**
 * Decorators that feed the telemetry without the pipeline knowing: a source whose deliveries count
 * their own receipt and settlement, and a sink whose writes are timed. Both keep the contracts
 * they wrap exactly (same errors, same receipts), so they can be put around any source or sink.
 */
import { map } from 'rxjs';
import type { Delivery, TaskSource } from '../../src/domain/source.js';
import { withWriteBatch, type PartWriteListener, type ResultSink, type SinkBatch, type WriteReceipt } from '../../src/domain/sink.js';
import { sinkLabel } from './metrics.js';
import type { Telemetry } from './telemetry.js';

/** A composite sink (SINKS=gcp) that can time each of its sinks' writes itself. */
interface ObservableParts {
  observeWrites(listener: PartWriteListener): void;
}

const hasParts = (sink: ResultSink): sink is ResultSink & ObservableParts =>
  typeof (sink as Partial<ObservableParts>).observeWrites === 'function';

/**
 * The same source, each delivery counted when received and when first settled.
 *
 * @example
 * const source = instrumentSource(queue, telemetry);
 */
export function instrumentSource(source: TaskSource, telemetry: Telemetry): TaskSource {
  return {
    name: source.name,
    maxDeliveryAttempts: source.maxDeliveryAttempts,
    deliveries: () => source.deliveries().pipe(map((d) => instrumentDelivery(d, telemetry))),
    stop: () => source.stop(),
    close: () => source.close(),
    isReady: () => source.isReady(),
  };
}

function instrumentDelivery(delivery: Delivery, telemetry: Telemetry): Delivery {
  telemetry.deliveryReceived(delivery.deliveryAttempt);
  let settled = false;
  const settle = () => {
    const first = !settled;
    settled = true;
    return first;
  };
  return {
    id: delivery.id,
    data: delivery.data,
    attributes: delivery.attributes,
    publishedAt: delivery.publishedAt,
    receivedAt: delivery.receivedAt,
    deliveryAttempt: delivery.deliveryAttempt,
    ack() {
      delivery.ack();
      telemetry.deliveryAcked(settle());
    },
    nack() {
      delivery.nack();
      telemetry.deliveryNacked(settle());
    },
    async deadLetter(reason) {
      await delivery.deadLetter(reason);
      telemetry.deadLetter(reason.code, { drawingId: reason.drawingId, message: reason.message, taskKey: delivery.attributes.task_id ?? null });
    },
  };
}

/**
 * The same sink, each batch write timed and counted under the sink's label (a composite's writes
 * under each of its sinks' labels: bigquery, cloud_storage, cloud_monitoring), and each fresh result
 * counted once (a duplicate in the batch or a replay is not). Failures given up on
 * after the last attempt (left to the broker's dead-letter policy) are counted as dead letters
 * once their record is durable and fresh; written anomalies are logged one line each.
 */
export function instrumentSink<S extends ResultSink>(sink: S, telemetry: Telemetry, clock: () => number = performanceNow): S {
  const composite = hasParts(sink);
  if (composite) sink.observeWrites((part, ms, ok, role) => telemetry.sinkWrite(sinkLabel(part), ms, ok, role !== 'telemetry'));
  const label = sinkLabel(sink.name);
  const writeBatch = async (batch: SinkBatch): Promise<WriteReceipt> => {
    const started = clock();
    let receipt: WriteReceipt;
    try {
      receipt = await sink.writeBatch(batch);
    } catch (err) {
      if (!composite) telemetry.sinkWrite(label, clock() - started, false);
      throw err;
    }
    if (!composite) telemetry.sinkWrite(label, clock() - started, true);
    const counted = new Set<string>();
    for (const r of batch.results) {
      if (receipt.fresh.has(r.taskKey) && !counted.has(r.taskKey)) {
        counted.add(r.taskKey);
        telemetry.resultWritten(r.counts, r.processingTimeMs);
      }
    }
    for (const f of batch.failures) {
      if (f.kind === 'failed' && receipt.fresh.has(f.taskKey)) {
        telemetry.deadLetter(f.code, { taskKey: f.taskKey, drawingId: f.drawingId, message: f.message });
      }
    }
    for (const a of batch.anomalies) telemetry.anomaly(a);
    return receipt;
  };
  return withWriteBatch(sink, writeBatch);
}

const performanceNow = () => performance.now();
