/**
 * Content-addressed blob store: `<root>/blobs/<algorithm>/<hex>`. An ingest streams into
 * `<root>/ingest/<random>`, verifying size and digest on the way, then fsyncs, renames into place and fsyncs
 * the directory: a blob that exists is complete and verified. Concurrent ingests of one digest in this process
 * share one download. Whatever fails (bad digest, cut stream, ENOSPC, abort) removes its temp file; temp files
 * left by a crash are removed when the store is opened.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform, Writable } from 'node:stream';
import { syncDir } from '../../common/atomic';
import { readableChunks } from '../../common/readable-chunks';
import { BerthError, asBerthError } from '../../common/errors';
import { parseDigest, VerifyingStream, type Digest } from '../digest';
import { IngestState } from './ingest-state';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface IngestOptions {
  /** Called as bytes arrive (total so far, expected size). */
  onProgress?: (bytes: number, size: number) => void;
  signal?: AbortSignal;
  what?: string;
}

export type BlobSource = () => Promise<Readable> | Readable;

export class ContentStore {
  private readonly inflight = new Map<string, Promise<BlobInfo>>();
  private readonly ingesting = new Map<string, IngestState>();
  readonly blobsDir: string;
  readonly ingestDir: string;

  private constructor(readonly root: string) {
    this.blobsDir = path.join(root, 'blobs');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** Opens (creating) the store and removes temp files a crashed process left behind. */
  static open(root: string): ContentStore {
    const s = new ContentStore(root);
    fs.mkdirSync(path.join(s.blobsDir, 'sha256'), { recursive: true, mode: 0o700 });
    fs.mkdirSync(s.ingestDir, { recursive: true, mode: 0o700 });
    s.cleanupIngests();
    return s;
  }

  /** Removes every temp file not owned by an ingest running in this process. */
  cleanupIngests(): void {
    const live = new Set([...this.inflight.keys()].map((d) => d.replace(':', '-')));
    for (const f of fs.readdirSync(this.ingestDir)) {
      if ([...live].some((d) => f.startsWith(d + '.'))) continue;
      fs.rmSync(path.join(this.ingestDir, f), { force: true });
    }
  }

  /** Temp files currently under ingest/ (for tests and health checks). */
  ingestFiles(): string[] {
    return fs.readdirSync(this.ingestDir);
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.blobsDir, algorithm, hex);
  }

