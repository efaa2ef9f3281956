/**
 * Progress of a simulator run on stderr: a bar redrawn in place with rate and ETA on a terminal,
 * plain lines at every tenth (or every 10 s) when stderr is a file or a pipe, so CI logs stay
 * readable.
 */

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  readonly total: number;
  readonly stream: ProgressStream;
  /** ms; injectable for tests. @default Date.now */
  readonly clock?: () => number;
  /** Label in front of each line. @default 'simulate' */
  readonly label?: string;
}

/** A terminal is redrawn at most this often. */
const TTY_REDRAW_MS = 100;
/** Without a terminal, a line at least this often even between tenths. */
const PLAIN_EVERY_MS = 10_000;
const BAR_WIDTH = 24;

/**
 * @example
 * const progress = new Progress({ total: 1000, stream: process.stderr });
 * progress.advance(100, 12_000);
 * progress.finish();
 */
export class Progress {
  private readonly clock: () => number;
  private readonly started: number;
  private readonly tty: boolean;
  private readonly label: string;
  private done = 0;
  private bytes = 0;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastTenth = 0;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.clock = options.clock ?? Date.now;
    this.started = this.clock();
    this.tty = options.stream.isTTY === true;
    this.label = options.label ?? 'simulate';
    // A terminal shows the bar at once; a log gets its first line at the first tenth.
    this.lastDraw = this.tty ? Number.NEGATIVE_INFINITY : this.started;
  }

  /** Counts `pairs` more as written, with the bytes they took. */
  advance(pairs: number, bytes: number): void {
    this.done += pairs;
    this.bytes += bytes;
    const now = this.clock();
    if (this.tty) {
      if (now - this.lastDraw >= TTY_REDRAW_MS) this.draw(now);
      return;
    }
    const tenth = this.options.total > 0 ? Math.floor((10 * this.done) / this.options.total) : 10;
    if (tenth > this.lastTenth || now - this.lastDraw >= PLAIN_EVERY_MS) {
      this.lastTenth = tenth;
      this.draw(now);
    }
  }

  /** Draws the final state and, on a terminal, ends the line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const now = this.clock();
    if (this.tty) {
      this.draw(now);
      this.options.stream.write('\n');
    } else if (this.lastTenth < 10 || this.done === 0) {
      // The 100% line was drawn as the last tenth arrived; otherwise show where the run stopped.
      this.draw(now);
    }
  }

  /** The text of the current state, without control characters. */
  line(now: number = this.clock()): string {
    const { total } = this.options;
    const seconds = Math.max(1e-3, (now - this.started) / 1000);
    const rate = this.done / seconds;
    const pct = total > 0 ? Math.min(100, Math.floor((100 * this.done) / total)) : 100;
    const eta = rate > 0 && this.done < total ? formatDuration((total - this.done) / rate) : this.done >= total ? 'done' : '?';
    return `${this.label}: ${this.done}/${total} pairs (${pct}%), ${formatRate(rate)} pairs/s, ${formatBytes(this.bytes)}, ETA ${eta}`;
  }

  private draw(now: number): void {
    this.lastDraw = now;
    if (!this.tty) {
      this.options.stream.write(`${this.line(now)}\n`);
      return;
    }
    const { total } = this.options;
    const filled = total > 0 ? Math.min(BAR_WIDTH, Math.round((BAR_WIDTH * this.done) / total)) : BAR_WIDTH;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`;
    let text = `${bar} ${this.line(now)}`;
    const columns = this.options.stream.columns;
    if (columns !== undefined && columns > 10 && text.length >= columns) text = text.slice(0, columns - 1);
    // \r and erase-line: redraw in place.
    this.options.stream.write(`\r\x1b[2K${text}`);
  }
}

/** 1.2 KB, 3.4 MB: decimal units, one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** 4s, 2m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatRate(rate: number): string {
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}
