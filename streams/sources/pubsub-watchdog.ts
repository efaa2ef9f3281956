/**
 * When a Pub/Sub streaming pull that went quiet is closed and reopened.
 *
 * Heuristic (the emulator cannot report backlog, so "messages are waiting" is inferred): the
 * stream is reopened when (1) the stream has closed on its own (a non-retryable error such as
 * NOT_FOUND), or an error or abnormal stream end was seen since the last message, (2) no message
 * has arrived for the quiet period since then, and (3) nothing is unsettled. A silent stream
 * without trouble is an empty subscription and is left alone; waiting until nothing is unsettled
 * keeps the flow-control bound strict (a fresh stream gets full capacity while the old leases
 * would still be live), at the cost of reopening only once the slowest pair settles.
 */
export class StreamWatchdog {
  private openedAt = 0;
  private lastMessageAt = 0;
  private lastTroubleAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly quietMs: number) {}

  /** A new stream was opened. */
  opened(now: number = Date.now()): void {
    this.openedAt = now;
  }

  /** The stream carried a message. */
  message(now: number = Date.now()): void {
    this.lastMessageAt = now;
  }

  /** An error or an abnormal end of the stream. */
  trouble(now: number = Date.now()): void {
    this.lastTroubleAt = now;
  }

  /** The current stream (`open` or closed on its own) is to be reopened now. */
  due(open: boolean, unsettled: number, now: number = Date.now()): boolean {
    if (unsettled > 0) return false;
    const quietSince = Math.max(this.lastMessageAt, this.openedAt);
    const troubled = !open || this.lastTroubleAt >= quietSince;
    return troubled && now - quietSince >= this.quietMs;
  }

  /** Runs `check` four times per quiet period (at most every 250 ms) until `stop()`. */
  start(check: () => void): void {
    this.timer = setInterval(check, Math.max(250, this.quietMs / 4));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
