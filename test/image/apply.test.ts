/**
 * The layer applier and snapshotter on their own (no registry): layers applied into snapshots, mounted for
 * real with overlayfs and compared with what the layers say; each escape attempt refused with nothing
 * committed and nothing written outside.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { BerthError } from '../../src/common/errors';
import type { Digest } from '../../src/image/digest';
import { applyLayer } from '../../src/image/snapshot/applier';
import { Snapshotter } from '../../src/image/snapshot/snapshotter';
import { readTar } from '../../src/image/unpack/tar';
import { overlayfs, requireHost, userXattrs } from '../helpers/host';
import { cleanupTempDirs, requireTools, sha256, tempDir } from './helpers';
import { writeTar, type TarSpec } from './tar-writer';

const mounts: string[] = [];
function overlay(lowerdirs: string[]): string {
  const target = tempDir('berth-apply-mnt-');
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerdirs.join(':')}`, target]);
  mounts.push(target);
  return target;
}

let n = 0;
async function commit(snaps: Snapshotter, parent: Digest | undefined, entries: TarSpec[]): Promise<Digest> {
  const chainId = sha256(`chain-${process.pid}-${n++}`) as Digest;
  const tar = writeTar(entries);
  await snaps.ensure(chainId, parent, sha256(tar) as Digest, (dir, lowers) => applyLayer(readTar(Readable.from([tar])), dir, lowers));
  return chainId;
}

const xattr = (p: string, name: string) => execFileSync('getfattr', ['--only-values', '-h', '-n', name, p]).toString();

describe('layer applier and snapshots', () => {
  beforeAll(() => {
    requireTools('mount', 'umount', 'getfattr');
    requireHost(overlayfs(), userXattrs());
  });
  afterAll(() => {
    for (const m of mounts.splice(0)) execFileSync('umount', [m]);
    cleanupTempDirs();
  });

  test('two layers mounted with overlayfs show exactly what the layers say', async () => {
    const snaps = Snapshotter.open(path.join(tempDir(), 'snapshots'));
    const base = await commit(snaps, undefined, [
      { path: './', type: 'dir', mode: 0o755, mtime: 1_000_000_000 },
      { path: 'bin/', type: 'dir', mode: 0o755, mtime: 1_100_000_000 },
      { path: 'bin/busybox', content: 'ELF...', mode: 0o755 },
      { path: 'bin/sh', type: 'symlink', linkpath: 'busybox', uid: 7, gid: 8 },
      { path: 'bin/ash', type: 'hardlink', linkpath: 'bin/busybox' },
      { path: 'bin/su', content: 'su', mode: 0o4755, uid: 0, gid: 0 },
      { path: 'etc/', type: 'dir', mode: 0o750, uid: 0, gid: 42, mtime: 1_200_000_000 },
      { path: 'etc/passwd', content: 'root:x:0:0\n', mode: 0o644, mtime: 1_234_567_890 },
      { path: 'etc/shadow', content: 'secret', mode: 0o600, uid: 0, gid: 42 },
      { path: 'etc/conf.d/', type: 'dir' },
      { path: 'etc/conf.d/old', content: 'old' },
      { path: 'dev/', type: 'dir' },
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/loop0', type: 'block', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 },
      { path: 'run/fifo', type: 'fifo', mode: 0o620, uid: 1000, gid: 1000 },
      { path: 'home/user/data', content: 'd', uid: 1000, gid: 1000, xattrs: { 'user.berth': 'v1', 'trusted.berth': Buffer.from([1, 2, 0, 3]) } },
    ]);
    const top = await commit(snaps, base, [
      { path: 'etc/.wh.shadow', content: '' },
      { path: 'etc/conf.d/.wh..wh..opq', content: '' },
      { path: 'etc/conf.d/new', content: 'new' },
      { path: 'home/user/more', content: 'implicit parents', uid: 1000, gid: 1000 },
    ]);
    const chain = snaps.chain(top);
    expect(chain.map((s) => s.chainId)).toEqual([top, base]);
    const topDir = snaps.fsDir(chain[0]);
    // Layer format on disk: whiteout = char 0/0, opaque = xattr, implicit parents take the lower's attributes.
    const wh = fs.lstatSync(path.join(topDir, 'etc/shadow'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(xattr(path.join(topDir, 'etc/conf.d'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.statSync(path.join(topDir, 'etc'))).toMatchObject({ mode: 0o40750, gid: 42, mtimeMs: 1_200_000_000_000 });
    expect(chain[0].opaque).toEqual(['etc/conf.d']);

    const m = overlay(chain.map((s) => snaps.fsDir(s)));
    const st = (p: string) => fs.lstatSync(path.join(m, p));
    expect(st('').mtimeMs).toBe(1_000_000_000_000);
    expect(st('bin').mtimeMs).toBe(1_100_000_000_000);
    expect(fs.readlinkSync(path.join(m, 'bin/sh'))).toBe('busybox');
    expect(st('bin/sh')).toMatchObject({ uid: 7, gid: 8 });
    expect(st('bin/ash').ino).toBe(st('bin/busybox').ino);
    expect(st('bin/ash').nlink).toBe(2);
    expect(st('bin/su').mode).toBe(0o104755);
    expect(fs.readFileSync(path.join(m, 'etc/passwd'), 'utf8')).toBe('root:x:0:0\n');
    expect(st('etc/passwd').mtimeMs).toBe(1_234_567_890_000);
    expect(fs.existsSync(path.join(m, 'etc/shadow'))).toBe(false);
    expect(fs.readdirSync(path.join(m, 'etc/conf.d'))).toEqual(['new']);
    expect(st('dev/null').isCharacterDevice()).toBe(true);
    expect(st('dev/null')).toMatchObject({ rdev: 259, mode: 0o20666 });
    expect(st('dev/loop0').isBlockDevice()).toBe(true);
    expect(st('dev/loop0')).toMatchObject({ rdev: 7 << 8, mode: 0o60660, gid: 6 });
    expect(st('run/fifo').isFIFO()).toBe(true);
    expect(st('run/fifo')).toMatchObject({ mode: 0o10620, uid: 1000 });
    expect(fs.readdirSync(path.join(m, 'home/user')).sort()).toEqual(['data', 'more']);
    expect(st('home/user/more')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(xattr(path.join(m, 'home/user/data'), 'user.berth')).toBe('v1');
    expect(Buffer.from(execFileSync('getfattr', ['-e', 'hex', '--only-values', '-n', 'trusted.berth', path.join(m, 'home/user/data')]))).toEqual(Buffer.from([1, 2, 0, 3]));
    expect(snaps.tempDirs()).toEqual([]);

    // Reopening finds the same snapshots.
    const again = Snapshotter.open(snaps.dir);
    expect(again.chain(top).map((s) => s.id)).toEqual(chain.map((s) => s.id));
  });

  test('commits do not wait for the disk: a marker covers them until a flush, and a reopen settles it', async () => {
    const dir = path.join(tempDir(), 'snapshots');
    const marker = path.join(dir, '.unsynced');
    const snaps = Snapshotter.open(dir, { bootId: 'boot-1' });
    const a = await commit(snaps, undefined, [{ path: 'a', content: 'a' }]);
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toEqual({ bootId: 'boot-1', fromId: 1 });
    await snaps.flush();
    expect(fs.existsSync(marker)).toBe(false);
    await snaps.flush(); // nothing to do
    await snaps.synced(a); // on disk already: no round
    expect(fs.existsSync(marker)).toBe(false);
    const a2 = await commit(snaps, a, [{ path: 'a2', content: 'a2' }]);
    expect(fs.existsSync(marker)).toBe(true);
    await snaps.synced(a2); // what a container's rootfs waits for
    expect(fs.existsSync(marker)).toBe(false);
    snaps.remove(a2);

    // A process that died after committing b and c: same boot, the data is safe and reopening syncs it.
    const b = await commit(snaps, a, [{ path: 'b', content: 'b' }]);
    const c = await commit(snaps, b, [{ path: 'c', content: 'c' }]);
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toEqual({ bootId: 'boot-1', fromId: 3 });
    const sameBoot = Snapshotter.open(dir, { bootId: 'boot-1' });
    expect(fs.existsSync(marker)).toBe(false);
    expect(sameBoot.chain(c).map((r) => r.id)).toEqual([4, 3, 1]);
    expect(sameBoot.lost).toEqual([]);

    // Committed after a flush, then the machine went down: the snapshots the marker names are dropped,
    // children first, and the ones before it kept.
    const d = await commit(sameBoot, c, [{ path: 'd', content: 'd' }]);
    const e = await commit(sameBoot, d, [{ path: 'e', content: 'e' }]);
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toEqual({ bootId: 'boot-1', fromId: 5 });
    const rebooted = Snapshotter.open(dir, { bootId: 'boot-2' });
    expect(rebooted.lost).toEqual([e, d]);
    expect(rebooted.list().map((r) => r.id).sort()).toEqual([1, 3, 4]);
    expect(fs.readdirSync(dir).sort()).toEqual(['1', '3', '4']);

    // A marker torn by the crash was never fsynced, so no commit relied on it: nothing is dropped.
    fs.writeFileSync(marker, '{"bootId": "boot-');
    const torn = Snapshotter.open(dir, { bootId: 'boot-3' });
    expect(torn.lost).toEqual([]);
    expect(torn.chain(c).length).toBe(3);
    expect(fs.existsSync(marker)).toBe(false);
  });

  describe('escapes are refused, nothing is committed, nothing lands outside', () => {
    let outside: string;
    let snaps: Snapshotter;
    let lowerWithLink: Digest;
    beforeAll(async () => {
      outside = tempDir('berth-outside-');
      fs.writeFileSync(path.join(outside, 'file'), 'outside');
      snaps = Snapshotter.open(path.join(tempDir(), 'snapshots'));
      lowerWithLink = await commit(snaps, undefined, [{ path: 'link', type: 'symlink', linkpath: outside }, { path: 'up', type: 'symlink', linkpath: '../../../..' }]);
    });

    const cases: Array<[string, TarSpec[], RegExp, boolean?]> = [
      ['".." component', [{ path: 'a/../../escape', content: 'x' }], /"\.\." component refused/],
      ['absolute path', [{ path: '/escape', content: 'x' }], /absolute path refused/],
      ['symlink planted by an earlier entry', [{ path: 'l', type: 'symlink', linkpath: '/tmp' }, { path: 'l/escape', content: 'x' }], /parent "l" is a symlink in this layer/],
      ['relative symlink planted by an earlier entry', [{ path: 'l', type: 'symlink', linkpath: '../../../../../..' }, { path: 'l/tmp/escape', content: 'x' }], /parent "l" is a symlink in this layer/],
      ['symlink from a lower layer', [{ path: 'link/escape', content: 'x' }], /parent "link" is a symlink in a lower layer/, true],
      ['directory entry through a lower symlink', [{ path: 'up/tmp/', type: 'dir' }], /parent "up" is a symlink in a lower layer/, true],
      ['whiteout through a symlink', [{ path: 'l', type: 'symlink', linkpath: '/tmp' }, { path: 'l/.wh.file', content: '' }], /parent "l" is a symlink/],
      ['hardlink target outside', [{ path: 'h', type: 'hardlink', linkpath: '../../../../etc/passwd' }], /"\.\." component refused/],
      ['hardlink target absolute', [{ path: 'h', type: 'hardlink', linkpath: '/etc/passwd' }], /absolute path refused/],
      ['hardlink target through a symlink', [{ path: 'l', type: 'symlink', linkpath: '/etc' }, { path: 'h', type: 'hardlink', linkpath: 'l/passwd' }], /hardlink target "l\/passwd" is not inside this layer \("l" is a symlink\)/],
      ['hardlink target in a lower layer', [{ path: 'h', type: 'hardlink', linkpath: 'link' }], /not an earlier entry of this layer/, true],
      ['overlay xattrs from the image', [{ path: 'd/', type: 'dir', xattrs: { 'trusted.overlay.redirect': '/etc' } }], /xattr trusted\.overlay\.redirect refused/],
      ['device node through a symlink', [{ path: 'l', type: 'symlink', linkpath: '/dev' }, { path: 'l/evil', type: 'char', devmajor: 1, devminor: 1 }], /parent "l" is a symlink/],
    ];
    for (const [name, entries, message, onLower] of cases) {
      test(name, async () => {
        const before = snaps.list().length;
        const err = await commit(snaps, onLower ? lowerWithLink : undefined, entries).then(() => undefined, (e) => e);
        expect(err).toBeInstanceOf(BerthError);
        expect((err as BerthError).kind).toBe('InvalidArgument');
        expect((err as Error).message).toMatch(message);
        expect(snaps.list().length).toBe(before);
        expect(snaps.tempDirs()).toEqual([]);
        expect(fs.readdirSync(outside)).toEqual(['file']);
        expect(fs.existsSync('/escape') || fs.existsSync('/tmp/escape') || fs.existsSync('/dev/evil')).toBe(false);
      });
    }
  });
});
