/**
 * Exact-size reads over an async stream of Buffers (what the tar reader needs: 512-byte headers, then a body
 * of known size). Bytes are never copied unless a read spans two chunks.
 */
export class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Bytes consumed so far (offsets in error messages). */
  offset = 0;

  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.source.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    return true;
  }

  /** Exactly `n` bytes; fewer only at the end of the stream (the caller decides whether that is an error). */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n && (await this.fill()));
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    this.offset += out.length;
    return out;
  }

  /** Up to `n` bytes as they arrive; stops early only at the end of the stream. */
  async *take(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill())) return;
      const out = this.buf.subarray(0, Math.min(left, this.buf.length));
      this.buf = this.buf.subarray(out.length);
      this.offset += out.length;
      left -= out.length;
      yield out;
    }
  }

  /** Skips `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let got = 0;
    for await (const c of this.take(n)) got += c.length;
    return got;
  }

  /** Reads everything left (so that a digest over the whole stream is complete); returns the byte count. */
  async drain(): Promise<number> {
    let n = this.buf.length;
    this.offset += this.buf.length;
    this.buf = Buffer.alloc(0);
    while (await this.fill()) {
      n += this.buf.length;
      this.offset += this.buf.length;
      this.buf = Buffer.alloc(0);
    }
    return n;
  }
}
