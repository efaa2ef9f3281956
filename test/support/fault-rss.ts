/**
 * Memory of a child process as the kernel sees it (`/proc/<pid>/status`), sampled while a fault
 * test runs, so "memory stays bounded" is shown with numbers rather than assumed: VmRSS now and
 * then, and VmHWM, the peak the kernel recorded, which no sampling interval can miss.
 */
import { readFileSync } from 'node:fs';

export interface MemoryReading {
  /** Resident set size now, in MiB. */
  readonly rssMb: number;
  /** Of which anonymous memory (heaps, buffers): what the process itself holds, in MiB. */
  readonly anonMb: number;
  /** Of which file-backed pages (code, mapped files): shared and reclaimable, in MiB. */
  readonly fileMb: number;
  /** Peak resident set size since the process started, in MiB. */
  readonly peakMb: number;
}

export class ProcessGoneError extends Error {
  override readonly name = 'ProcessGoneError';
  readonly code = 'process_gone' as const;
}

/**
 * Reads VmRSS and VmHWM of `pid`.
 *
 * @throws ProcessGoneError when the process has exited (its status file is gone).
 * @example
 * const { rssMb, peakMb } = readMemory(service.child.pid!);
 */
export function readMemory(pid: number): MemoryReading {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    throw new ProcessGoneError(`cannot read /proc/${pid}/status: ${(err as Error).message}`);
  }
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!m) throw new ProcessGoneError(`/proc/${pid}/status has no ${field} (a zombie?)`);
    return Number(m[1]);
  };
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, fileMb: kb('RssFile') / 1024, peakMb: kb('VmHWM') / 1024 };
}

export interface RssSample {
  /** ms since sampling started. */
  readonly atMs: number;
  readonly rssMb: number;
  readonly anonMb: number;
  /** What the test was doing then ('outage', 'recovery', …). */
  readonly phase: string;
}

export interface RssSummary {
  readonly samples: number;
  readonly firstMb: number;
  readonly minMb: number;
  readonly maxMb: number;
  readonly lastMb: number;
  /** VmHWM at the last reading: the true peak, including between samples. */
  readonly peakMb: number;
  /** Largest anonymous RSS sampled. */
  readonly maxAnonMb: number;
}

/**
 * Samples a process's RSS every `intervalMs` until stopped (or until the process is gone).
 *
 * @example
 * const rss = new RssSampler(service.child.pid!, 250);
 * t.teardown(() => rss.stop());
 * rss.phase = 'outage';
 * t.log(rss.describe());
 */
export class RssSampler {
  readonly samples: RssSample[] = [];
  /** Label stored with the next samples. */
  phase = 'start';
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private lastPeakMb = 0;

  constructor(
    readonly pid: number,
    intervalMs = 250,
    phase = 'start',
  ) {
    this.phase = phase;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  /** Takes one sample now (also useful just before a phase changes). */
  sample(): RssSample | null {
    try {
      const { rssMb, anonMb, peakMb } = readMemory(this.pid);
      this.lastPeakMb = peakMb;
      const sample = { atMs: Date.now() - this.started, rssMb, anonMb, phase: this.phase };
      this.samples.push(sample);
      return sample;
    } catch (err) {
      if (err instanceof ProcessGoneError) {
        this.stop();
        return null;
      }
      throw err;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Summary over all samples, or those of one phase. */
  summary(phase?: string): RssSummary {
    const chosen = phase === undefined ? this.samples : this.samples.filter((s) => s.phase === phase);
    if (chosen.length === 0) throw new RangeError(`no RSS samples${phase === undefined ? '' : ` in phase ${phase}`}`);
    const values = chosen.map((s) => s.rssMb);
    return {
      samples: chosen.length,
      firstMb: values[0]!,
      minMb: Math.min(...values),
      maxMb: Math.max(...values),
      lastMb: values.at(-1)!,
      peakMb: this.lastPeakMb,
      maxAnonMb: Math.max(...chosen.map((s) => s.anonMb)),
    };
  }

  /** One line per phase, plus a compact series (every n-th sample) for the test log. */
  describe(points = 24): string {
    const phases = [...new Set(this.samples.map((s) => s.phase))];
    const lines = phases.map((p) => {
      const s = this.summary(p);
      return `  ${p.padEnd(10)} ${String(s.samples).padStart(4)} samples, RSS min ${mb(s.minMb)} max ${mb(s.maxMb)} last ${mb(s.lastMb)}, anonymous max ${mb(s.maxAnonMb)}`;
    });
    const step = Math.max(1, Math.ceil(this.samples.length / points));
    const series = this.samples
      .filter((_, i) => i % step === 0)
      .map((s) => `${(s.atMs / 1000).toFixed(1)}s:${Math.round(s.rssMb)}`)
      .join(' ');
    return [`RSS of pid ${this.pid} (MiB), peak (VmHWM) ${mb(this.lastPeakMb)}:`, ...lines, `  series ${series}`].join('\n');
  }
}

const mb = (v: number): string => `${v.toFixed(0)} MiB`;
