/**
 * Collects a large document's text without keeping its pieces alive: small strings are appended
 * to a short pending string and encoded into fixed-size buffers every few kilobytes. An array of a
 * million pieces joined at the end keeps every piece until the join, long enough for the garbage
 * collector to copy each one out of the young generation; here every piece dies young.
 */

/** Pending text is encoded once it is this long: large enough to amortise the call, small enough to stay young. */
const FLUSH_AT = 16 * 1024;
/** Size of each buffer the text is encoded into; the last is cut to what it holds. */
const CHUNK_BYTES = 1024 * 1024;

export class TextSink {
  private readonly full: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private bytes = 0;
  private pending = '';

  add(text: string): void {
    this.pending += text;
    if (this.pending.length >= FLUSH_AT) this.flush();
  }

  /** The whole text, as one string. */
  text(): string {
    this.flush();
    this.full.push(this.chunk.subarray(0, this.used));
    const all = Buffer.concat(this.full, this.bytes + this.used);
    return all.toString('utf8');
  }

  private flush(): void {
    const text = this.pending;
    if (text === '') return;
    this.pending = '';
    // A UTF-16 code unit is at most three bytes of UTF-8.
    if (this.used + text.length * 3 > this.chunk.length) {
      this.full.push(this.chunk.subarray(0, this.used));
      this.bytes += this.used;
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, text.length * 3));
      this.used = 0;
    }
    this.used += this.chunk.write(text, this.used, 'utf8');
  }
}