  /** Size of a stored blob, or undefined. */
  info(digest: string): BlobInfo | undefined {
    try {
      const st = fs.statSync(this.blobPath(digest));
      return { digest: digest as Digest, size: st.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw asBerthError(err);
    }
  }

  has(digest: string): boolean {
    return this.info(digest) !== undefined;
  }

  read(digest: string, highWaterMark?: number): Readable {
    const p = this.blobPath(digest);
    if (!fs.existsSync(p)) throw new BerthError('NotFound', `blob ${digest} is not in the content store`);
    return fs.createReadStream(p, { highWaterMark });
  }

  /**
   * A blob's bytes while it is being ingested (following the temp file as it grows), or from the store when it
   * is already there. `followed` says the bytes come from a running ingest: they are verified by that ingest,
   * whose result the caller must wait for before trusting anything made of them.
   */
  follow(digest: string): { chunks: AsyncIterable<Buffer>; followed: boolean } {
    const st = this.ingesting.get(digest);
    if (st) return { chunks: st.follow(), followed: true };
    return { chunks: readableChunks(this.read(digest, 1 << 20)), followed: false };
  }

  readBuffer(digest: string): Buffer {
    try {
      return fs.readFileSync(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BerthError('NotFound', `blob ${digest} is not in the content store`);
      throw asBerthError(err);
    }
  }

  /** Removes a blob; false when it was not there. */
  delete(digest: string): boolean {
    try {
      fs.unlinkSync(this.blobPath(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw asBerthError(err);
    }
  }

  list(): BlobInfo[] {
    const out: BlobInfo[] = [];
    for (const algorithm of fs.readdirSync(this.blobsDir)) {
      for (const hex of fs.readdirSync(path.join(this.blobsDir, algorithm))) {
        const digest = `${algorithm}:${hex}`;
        try {
          parseDigest(digest);
        } catch {
          continue;
        }
        const st = fs.statSync(path.join(this.blobsDir, algorithm, hex));
        out.push({ digest: digest as Digest, size: st.size });
      }
    }
    return out;
  }

  /** Deletes every blob not in `keep`; returns what was removed. Also clears stale temp files. */
  gc(keep: Set<string>): BlobInfo[] {
    const removed: BlobInfo[] = [];
    for (const b of this.list()) {
      if (keep.has(b.digest) || this.inflight.has(b.digest)) continue;
      if (this.delete(b.digest)) removed.push(b);
    }
    for (const algorithm of fs.readdirSync(this.blobsDir)) syncDir(path.join(this.blobsDir, algorithm));
    this.cleanupIngests();
    return removed;
  }

  /** Stores a small blob held in memory (manifests, configs). */
  ingestBuffer(digest: string, size: number, data: Buffer, options: IngestOptions = {}): Promise<BlobInfo> {
    return this.ingest(digest, size, () => Readable.from([data]), options);
  }

  /**
   * Streams `source()` into the store as `digest` of `size` bytes. Returns at once when the blob is present;
   * joins an ingest of the same digest already running in this process.
   */
  ingest(digest: string, size: number, source: BlobSource, options: IngestOptions = {}): Promise<BlobInfo> {
    parseDigest(digest, 'digest');
    const existing = this.info(digest);
    if (existing) {
      if (existing.size === size) return Promise.resolve(existing);
      // A stored blob can only have the wrong size if someone wrote it behind our back: replace it.
      this.delete(digest);
    }
    const running = this.inflight.get(digest);
    if (running) return running;
    const p = this.doIngest(digest, size, source, options).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, p);
    return p;
  }

  private async doIngest(digest: string, size: number, source: BlobSource, options: IngestOptions): Promise<BlobInfo> {
    const what = options.what ?? 'blob';
    const tmp = path.join(this.ingestDir, `${digest.replace(':', '-')}.${randomBytes(6).toString('hex')}`);
    const final = this.blobPath(digest);
    let fd: number | undefined;
    let sink: FileSink | undefined;
    let state: IngestState | undefined;
    try {
      // Opened before the first await: from the moment ingest() returns, follow() can read the temp file.
      fd = fs.openSync(tmp, 'wx', 0o600);
      state = new IngestState(tmp, final, size);
      this.ingesting.set(digest, state);
      const input = await source();
      const verify = new VerifyingStream(digest, size, what);
      let seen = 0;
      const progress = new Transform({
        transform(chunk: Buffer, _e, cb) {
          seen += chunk.length;
          options.onProgress?.(seen, size);
          cb(null, chunk);
        },
      });
      sink = new FileSink(fd, state);
      await pipeline(input, verify, progress, sink, { signal: options.signal });
      fs.closeSync(fd);
      fd = undefined;
      fs.mkdirSync(path.dirname(final), { recursive: true });
      fs.renameSync(tmp, final);
      state.settle('done');
      this.ingesting.delete(digest);
      await syncDirAsync(path.dirname(final));
      return { digest: digest as Digest, size };
    } catch (err) {
      // A write may still be running in the thread pool: closing its fd now could let the number be reused
      // (by a socket) before that write lands.
      await sink?.settled();
      if (fd !== undefined) {
        try {
          fs.closeSync(fd);
        } catch {
          // already closed
        }
      }
      fs.rmSync(tmp, { force: true });
      const described = describeIngestError(err, digest, what, this.root);
      state?.settle('failed', described);
      if (state && this.ingesting.get(digest) === state) this.ingesting.delete(digest);
      throw described;
    }
  }
}

function describeIngestError(err: unknown, digest: string, what: string, root: string): unknown {
  if (err instanceof BerthError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.name === 'AbortError') return err;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    return new BerthError('ResourceExhausted', `no space left in the content store ${root} while writing ${what} ${digest} (${e.code})`, { cause: err });
  }
  return asBerthError(err);
}

/**
 * Writes to an fd it does not own, tells `state` how far it got (for followers), fsyncs at the end, and can tell
 * when no write is in flight any more.
 */
class FileSink extends Writable {
  private inflight: Promise<void> = Promise.resolve();

  constructor(private readonly fd: number, private readonly state: IngestState) {
    super({ highWaterMark: 1 << 20 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.write1(chunk, cb);
  }

  private write1(chunk: Buffer, cb: (err?: Error | null) => void): void {
    this.inflight = writeAll(this.fd, chunk).then(() => {
      this.state.wrote([chunk]);
      cb();
    }, (err: Error) => cb(err));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    // Chunks that queued up while a write was running go down in one writev(2), without copying them together.
    if (chunks.length === 1) return this.write1(chunks[0].chunk, cb);
    const bufs = chunks.map((c) => c.chunk);
    this.inflight = writevAll(this.fd, bufs).then(() => {
      this.state.wrote(bufs);
      cb();
    }, (err: Error) => cb(err));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inflight = new Promise<void>((resolve) => fs.fsync(this.fd, (err) => {
      cb(err);
      resolve();
    }));
  }

  settled(): Promise<void> {
    return this.inflight.catch(() => undefined);
  }
}

/** fsync of a directory in the thread pool: the main thread has layers to unpack meanwhile. */
async function syncDirAsync(dir: string): Promise<void> {
  const fd = await fs.promises.open(dir, 'r');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** writev(2) at the current offset until every buffer is written (a short write resumes where it stopped). */
async function writevAll(fd: number, bufs: Buffer[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    let n = await new Promise<number>((resolve, reject) => fs.writev(fd, rest, (err, written) => (err ? reject(err) : resolve(written))));
    while (rest.length > 0 && n >= rest[0].length) {
      n -= rest[0].length;
      rest = rest.slice(1);
    }
    if (n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
  }
}

async function writeAll(fd: number, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    off += await new Promise<number>((resolve, reject) => fs.write(fd, chunk, off, chunk.length - off, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
}
