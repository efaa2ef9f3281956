import test from 'ava';
import { HOUR_MS } from '../../../streams/aggregate/hourly-windows.js';
import { DelayDetector } from '../../../streams/detect/delay.js';

const T0 = Date.parse('2026-11-29T10:30:00.000Z');
const MIN = 60_000;

function setup(options: Partial<ConstructorParameters<typeof DelayDetector>[0]> = {}) {
  const clock = { now: T0 };
  const delays = new DelayDetector({ clock: () => clock.now, thresholdSeconds: 600, backlog: { floor: 100 }, ...options });
  return { clock, delays };
}

test('delayed_upload fires only when the end-to-end age exceeds the threshold', (t) => {
  const { delays } = setup();
  t.deepEqual(delays.observeResult({ drawingId: 'D1', taskKey: 'k0', endToEndMs: 600_000 }), []);
  const [late] = delays.observeResult({ drawingId: 'D1', taskKey: 'k1', endToEndMs: 600_001 });
  t.is(late?.id, 'delayed_upload:D1:k1');
  t.is(late?.type, 'delayed_upload');
  t.is(late?.drawingId, 'D1');
  t.is(late?.severity, 'medium');
  t.deepEqual(late?.details, { kind: 'end_to_end', task_key: 'k1', age_seconds: 600.001, threshold_seconds: 600 });
  t.deepEqual(late?.timestamp, new Date(T0));
  // NaN or negative ages (clock skew) never fire
  t.deepEqual(delays.observeResult({ drawingId: 'D2', taskKey: 'k', endToEndMs: Number.NaN }), []);
  t.deepEqual(delays.observeResult({ drawingId: 'D2', taskKey: 'k', endToEndMs: -1e9 }), []);
});

test('delayed_upload is rate-limited to once per drawing per hour; other drawings are not held back', (t) => {
  const { clock, delays } = setup();
  const late = (drawingId: string, taskKey: string) => delays.observeResult({ drawingId, taskKey, endToEndMs: 1_300_000 });
  t.is(late('D1', 'a')[0]?.severity, 'high'); // ≥ 2× the threshold
  clock.now += 59 * MIN;
  t.deepEqual(late('D1', 'b'), []);
  t.is(late('D2', 'c').length, 1);
  clock.now = T0 + HOUR_MS;
  t.is(late('D1', 'd')[0]?.id, 'delayed_upload:D1:d');
});

test('the rate limit remembers a bounded number of drawings', (t) => {
  const { delays } = setup({ maxDrawings: 2 });
  const late = (drawingId: string) => delays.observeResult({ drawingId, taskKey: drawingId, endToEndMs: 700_000 });
  t.is(late('A').length, 1);
  t.is(late('B').length, 1);
  t.is(late('C').length, 1); // A forgotten
  t.is(late('A').length, 1);
  t.deepEqual(late('C'), []);
});

/** Samples every `stepMs` from T0 with the given depths. */
function samples(delays: DelayDetector, depths: number[], stepMs = MIN, from = T0) {
  return depths.flatMap((depth, i) => delays.observeBacklog(depth, new Date(from + i * stepMs)));
}

test('backlog fires when depth grows over 5 samples spanning 5 minutes and passes the floor', (t) => {
  const { delays } = setup();
  // 6 samples a minute apart: 5 minutes, growing, ends at 150 ≥ floor 100
  const [anomaly, ...rest] = samples(delays, [50, 70, 90, 110, 130, 150]);
  t.deepEqual(rest, []);
  t.is(anomaly?.id, 'delayed_upload:backlog:2026-11-29T10:00:00.000Z');
  t.is(anomaly?.drawingId, null);
  t.is(anomaly?.type, 'delayed_upload');
  t.like(anomaly?.details, { kind: 'backlog', depth: 150, start_depth: 50, growth: 100, samples: 6, span_seconds: 300, growth_per_minute: 20, floor: 100 });
});

test('backlog does not fire: too short a span, below the floor, flat, or shrinking', (t) => {
  // 5 samples over 4 minutes
  t.deepEqual(samples(setup().delays, [100, 200, 300, 400, 500]), []);
  // over 5 minutes but stays under the floor
  t.deepEqual(samples(setup().delays, [10, 20, 30, 40, 50, 99]), []);
  // flat at a high depth: a steady queue, not growth
  t.deepEqual(samples(setup().delays, [500, 500, 500, 500, 500, 500, 500]), []);
  // a dip restarts the run
  t.deepEqual(samples(setup().delays, [100, 200, 300, 250, 400, 500, 600]), []);
  // 6 samples spanning 10 minutes but only 4 of them in the current run
  t.deepEqual(samples(setup().delays, [900, 800, 700, 800, 900, 1000], 2 * MIN), []);
});

test('backlog fires once per growth episode and at most once an hour', (t) => {
  const { clock, delays } = setup();
  t.is(samples(delays, [100, 200, 300, 400, 500, 600]).length, 1);
  // still growing: same episode
  t.deepEqual(samples(delays, [700, 800, 900], MIN, T0 + 6 * MIN), []);
  // drops, then grows again within the hour: held back
  clock.now = T0 + 20 * MIN;
  t.deepEqual(samples(delays, [10, 200, 300, 400, 500, 600], MIN, T0 + 20 * MIN), []);
  // an hour later a new episode fires again, with the new hour's id
  clock.now = T0 + HOUR_MS + 10 * MIN;
  const again = samples(delays, [10, 200, 300, 400, 500, 600], MIN, clock.now);
  t.is(again.length, 1);
  t.is(again[0]?.id, 'delayed_upload:backlog:2026-11-29T11:00:00.000Z');
});

test('backlog ignores samples out of order, negative or not finite', (t) => {
  const { delays } = setup();
  t.deepEqual(delays.observeBacklog(Number.NaN, T0), []);
  t.deepEqual(delays.observeBacklog(-5, T0), []);
  t.deepEqual(delays.observeBacklog(5, new Date('nope')), []);
  // growth with a stale sample in between: the stale one is skipped, growth still detected
  const out = [
    ...delays.observeBacklog(100, T0),
    ...delays.observeBacklog(200, T0 + MIN),
    ...delays.observeBacklog(1, T0 + 30_000),
    ...delays.observeBacklog(300, T0 + 2 * MIN),
    ...delays.observeBacklog(400, T0 + 3 * MIN),
    ...delays.observeBacklog(500, T0 + 4 * MIN),
    ...delays.observeBacklog(600, T0 + 5 * MIN),
  ];
  t.is(out.length, 1);
});

test('bad options are rejected with a message naming the option', (t) => {
  t.throws(() => new DelayDetector({ clock: Date.now, thresholdSeconds: 0 }), { instanceOf: RangeError, message: /thresholdSeconds/ });
  t.throws(() => new DelayDetector({ clock: Date.now, backlog: { minSamples: 0 } }), { instanceOf: RangeError, message: /minSamples/ });
  t.throws(() => new DelayDetector({ clock: Date.now, backlog: { minSpanMs: -1 } }), { instanceOf: RangeError, message: /minSpanMs/ });
  t.throws(() => new DelayDetector({ clock: Date.now, backlog: { floor: Number.NaN } }), { instanceOf: RangeError, message: /floor/ });
});
