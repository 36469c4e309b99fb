/**
 * The tar reader against GNU tar's own archives (gnu, pax and ustar formats, xattrs, long names, hardlinks)
 * and against malformed headers; decompression by magic and media type, digest and diffID checks.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { BerthError } from '../../src/common/errors';
import { decompressLayer } from '../../src/image/unpack/decompress';
import { readTar, type TarEntry } from '../../src/image/unpack/tar';
import { requireHost, userXattrs } from '../helpers/host';
import { cleanupTempDirs, requireTools, sha256, tempDir } from './helpers';
import { fixChecksum, header, tarEntries, writeTar } from './tar-writer';

async function entries(tar: Buffer, chunk = 777): Promise<Array<TarEntry & { content: Buffer }>> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const out: Array<TarEntry & { content: Buffer }> = [];
  for await (const { entry, body } of readTar(Readable.from(parts))) {
    const c: Buffer[] = [];
    for await (const b of body) c.push(b);
    out.push({ ...entry, content: Buffer.concat(c) });
  }
  return out;
}

async function refused(tar: Buffer): Promise<BerthError> {
  const err = await entries(tar).then(() => undefined, (e) => e);
  if (!(err instanceof BerthError)) throw new Error(`expected a BerthError, got ${String(err)}`);
  return err;
}

const OCI_TAR = 'application/vnd.oci.image.layer.v1.tar';
const OCI_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const OCI_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';

describe('tar reader', () => {
  let src: string;
  const longDir = 'd'.repeat(60) + '/' + 'e'.repeat(60);
  beforeAll(() => {
    requireTools('tar', 'setfattr', 'zstd');
    requireHost(userXattrs());
    src = tempDir();
    fs.mkdirSync(path.join(src, longDir), { recursive: true });
    fs.writeFileSync(path.join(src, longDir, 'f'.repeat(90)), 'deep file');
    fs.writeFileSync(path.join(src, 'big'), Buffer.alloc(100_000, 7));
    fs.writeFileSync(path.join(src, 'setuid'), '#!/bin/sh\n');
    fs.chownSync(path.join(src, 'setuid'), 1234, 5678);
    fs.chmodSync(path.join(src, 'setuid'), 0o4755); // after chown, which clears setuid
    fs.linkSync(path.join(src, 'big'), path.join(src, 'big-link'));
    fs.symlinkSync('../' + 'x'.repeat(120), path.join(src, 'long-symlink'));
    execFileSync('setfattr', ['-n', 'user.berth', '-v', 'hello', path.join(src, 'big')]);
    fs.utimesSync(path.join(src, 'big'), 1_500_000_000, 1_500_000_000);
  });
  afterAll(cleanupTempDirs);

  for (const format of ['gnu', 'pax', 'posix']) {
    test(`GNU tar --format=${format}: every entry, name, link, owner, mode and byte`, async () => {
      const tar = execFileSync('tar', ['-C', src, `--format=${format}`, '--xattrs', '--xattrs-include=user.*', '--numeric-owner', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
      const got = await entries(tar);
      const listed = execFileSync('tar', ['-tf', '-'], { input: tar, encoding: 'utf8' }).trim().split('\n');
      expect(got.map((e) => e.path)).toEqual(listed);
      const by = (p: string) => got.find((e) => e.path === p)!;
      expect(by(`./${longDir}/${'f'.repeat(90)}`).content.toString()).toBe('deep file');
      // Whichever of the two names tar met first carries the content; the other is a hardlink to it.
      const [file, link] = [by('./big'), by('./big-link')].sort((x) => (x.type === 'file' ? -1 : 1));
      expect(file.content.equals(Buffer.alloc(100_000, 7))).toBe(true);
      expect(file.mtime).toBe(1_500_000_000);
      expect(link).toMatchObject({ type: 'hardlink', linkpath: file.path, content: Buffer.alloc(0) });
      expect(by('./long-symlink')).toMatchObject({ type: 'symlink', linkpath: '../' + 'x'.repeat(120) });
      expect(by('./setuid')).toMatchObject({ type: 'file', mode: 0o4755, uid: 1234, gid: 5678 });
      expect(by(`./${longDir}/`).type).toBe('dir');
      if (format !== 'gnu') expect(file.xattrs.get('user.berth')?.toString()).toBe('hello');
    });
  }

  test('pax records: fractional mtime, uid/gid beyond octal, xattrs with binary values; GNU long names', async () => {
    const bin = Buffer.from([0, 1, 2, 255]);
    const tar = writeTar([
      { path: 'a', content: 'x', pax: { mtime: '1700000000.5', uid: '3000000', gid: '4000000' }, xattrs: { 'security.capability': bin } },
      { path: 'l/'.repeat(80) + 'f', content: 'long', gnuLong: true },
      { path: 'sym', type: 'symlink', linkpath: 't'.repeat(150), gnuLong: true },
    ]);
    const [a, long, sym] = await entries(tar, 100);
    expect(a).toMatchObject({ path: 'a', mtime: 1700000000.5, uid: 3000000, gid: 4000000 });
    expect(a.xattrs.get('security.capability')).toEqual(bin);
    expect(long.path).toBe('l/'.repeat(80) + 'f');
    expect(long.content.toString()).toBe('long');
    expect(sym.linkpath).toBe('t'.repeat(150));
  });

  test('bad checksum, bad octal, truncated header/body, missing end, unknown type: clear errors', async () => {
    const good = writeTar([{ path: 'f', content: 'hello world' }]);
    const badSum = Buffer.from(good);
    badSum[0] = 'g'.charCodeAt(0);
    expect((await refused(badSum)).message).toMatch(/bad header checksum \(header at byte 0\)/);

    const badOctal = Buffer.from(good);
    badOctal.write('12345678', 124, 'latin1'); // size field: 8 is not octal
    fixChecksum(badOctal);
    expect((await refused(badOctal)).message).toMatch(/size: invalid octal number/);

    expect((await refused(good.subarray(0, 300))).message).toMatch(/truncated header/);
    expect((await refused(good.subarray(0, 512 + 5))).message).toMatch(/truncated body of f/);
    expect((await refused(Buffer.concat(tarEntries([{ path: 'f', content: 'x' }])))).message).toMatch(/ends without its end-of-archive/);

    const sparse = header({ name: 'sparse', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, flag: 'S' });
    expect((await refused(Buffer.concat([sparse, Buffer.alloc(1024)]))).message).toMatch(/unsupported entry type "S"/);

    const badPax = Buffer.concat([...tarEntries([{ path: 'f', pax: { mtime: 'yesterday' } }]), Buffer.alloc(1024)]);
    expect((await refused(badPax)).message).toMatch(/pax mtime: invalid number/);
    const err = await refused(badSum);
    expect(err.kind).toBe('InvalidArgument');
  });
});

describe('decompression', () => {
  const tar = writeTar([{ path: 'hello', content: 'hello layer' }]);
  const diffId = sha256(tar);
  const gz = zlib.gzipSync(tar);
  const zst = execFileSync('zstd', ['-q', '-c'], { input: tar });

  async function run(blob: Buffer, mediaType: string, digest = sha256(blob), size = blob.length) {
    const layer = decompressLayer(Readable.from([blob]), { digest: digest as never, size, mediaType });
    const got = await entries(Buffer.concat(await (async () => {
      const c: Buffer[] = [];
      for await (const b of layer.chunks) c.push(b);
      return c;
    })()));
    return { names: got.map((e) => e.path), diffId: layer.diffId() };
  }

  test('gzip, zstd and plain tar give the same entries and diffID', async () => {
    for (const [blob, type] of [[gz, OCI_GZIP], [zst, OCI_ZSTD], [tar, OCI_TAR]] as const) {
      expect(await run(blob, type)).toEqual({ names: ['hello'], diffId });
    }
  });

  test('media type and content disagree; wrong digest; truncated; corrupt zstd', async () => {
    await expect(run(gz, OCI_ZSTD)).rejects.toThrow(/says zstd but the content is gzip/);
    await expect(run(tar, OCI_GZIP)).rejects.toThrow(/says gzip but the content is not compressed/);
    await expect(run(gz, OCI_GZIP, sha256('other'))).rejects.toThrow(/digest mismatch/);
    await expect(run(gz.subarray(0, gz.length - 10), OCI_GZIP, sha256(gz), gz.length)).rejects.toThrow(/truncated/);
    const bad = Buffer.from(zst);
    bad.fill(0x55, 12, bad.length - 4);
    await expect(run(bad, OCI_ZSTD)).rejects.toThrow(/bad zstd stream|layer tar/);
  });
});
