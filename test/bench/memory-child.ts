/**
 * Child process of the memory row (a fresh process, so the other rows' garbage is not in its
 * RSS): drives the aggregation + diff path — parse, validate and diff small pairs, record them
 * in hourly windows and the spike detector, flush rollups — with a simulated clock running over
 * many hours, and prints RSS once per simulated hour as JSON.
 *
 * Usage: node --expose-gc memory-child.js PAIRS HOURS
 */
import { countChanges, validateAndDiff } from '../../src/domain/diff.js';
import { createRandom, generatePair } from '../../src/simulate/generator.js';
import { HourlyWindows, HOUR_MS, hourStartOf } from '../../streams/aggregate/hourly-windows.js';
import { SpikeDetector } from '../../streams/detect/spike.js';

export interface MemorySample {
  /** Simulated hours since the start. */
  readonly hour: number;
  readonly pairs: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly windows: number;
}

const pairs = Number(process.argv[2] ?? 1_000_000);
const hours = Number(process.argv[3] ?? 48);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const rand = createRandom(48);
const pool = Array.from({ length: 64 }, () => generatePair(rand, { objects: 10 }).map((v) => JSON.stringify(v)) as [string, string]);
const DRAWINGS = 10_000;
const start = hourStartOf(Date.UTC(2030, 0, 1));
const step = (hours * HOUR_MS) / pairs;
let now = start;
const clock = () => now;
const windows = new HourlyWindows({ retentionHours: 24, clock });
const spikes = new SpikeDetector({ clock });
const samples: MemorySample[] = [];
let lastHour = 0;
let lastFlushMinute = 0;
const began = Date.now();

const sample = (hour: number, done: number) => {
  gc();
  const m = process.memoryUsage();
  samples.push({ hour, pairs: done, rss: m.rss, heapUsed: m.heapUsed, external: m.external, windows: windows.size });
};

sample(0, 0);
for (let i = 0; i < pairs; i++) {
  now = start + i * step;
  const [a, b] = pool[i % pool.length]!;
  const drawingId = `drawing_${i % DRAWINGS}`;
  const counts = countChanges(validateAndDiff(JSON.parse(a), JSON.parse(b), drawingId));
  const at = new Date(now);
  const latency = 2 + (i % 97);
  windows.recordResult({ at, processingTimeMs: latency, endToEndMs: latency * 3, counts });
  spikes.observe({ drawingId, taskKey: `task-${i}`, counts, at });
  // The aggregation flushes dirty windows on a timer: once per simulated minute here.
  const minute = Math.floor((now - start) / 60_000);
  if (minute !== lastFlushMinute) {
    lastFlushMinute = minute;
    windows.dirtyRollups('bench');
  }
  const hour = Math.floor((now - start) / HOUR_MS);
  if (hour !== lastHour) {
    lastHour = hour;
    sample(hour, i);
  }
}
now = start + hours * HOUR_MS;
sample(hours, pairs);
windows.close();
process.stdout.write(`${JSON.stringify({ pairs, hours, seconds: (Date.now() - began) / 1000, samples })}\n`);
