/**
 * What a reader needs to follow a blob while it is being downloaded: the temp file, how many bytes of it are
 * written, and how the ingest ended. Lets a layer be unpacked as it streams in without holding it in memory:
 * the reader re-reads the temp file (page cache) up to the written mark and waits for more.
 */
import * as fs from 'node:fs';

export type IngestPhase = 'writing' | 'done' | 'failed';

export class IngestState {
  phase: IngestPhase = 'writing';
  /** Bytes whose write(2) has returned. */
  written = 0;
  error: unknown;
  private waiters: Array<() => void> = [];

  constructor(readonly tmp: string, readonly final: string, readonly size: number) {}

  wrote(n: number): void {
    this.written += n;
    this.wake();
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
    try {
      let pos = 0;
      while (pos < this.size) {
        if (pos >= this.written) {
          if ((this.phase as IngestPhase) === 'failed') throw this.error;
          await this.changed();
          continue;
        }
        const want = Math.min(chunk, this.written - pos);
        const buf = Buffer.allocUnsafe(want);
        const n = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, want, pos, (err, got) => (err ? reject(err) : resolve(got))));
        if (n === 0) throw new Error(`ingest ${this.tmp}: read nothing at ${pos} of ${this.written} written bytes`);
        pos += n;
        yield n === want ? buf : buf.subarray(0, n);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
}
