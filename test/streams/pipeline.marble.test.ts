/**
 * The shape of the stream (`pipelineStages`: bounded concurrency, batches by size or time, commits
 * one at a time) in virtual time with RxJS's TestScheduler: each delivery's work and each commit is
 * a marble with a known duration, so the frames at which work starts and batches are committed are
 * asserted exactly, with no polling and no real clock. What the stages themselves do with a real
 * queue and store (ack after the durable write, the breaker's gate) is in pipeline.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { defer, finalize, map, merge, of, timer, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { pipelineStages, type PipelineOptions } from '../../streams/pipeline.js';

function virtualTime(t: ExecutionContext): TestScheduler {
  return new TestScheduler((actual, expected) => t.deepEqual(actual, expected));
}

/** Commits a batch at once, as the letters it held ('' for an empty batch). */
const commitAtOnce = (batch: string[]): Observable<string> => of(batch.join(''));

const keepAll = (): boolean => true;

test('no more than CONCURRENCY deliveries are worked on at once; the next starts in the frame a slot frees', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
    // given five deliveries arriving together and work of different lengths
    const work = {
      a: cold('---(A|)'),
      b: cold('------(B|)'),
      c: cold('-(C|)'),
      d: cold('----(D|)'),
      e: cold('-(E|)'),
    };
    const deliveries = cold<keyof typeof work>('(abcde|)');
    const options: PipelineOptions = { concurrency: 2, batchSize: 1, batchMaxWaitMs: 1_000 };

    const committed = deliveries.pipe(pipelineStages({ work: (d) => work[d], toSink: keepAll, commit: commitAtOnce }, options, scheduler));

    // then a and b start at once; c takes a's slot (frame 3), d takes c's (4), e takes b's (6)
    expectSubscriptions(work.a.subscriptions).toBe('^--!');
    expectSubscriptions(work.b.subscriptions).toBe('^-----!');
    expectSubscriptions(work.c.subscriptions).toBe('---^!');
    expectSubscriptions(work.d.subscriptions).toBe('----^---!');
    expectSubscriptions(work.e.subscriptions).toBe('------^!');
    // and each outcome is committed as it comes (batch size 1), in the order the work finished;
    // the source's end cuts the last batch, empty here, and commits it too
    expectObservable(committed).toBe('---AC-BE(Dz|)', { A: 'A', B: 'B', C: 'C', D: 'D', E: 'E', z: '' });
  });
});

test('work held up (deliveries waiting at an open breaker) keeps its slots: nothing else is worked on or committed until it is released', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
    // given two deliveries whose work waits 10 frames, as at a breaker that closes then
    const work = {
      a: cold('10ms (A|)'),
      b: cold('10ms (B|)'),
      c: cold('-(C|)'),
      d: cold('-(D|)'),
    };
    // and two more arriving during the wait
    const deliveries = hot<keyof typeof work>('ab-c-d');
    const options: PipelineOptions = { concurrency: 2, batchSize: 2, batchMaxWaitMs: 1_000 };

    const committed = deliveries.pipe(pipelineStages({ work: (d) => work[d], toSink: keepAll, commit: commitAtOnce }, options, scheduler));

    // then the later ones start only as the held slots are released (a's at 10, b's at 11), and
    // nothing is committed, so nothing acked, before that
    expectSubscriptions(work.c.subscriptions).toBe('10ms ^!');
    expectSubscriptions(work.d.subscriptions).toBe('11ms ^!');
    expectObservable(committed, '^ 20ms !').toBe('11ms xy', { x: 'AB', y: 'CD' });
  });
});

test('a batch is committed as soon as it holds BATCH_SIZE outcomes, without waiting for the timer', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ hot, expectObservable }) => {
    const deliveries = hot('ab-cd-e');
    const options: PipelineOptions = { concurrency: 4, batchSize: 2, batchMaxWaitMs: 10 };

    const committed = deliveries.pipe(pipelineStages({ work: (d) => of(d), toSink: keepAll, commit: commitAtOnce }, options, scheduler));

    // then a full batch goes at once, and the leftover e waits for the timer of its batch, which
    // started when the batch before it was sent (frame 4, so 14)
    expectObservable(committed, '^ 15ms !').toBe('-x--y---------z', { x: 'ab', y: 'cd', z: 'e' });
  });
});

test('a partial batch is committed BATCH_MAX_WAIT_MS after the batch began, and a period with no outcome commits an empty batch (which writes the anomaly outbox)', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ hot, expectObservable }) => {
    const deliveries = hot('a-b------------c');
    const options: PipelineOptions = { concurrency: 4, batchSize: 50, batchMaxWaitMs: 5 };

    const committed = deliveries.pipe(pipelineStages({ work: (d) => of(d), toSink: keepAll, commit: commitAtOnce }, options, scheduler));

    expectObservable(committed, '^ 20ms !').toBe('-----x----y----z----w', { x: 'ab', y: '', z: 'c', w: '' });
  });
});

