import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '../../src/common/errors';
import { ContentStore } from '../../src/image/content/store';
import { digestOf } from '../../src/image/digest';
import { cleanupTempDirs, mountTmpfs, requireTools, tempDir } from './helpers';

/** A stream that yields `data` in chunks with a pause, so concurrent callers overlap. */
function slow(data: Buffer, chunk = 64 * 1024): Readable {
  let i = 0;
  return new Readable({
    read() {
      setTimeout(() => {
        if (i >= data.length) this.push(null);
        else this.push(data.subarray(i, (i += chunk)));
      }, 2);
    },
  });
}

describe('content store', () => {
  const mounts: Array<{ unmount(): void }> = [];
  beforeAll(() => requireTools('mount', 'umount'));
  afterAll(() => {
    for (const m of mounts) m.unmount();
    cleanupTempDirs();
  });

  test('ingest, info, read, list, delete', async () => {
    const store = ContentStore.open(tempDir());
    const data = Buffer.from('hello blob');
    const d = digestOf(data);
    expect(store.info(d)).toBeUndefined();
    await store.ingestBuffer(d, data.length, data);
    expect(store.info(d)).toEqual({ digest: d, size: data.length });
    expect(fs.existsSync(path.join(store.root, 'blobs', 'sha256', d.slice(7)))).toBe(true);
    expect(store.readBuffer(d).equals(data)).toBe(true);
    const chunks: Buffer[] = [];
    for await (const c of store.read(d)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(store.list()).toEqual([{ digest: d, size: data.length }]);
    expect(store.delete(d)).toBe(true);
    expect(store.delete(d)).toBe(false);
    expect(() => store.readBuffer(d)).toThrow(expect.objectContaining({ kind: 'NotFound' }));
    expect(store.ingestFiles()).toEqual([]);
  });

  test('a follower that keeps up gets the written Buffers themselves; one that fell behind reads the file', async () => {
    const store = ContentStore.open(tempDir());
    const chunks = Array.from({ length: 160 }, (_, i) => Buffer.alloc(64 * 1024, i)); // 10 MiB
    const data = Buffer.concat(chunks);
    const d = digestOf(data);
    // The source hands out one chunk per call of `next`, so the test decides how far the download is.
    let sent = 0;
    let release: (() => void) | undefined;
    const gate = new Promise<void>((r) => (release = r));
    const source = Readable.from((async function* () {
      for (const c of chunks) {
        if (sent >= 96) await gate; // hold the last 4 MiB back until the late follower started
        sent++;
        yield c;
      }
    })(), { objectMode: false, highWaterMark: 1 });
    const ingesting = store.ingest(d, data.length, () => source);
    const early = store.follow(d);
    expect(early.followed).toBe(true);
    const seen: Buffer[] = [];
    const reading = (async () => {
      for await (const c of early.chunks) seen.push(c);
    })();
    while (sent < 96) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    // 6 MiB in, more than the 4 MiB window: a follower starting now begins in the file.
    const late = store.follow(d);
    const lateSeen: Buffer[] = [];
    const lateReading = (async () => {
      for await (const c of late.chunks) lateSeen.push(c);
    })();
    release?.();
    await Promise.all([ingesting, reading, lateReading]);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(Buffer.concat(lateSeen).equals(data)).toBe(true);
    // The early follower took the very chunks the source produced: no read, no copy.
    const sources = new Set(chunks.map((c) => c.buffer));
    expect(seen.every((c) => sources.has(c.buffer as ArrayBuffer))).toBe(true);
    // The late one read its first bytes from the file (new Buffers), then caught up with the window.
    expect(sources.has(lateSeen[0].buffer as ArrayBuffer)).toBe(false);
    expect(sources.has(lateSeen[lateSeen.length - 1].buffer as ArrayBuffer)).toBe(true);
  });

  test('concurrent ingests of one digest share one download', async () => {
    const store = ContentStore.open(tempDir());
    const data = Buffer.alloc(2 * 1024 * 1024, 3);
    const d = digestOf(data);
    let opened = 0;
    const source = () => {
      opened++;
      return slow(data);
    };
    const results = await Promise.all([store.ingest(d, data.length, source), store.ingest(d, data.length, source), store.ingest(d, data.length, source)]);
    expect(opened).toBe(1);
    for (const r of results) expect(r).toEqual({ digest: d, size: data.length });
    // Present now: no download at all.
    await store.ingest(d, data.length, source);
    expect(opened).toBe(1);
  });

  test('wrong digest and truncated content are refused and leave nothing', async () => {
    const store = ContentStore.open(tempDir());
    const data = Buffer.alloc(100_000, 1);
    const d = digestOf(data);
    const bad = Buffer.alloc(100_000, 2);
    await expect(store.ingest(d, data.length, () => slow(bad))).rejects.toThrow(/digest mismatch/);
    await expect(store.ingest(d, data.length, () => slow(data.subarray(0, 5000)))).rejects.toThrow(/truncated/);
    await expect(store.ingest(d, 10, () => slow(data))).rejects.toThrow(/too long/);
    expect(store.has(d)).toBe(false);
    expect(store.ingestFiles()).toEqual([]);
    expect(store.list()).toEqual([]);
  });

  test('a source that errors or an abort leaves no temp file', async () => {
    const store = ContentStore.open(tempDir());
    const data = Buffer.alloc(1 << 20, 9);
    const d = digestOf(data);
    const failing = new Readable({ read() { this.destroy(new Error('network gone')); } });
    await expect(store.ingest(d, data.length, () => failing)).rejects.toThrow(/network gone/);
    const ac = new AbortController();
    const p = store.ingest(d, data.length, () => slow(data, 1024), { signal: ac.signal, onProgress: (n) => n > 10_000 && ac.abort() });
    await expect(p).rejects.toThrow();
    expect(store.ingestFiles()).toEqual([]);
    expect(store.has(d)).toBe(false);
  });

  test('temp files left by a crash are removed on open', () => {
    const root = tempDir();
    ContentStore.open(root);
    fs.writeFileSync(path.join(root, 'ingest', `sha256-${'0'.repeat(64)}.dead`), 'partial');
    expect(ContentStore.open(root).ingestFiles()).toEqual([]);
  });

  test('gc keeps the given digests and removes the rest', async () => {
    const store = ContentStore.open(tempDir());
    const blobs = ['a', 'b', 'c'].map((s) => Buffer.from(s));
    for (const b of blobs) await store.ingestBuffer(digestOf(b), b.length, b);
    const removed = store.gc(new Set([digestOf(blobs[1])]));
    expect(removed.map((r) => r.digest).sort()).toEqual([digestOf(blobs[0]), digestOf(blobs[2])].sort());
    expect(store.list().map((b) => b.digest)).toEqual([digestOf(blobs[1])]);
  });

  test('ENOSPC (small tmpfs): clear ResourceExhausted error, no temp file, store still usable', async () => {
    const m = mountTmpfs(512);
    mounts.push(m);
    const store = ContentStore.open(m.dir);
    const big = Buffer.alloc(2 * 1024 * 1024, 5);
    const err = await store.ingest(digestOf(big), big.length, () => slow(big)).catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('ResourceExhausted');
    expect((err as Error).message).toMatch(/no space left in the content store .* while writing blob sha256:/);
    expect(store.ingestFiles()).toEqual([]);
    expect(store.has(digestOf(big))).toBe(false);
    const small = Buffer.from('still works');
    await store.ingestBuffer(digestOf(small), small.length, small);
    expect(store.list()).toEqual([{ digest: digestOf(small), size: small.length }]);
    m.unmount();
  });
});
