/**
 * Result objects in OUTPUT_BUCKET, written create-if-absent (`ifGenerationMatch: 0`): the first
 * writer of a task's object wins and later writers get 412. That makes these objects the
 * "first writer wins" marker that decides whether a result is fresh (counted) or a replay — a
 * decision BigQuery cannot make, because its insertId dedupe is best-effort.
 */
import { randomUUID } from 'node:crypto';
import type { Bucket } from '@google-cloud/storage';
import { ERROR_CODES, TransientError } from '../../src/domain/errors.js';
import type { Logger } from '../../src/log.js';
import type { FreshnessSink } from '../fan-out.js';
import type { SinkBatch } from '../../src/domain/sink.js';
import { DEFAULT_WRITE_CONCURRENCY } from '../../src/infra/storage/client.js';
import { anomalyObject, failureObject, resultObject, type ObjectToWrite } from './encode.js';
import { describeStorageError, isNotFound, isPreconditionFailed } from '../../src/infra/storage/errors.js';

/** The slice of the Storage client this sink uses; tests hand in the real client at a local endpoint. */
export type BucketClient = Pick<Bucket, 'file' | 'getMetadata' | 'name'>;

/** Custom metadata key holding the id of the write that created the object. */
const WRITE_ID_KEY = 'buildtrace-write-id';

export interface CloudStorageMarkersOptions {
  readonly bucket: BucketClient;
  readonly logger: Logger;
  readonly concurrency?: number;
}

export interface MarkerReceipt {
  /** Task keys of results and failures whose object this call created. */
  readonly freshTasks: ReadonlySet<string>;
  /** Ids of anomalies whose object this call created. */
  readonly freshAnomalies: ReadonlySet<string>;
}

export class CloudStorageMarkers implements FreshnessSink {
  readonly name = 'cloud-storage';
  private readonly concurrency: number;

  constructor(private readonly options: CloudStorageMarkersOptions) {
    this.concurrency = options.concurrency ?? DEFAULT_WRITE_CONCURRENCY;
  }

  /**
   * Writes the batch's result, failure and anomaly objects, each only if absent. All or nothing
   * as far as freshness goes: if any object cannot be written, the objects this call created are
   * deleted again and the call rejects with TransientError('sink_unavailable'), so the
   * redelivered batch finds them absent and counts them then.
   *
   * @example
   * const { freshTasks } = await markers.writeBatch({ results, failures: [], anomalies: [] });
   */
  /** The freshness sink's write (sinks/fan-out.ts): `writeBatch`. */
  write(batch: SinkBatch): Promise<MarkerReceipt> {
    return this.writeBatch(batch);
  }

  /** Each write created its objects (or rolled them back) before it resolved. */
  async flush(): Promise<void> {}

  /** The bucket client holds nothing to release. */
  async close(): Promise<void> {}

  async writeBatch(batch: SinkBatch): Promise<MarkerReceipt> {
    const owners = new Map<string, { kind: 'task' | 'anomaly'; key: string }>();
    const objects: ObjectToWrite[] = [];
    const add = (o: ObjectToWrite, kind: 'task' | 'anomaly', key: string) => {
      if (owners.has(o.name)) return; // a duplicate inside one batch is one object
      owners.set(o.name, { kind, key });
      objects.push(o);
    };
    for (const r of batch.results) add(resultObject(r), 'task', r.taskKey);
    for (const f of batch.failures) add(failureObject(f), 'task', f.taskKey);
    for (const a of batch.anomalies) add(anomalyObject(a), 'anomaly', a.id);

    const created = await this.createIfAbsent(objects);
    const freshTasks = new Set<string>();
    const freshAnomalies = new Set<string>();
    for (const name of created.keys()) {
      const owner = owners.get(name)!;
      (owner.kind === 'task' ? freshTasks : freshAnomalies).add(owner.key);
    }
    return { freshTasks, freshAnomalies };
  }

  /**
   * Creates each object unless it exists. Resolves with the objects this call created (name →
   * generation); rejects with TransientError after rolling back its own creations if any failed.
   */
  async createIfAbsent(objects: readonly ObjectToWrite[]): Promise<Map<string, number>> {
    const created = new Map<string, number>();
    const failures: { name: string; error: unknown }[] = [];
    let next = 0;
    const worker = async () => {
      while (next < objects.length) {
        const object = objects[next++]!;
        try {
          const generation = await this.createOne(object);
          if (generation !== null) created.set(object.name, generation);
        } catch (error) {
          failures.push({ name: object.name, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, objects.length) }, worker));
    if (failures.length === 0) return created;

    await this.rollback(created);
    const first = failures[0]!;
    throw new TransientError(
      ERROR_CODES.sinkUnavailable,
      `Cloud Storage: ${failures.length} of ${objects.length} object(s) not written to ${this.options.bucket.name} (${first.name}: ${describeStorageError(first.error)})`,
      { cause: first.error },
    );
  }

  /** Resolves when the bucket answers (readiness). */
  async healthcheck(): Promise<void> {
    try {
      await this.options.bucket.getMetadata();
    } catch (err) {
      throw new TransientError(ERROR_CODES.sinkUnavailable, `Cloud Storage bucket ${this.options.bucket.name} unreachable: ${describeStorageError(err)}`, {
        cause: err,
      });
    }
  }

  /** The created generation, or null when another writer got there first. */
  private async createOne(object: ObjectToWrite): Promise<number | null> {
    const writeId = randomUUID();
    const file = this.options.bucket.file(object.name);
    try {
      await file.save(object.body, {
        resumable: false, // small JSON: one multipart request, no upload session to leak
        contentType: 'application/json',
        metadata: { metadata: { [WRITE_ID_KEY]: writeId } },
        preconditionOpts: { ifGenerationMatch: 0 },
      });
      return Number(file.metadata.generation);
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
    }
    // 412. Usually another writer; but when our first attempt landed and only its answer was
    // lost, the client's retry gets 412 against our own object — the write id tells them apart.
    const [metadata] = await file.getMetadata();
    if (metadata.metadata?.[WRITE_ID_KEY] === writeId) return Number(metadata.generation);
    return null;
  }

  private async rollback(created: ReadonlyMap<string, number>): Promise<void> {
    await Promise.all(
      [...created].map(async ([name, generation]) => {
        try {
          await this.options.bucket.file(name).delete({ ifGenerationMatch: generation });
        } catch (err) {
          if (isNotFound(err) || isPreconditionFailed(err)) return;
          // The task will then be treated as a replay when redelivered: its counts are lost, never doubled.
          this.options.logger.error({ object: name, err: describeStorageError(err) }, 'Cloud Storage: could not roll back a result object');
        }
      }),
    );
  }
}
