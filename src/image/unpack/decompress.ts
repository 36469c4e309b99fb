/**
 * A layer blob → its uncompressed tar bytes. The compressed bytes are verified against the descriptor (size
 * and digest) as they stream; the compression is taken from the first bytes (gzip, zstd or plain tar) and must
 * agree with the media type; the uncompressed bytes are hashed into the diffID. Node 20's zlib has no zstd, so
 * zstd layers stream through Debian's `zstd -dc`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, type Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { BerthError } from '../../common/errors';
import { VerifyingStream, type Digest } from '../digest';
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
  const closeInput = () => {
    if (input instanceof Readable) input.destroy();
    else void (input as AsyncGenerator<Buffer>).return?.(undefined)?.catch(() => undefined);
  };
  async function* run(): AsyncGenerator<Buffer> {
    const verified: Transform = options.verify === false ? new PassThrough() : new VerifyingStream(desc.digest, desc.size, what);
    const feeding = pipeline(input, verified).catch((err: unknown) => {
      verified.destroy(err as Error);
      throw err;
    });
    feeding.catch(() => undefined); // observed below
    const it = verified[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const head: Buffer[] = [];
    let headLen = 0;
    while (headLen < 4) {
      const r = await it.next();
      if (r.done) break;
      head.push(r.value);
      headLen += r.value.length;
    }
    const first = Buffer.concat(head);
    const found = sniffCompression(first);
    const declared = layerCompression(desc.mediaType);
    if (found !== declared && first.length > 0) {
      throw new BerthError('InvalidArgument', `${what}: media type ${desc.mediaType} says ${declared} but the content is ${found === 'none' ? 'not compressed' : found}`, { field: 'mediaType' });
    }
    const rest = Readable.from((async function* () {
      if (first.length > 0) yield first;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    })());
    let output: AsyncIterable<Buffer>;
    let finished: Promise<unknown>;
    let stop = () => undefined as void;
    if (found === 'none') {
      output = rest;
      finished = Promise.resolve();
    } else if (found === 'gzip') {
      const gunzip = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK });
      finished = pipeline(rest, gunzip as unknown as Writable).catch((err: unknown) => {
        if (err instanceof BerthError) throw err;
        throw new BerthError('InvalidArgument', `${what}: bad gzip stream: ${(err as Error).message}`, { field: 'layer', cause: err });
      });
      finished.catch(() => undefined);
      output = gunzip;
      stop = () => gunzip.destroy();
    } else {
      const z = zstd(rest, what);
      output = z.stdout;
      finished = z.done;
      stop = z.kill;
    }
    try {
      for await (const c of output) {
        hash.update(c as Buffer);
        yield c as Buffer;
      }
      await finished;
      await feeding;
      diffId = `sha256:${hash.digest('hex')}` as Digest;
    } finally {
      stop();
      rest.destroy();
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

function zstd(input: Readable, what: string): { stdout: Readable; done: Promise<void>; kill(): void } {
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
  return { stdout: child.stdout, done, kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); } };
}
