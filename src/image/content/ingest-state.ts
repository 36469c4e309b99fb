/**
 * What a reader needs to follow a blob while it is being downloaded: the temp file, how many bytes of it are
 * written, the last few MiB of them still in memory, and how the ingest ended. Lets a layer be unpacked as it
 * streams in without holding it in memory: a reader that keeps up takes the very Buffers the download wrote
 * (no read, no copy); one that fell behind re-reads the temp file (page cache) and catches up.
 */
import * as fs from 'node:fs';

export type IngestPhase = 'writing' | 'done' | 'failed';

/** Bytes of the newest writes kept in memory for followers (per blob being ingested). */
const RECENT_WINDOW = 4 << 20;

export class IngestState {
  phase: IngestPhase = 'writing';
  /** Bytes whose write(2) has returned. */
  written = 0;
  error: unknown;
  private waiters: Array<() => void> = [];
  /** The newest written bytes, in write order; `recentStart` is the blob offset of recent[0]. */
  private recent: Buffer[] = [];
  private recentStart = 0;
  private recentBytes = 0;
  /** Followers reading right now: without one, nothing is kept (a later one starts in the file anyway). */
  private followers = 0;

  constructor(readonly tmp: string, readonly final: string, readonly size: number) {}

  /** `bufs` have been written at the end of the file. */
  wrote(bufs: readonly Buffer[]): void {
    for (const b of bufs) {
      this.written += b.length;
      this.recent.push(b);
      this.recentBytes += b.length;
    }
    const window = this.followers > 0 ? RECENT_WINDOW : 0;
    while (this.recent.length > 0 && this.recentBytes - this.recent[0].length >= window) {
      const old = this.recent.shift()!;
      this.recentStart += old.length;
      this.recentBytes -= old.length;
    }
    this.wake();
  }

  /** The bytes from `pos` to the end of the in-memory chunk that holds them; undefined when not in memory. */
  private inMemory(pos: number): Buffer | undefined {
    if (pos < this.recentStart) return undefined;
    let start = this.recentStart;
    for (const b of this.recent) {
      if (pos < start + b.length) return b.subarray(pos - start);
      start += b.length;
    }
    return undefined;
  }

  /** Called in the same tick as the rename (done) or the unlink (failed) of the temp file. */
  settle(phase: 'done' | 'failed', error?: unknown): void {
    this.phase = phase;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /**
   * The blob's bytes as they are written, in chunks of up to `chunk` bytes. Opened synchronously, so the
   * temp file is still there (or already renamed to `final`). Ends after `size` bytes without waiting for the
   * ingest's verdict on them (the caller must, before trusting what it made of them); throws the ingest's error
   * if it fails before that.
   */
  async *follow(chunk = 1 << 20): AsyncGenerator<Buffer> {
    if (this.phase === 'failed') throw this.error;
    const fd = fs.openSync(this.phase === 'done' ? this.final : this.tmp, 'r');
    this.followers++;
    try {
      let pos = 0;
      while (pos < this.size) {
        if (pos >= this.written) {
          if ((this.phase as IngestPhase) === 'failed') throw this.error;
          await this.changed();
          continue;
        }
        const held = this.inMemory(pos);
        if (held) {
          pos += held.length;
          yield held;
          continue;
        }
        // Fell behind the window (pos < recentStart): read what scrolled out of it from the file.
        const want = Math.min(chunk, this.recentStart - pos);
        const buf = Buffer.allocUnsafe(want);
        const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, want, pos, (err, got) => (err ? reject(err) : resolve(got))));
        if (n === 0) throw new Error(`ingest ${this.tmp}: read nothing at ${pos} of ${this.written} written bytes`);
        pos += n;
        yield n === want ? buf : buf.subarray(0, n);
      }
    } finally {
      this.followers--;
      fs.closeSync(fd);
    }
  }
}
