/**
 * A layer blob → its uncompressed tar bytes. The compressed bytes are verified against the descriptor (size
 * and digest) as they stream; the compression is taken from the first bytes (gzip, zstd or plain tar) and must
 * agree with the media type; the uncompressed bytes are hashed into the diffID. Node 20's zlib has no zstd, so
 * zstd layers stream through Debian's `zstd -dc`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { BerthError } from '../../common/errors';
import { readableChunks } from '../../common/readable-chunks';
import { DigestVerifier, type Digest } from '../digest';
import { layerCompression, type Compression, type Descriptor } from '../registry/manifest';

export interface UncompressedLayer {
  chunks: AsyncIterable<Buffer>;
  /** Stops early (a consumer that failed): ends the decompressor and closes the blob. */
  close(): Promise<void>;
  /** sha256 of every uncompressed byte; available once `chunks` has been read to the end. */
  diffId(): Digest;
}

export const ZSTD_BIN = process.env.BERTH_ZSTD ?? 'zstd';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

export function sniffCompression(head: Buffer): Compression {
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** zlib's output chunks: 256 KiB rather than 16 KiB: fewer trips through the streams, the tar reader and write(2). */
const GUNZIP_CHUNK = 256 * 1024;

export interface DecompressOptions {
  /**
   * Check the compressed bytes against the descriptor (default). False when the caller has them verified
   * elsewhere (a blob followed while its ingest hashes it) and waits for that verdict before using the result.
   */
  verify?: boolean;
}

export function decompressLayer(input: Readable | AsyncIterable<Buffer>, desc: Pick<Descriptor, 'digest' | 'size' | 'mediaType'>, what = `layer ${desc.digest}`, options: DecompressOptions = {}): UncompressedLayer {
  const hash = createHash('sha256');
  let diffId: Digest | undefined;
  const source: AsyncIterator<Buffer> = (input instanceof Readable ? readableChunks(input) : input)[Symbol.asyncIterator]();
  const closeInput = () => {
    if (input instanceof Readable) input.destroy();
    void source.return?.(undefined)?.catch(() => undefined);
  };
  const verifier = options.verify === false ? undefined : new DigestVerifier(desc.digest, desc.size, what);
  /** The compressed bytes, verified on the way when asked: the first `head` chunks, then the rest of the input. */
  async function* compressed(head: Buffer[]): AsyncGenerator<Buffer> {
    yield* head;
    for (let r = await source.next(); !r.done; r = await source.next()) {
      verifier?.update(r.value);
      yield r.value;
    }
    verifier?.finish();
  }
  async function* run(): AsyncGenerator<Buffer> {
    const head: Buffer[] = [];
    let headLen = 0;
    while (headLen < 4) {
      const r = await source.next();
      if (r.done) break;
      verifier?.update(r.value);
      head.push(r.value);
      headLen += r.value.length;
    }
    const found = sniffCompression(head.length === 1 ? head[0] : Buffer.concat(head));
    const declared = layerCompression(desc.mediaType);
    if (found !== declared && headLen > 0) {
      throw new BerthError('InvalidArgument', `${what}: media type ${desc.mediaType} says ${declared} but the content is ${found === 'none' ? 'not compressed' : found}`, { field: 'mediaType' });
    }
    const output = found === 'none' ? { chunks: compressed(head), done: Promise.resolve(), stop: () => undefined } : found === 'gzip' ? gunzip(compressed(head), what) : zstd(Readable.from(compressed(head)), what);
    try {
      for await (const c of output.chunks) {
        hash.update(c);
        yield c;
      }
      await output.done;
      diffId = `sha256:${hash.digest('hex')}` as Digest;
    } finally {
      output.stop();
      closeInput();
    }
  }
  const chunks = run();
  return {
    chunks,
    close: async () => {
      await chunks.return(undefined).catch(() => undefined);
      closeInput();
    },
    diffId: () => {
      if (!diffId) throw new BerthError('Internal', `${what}: diffID asked for before the layer was read to the end`);
      return diffId;
    },
  };
}

interface Decompression {
  chunks: AsyncIterable<Buffer>;
  /** Settles once the decompressor has taken all its input (rejects with the reason it could not). */
  done: Promise<void>;
  stop(): void;
}

/** Feeds `input` into zlib by hand (write, wait for 'drain') and hands its output on chunk by chunk. */
function gunzip(input: AsyncGenerator<Buffer>, what: string): Decompression {
  const z = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK });
  const drained = () => new Promise<void>((resolve) => {
    const done = () => {
      z.off('drain', done);
      z.off('close', done);
      resolve();
    };
    z.on('drain', done);
    z.on('close', done);
  });
  const done = (async () => {
    try {
      for await (const c of input) {
        if (z.destroyed) return;
        if (!z.write(c)) await drained();
      }
      z.end();
    } catch (err) {
      z.destroy(err as Error);
      throw err;
    }
  })();
  done.catch(() => undefined); // seen through the output, or awaited
  const chunks = (async function* () {
    try {
      yield* readableChunks(z);
    } catch (err) {
      if (err instanceof BerthError || !(err as NodeJS.ErrnoException).code?.startsWith('Z_')) throw err;
      throw new BerthError('InvalidArgument', `${what}: bad gzip stream: ${(err as Error).message}`, { field: 'layer', cause: err });
    }
  })();
  return { chunks, done, stop: () => z.destroy() };
}

function zstd(input: Readable, what: string): Decompression {
  const child = spawn(ZSTD_BIN, ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new BerthError('FailedPrecondition', `${what}: cannot run ${ZSTD_BIN} to decompress a zstd layer (install Debian's zstd): ${err.message}`, { cause: err })));
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const feeding = pipeline(input, child.stdin).catch((err: NodeJS.ErrnoException) => {
    // EPIPE: zstd stopped reading (it failed, and says why on stderr) — its exit status tells.
    if (err.code !== 'EPIPE') throw err;
  });
  feeding.catch(() => undefined);
  const done = (async () => {
    await spawned;
    const code = await exited;
    await feeding;
    if (code !== 0) throw new BerthError('InvalidArgument', `${what}: bad zstd stream: ${stderr.trim() || `zstd exited with ${code}`}`, { field: 'layer' });
  })();
  done.catch(() => undefined);
  return {
    chunks: readableChunks(child.stdout),
    done,
    stop: () => {
      input.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