test('retried outcomes (nacked by the work itself) are never committed; the rest of their batch is', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ hot, expectObservable }) => {
    const deliveries = hot('aRbR');
    const options: PipelineOptions = { concurrency: 4, batchSize: 2, batchMaxWaitMs: 100 };

    const committed = deliveries.pipe(
      pipelineStages({ work: (d) => of(d), toSink: (o) => o !== 'R', commit: commitAtOnce }, options, scheduler),
    );

    expectObservable(committed, '^ 10ms !').toBe('--x', { x: 'ab' });
  });
});

test('batches are committed one at a time, in the order they formed: a batch that fills during a slow commit waits for it', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
    // given commits that take 4 frames, the first of them slower (6)
    const commits = [cold('------(x|)', { x: 'ab' }), cold('----(y|)', { y: 'cd' }), cold('----(z|)', { z: 'ef' })];
    let next = 0;
    const deliveries = hot('ab-cd-ef');
    const options: PipelineOptions = { concurrency: 4, batchSize: 2, batchMaxWaitMs: 100 };

    const committed = deliveries.pipe(pipelineStages({ work: (d) => of(d), toSink: keepAll, commit: () => commits[next++]! }, options, scheduler));

    // then cd (full at frame 4) is written only after ab's write ends (7), and ef (full at 7) after cd's (11)
    expectSubscriptions(commits[0]!.subscriptions).toBe('-^-----!');
    expectSubscriptions(commits[1]!.subscriptions).toBe('-------^---!');
    expectSubscriptions(commits[2]!.subscriptions).toBe('-----------^---!');
    expectObservable(committed, '^ 20ms !').toBe('-------x---y---z', { x: 'ab', y: 'cd', z: 'ef' });
  });
});

test('when the source completes (stop), the partial batch is committed at once and the stream completes only after that commit', (t) => {
  const scheduler = virtualTime(t);
  scheduler.run(({ cold, expectObservable }) => {
    const deliveries = cold<'a' | 'b'>('a-b|');
    const work = { a: cold('-(A|)'), b: cold('---(B|)') };
    const options: PipelineOptions = { concurrency: 2, batchSize: 50, batchMaxWaitMs: 100 };

    const committed = deliveries.pipe(
      pipelineStages({ work: (d: 'a' | 'b') => work[d], toSink: keepAll, commit: (batch) => cold('--(x|)', { x: batch.join('') }) }, options, scheduler),
    );

    // b's work ends at frame 5; the last batch is cut then and its 2-frame commit ends the stream at 7
    expectObservable(committed).toBe('-------(x|)', { x: 'AB' });
  });
});

interface Arrival {
  /** Frame at which the delivery arrives. */
  readonly at: number;
  /** Frames its work takes. */
  readonly work: number;
  /** Whether its outcome goes to the sink (false: retried). */
  readonly kept: boolean;
}

/** Runs the stages in virtual time over `arrivals` and reports what a property can check. */
function simulate(arrivals: readonly Arrival[], options: PipelineOptions, commitFrames: number) {
  const scheduler = new TestScheduler(() => undefined);
  let inFlight = 0;
  let mostInFlight = 0;
  let committing = 0;
  let overlappingCommits = 0;
  const workEnded = new Map<number, number>();
  const batches: { frame: number; items: number[] }[] = [];
  scheduler.run(() => {
    const deliveries = merge(...arrivals.map((a, i) => timer(a.at).pipe(map(() => i))));
    const work = (i: number) =>
      defer(() => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        return timer(arrivals[i]!.work).pipe(
          map(() => (workEnded.set(i, scheduler.now()), i)),
          finalize(() => (inFlight -= 1)),
        );
      });
    const commit = (items: number[]) =>
      defer(() => {
        committing += 1;
        if (committing > 1) overlappingCommits += 1;
        batches.push({ frame: scheduler.now(), items });
        return timer(commitFrames).pipe(finalize(() => (committing -= 1)));
      });
    deliveries.pipe(pipelineStages({ work, toSink: (i) => arrivals[i]!.kept, commit }, options, scheduler)).subscribe();
  });
  return { mostInFlight, overlappingCommits, workEnded, batches };
}

test('for any arrivals, work and commit durations: at most CONCURRENCY in flight, one commit at a time, batches within BATCH_SIZE, every kept outcome committed once and after its work', (t) => {
  const arrival = fc.record({ at: fc.nat(30), work: fc.nat(12), kept: fc.boolean() });
  const options = fc.record({ concurrency: fc.integer({ min: 1, max: 4 }), batchSize: fc.integer({ min: 1, max: 6 }), batchMaxWaitMs: fc.integer({ min: 1, max: 10 }) });
  const property = fc.property(fc.array(arrival, { maxLength: 40 }), options, fc.nat(5), (arrivals, opts, commitFrames) => {
    const run = simulate(arrivals, opts, commitFrames);
    const committed = run.batches.flatMap((b) => b.items).sort((x, y) => x - y);
    const kept = arrivals.flatMap((a, i) => (a.kept ? [i] : []));
    return (
      run.mostInFlight <= opts.concurrency &&
      run.overlappingCommits === 0 &&
      run.batches.every((b) => b.items.length <= opts.batchSize) &&
      run.batches.every((b) => b.items.every((i) => run.workEnded.get(i)! <= b.frame)) &&
      JSON.stringify(committed) === JSON.stringify(kept)
    );
  });
  t.notThrows(() => fc.assert(property, { numRuns: 200 }));
});
