/**
 * ImageStore end to end against Debian's docker-registry: pull → snapshots → overlay mount compared with the
 * layers; records (tags, digests, id, size, user); list/status/remove/gc/fsInfo; refused layers (wrong diffID,
 * escapes) leave nothing; ENOSPC on a small tmpfs; a pull killed with SIGKILL leaves no temp data and repeats.
 */
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import type { ImageStoreApi } from '../../src/image/api';
import { hostPlatform } from '../../src/image/registry/manifest';
import { ImageStore } from '../../src/image/store/image-store';
import { RegistryClient } from '../../src/image/registry/client';
import { berthErrorOf, cleanupTempDirs, mountTmpfs, requireTools, sha256, startProxy, startRegistry, stopAll, tempDir, type FaultProxy, type RegistryProcess } from './helpers';
import { overlayfs, requireHost, userXattrs } from '../helpers/host';
import { busyboxTar, FEATURE_LAYER, layerFrom, pushIndex, pushTarImage, type TarImage } from './image-fixtures';

const arch = hostPlatform().architecture;
const other = arch === 'amd64' ? 'arm64' : 'amd64';
const fastClient = () => new RegistryClient({ retries: 2, backoffMs: 10, maxBackoffMs: 20 });

describe('image store', () => {
  let reg: RegistryProcess;
  let v1: TarImage;
  let v2: TarImage;
  let indexDigest: string;
  const stores: ImageStoreApi[] = [];
  const mounts: string[] = [];
  const tmpfs: Array<{ unmount(): void }> = [];
  const open = (root = tempDir('berth-image-root-')) => {
    const s = ImageStore.open({ root, client: fastClient() });
    stores.push(s);
    return s;
  };
  const ref = (repo: string, tag = 'latest') => `${reg.host}/${repo}:${tag}`;

  beforeAll(async () => {
    requireTools('docker-registry', 'tar', 'zstd', 'mount', 'umount', 'getfattr', 'chroot');
    requireHost(overlayfs(), userXattrs());
    reg = await startRegistry({ storage: tempDir('berth-registry-storage-') });
    const h = reg.host;
    const base = { tar: busyboxTar(), compression: 'gzip' as const };
    const feature = layerFrom(FEATURE_LAYER, 'gzip');
    const zst = layerFrom([{ path: 'etc/zstd-layer', content: 'compressed with zstd\n' }], 'zstd');
    const plain = layerFrom([{ path: 'etc/plain-layer', content: 'not compressed\n' }, { path: 'etc/motd', content: 'v1\n' }], 'none');
    v1 = await pushTarImage(h, 'layered', 'v1', [base, feature, zst, plain], { arch, user: '1000:1000' });
    v2 = await pushTarImage(h, 'layered', 'v2', [base, feature, layerFrom([{ path: 'etc/motd', content: 'v2\n' }])], { arch, user: 'nobody' });
    const here = await pushTarImage(h, 'multi', 'here', [base, layerFrom([{ path: 'etc/arch', content: arch }])], { arch });
    const there = await pushTarImage(h, 'multi', 'there', [layerFrom([{ path: 'etc/arch', content: other }])], { arch: other });
    indexDigest = (await pushIndex(h, 'multi', 'latest', [{ image: there, arch: other }, { image: here, arch }])).digest;
    await pushTarImage(h, 'tiny', 'latest', [layerFrom([{ path: 'tiny', content: 'tiny' }])], { arch });
    const small = layerFrom([{ path: 'etc/small', content: 'x' }]);
    await pushTarImage(h, 'badiff', 'latest', [base, small], { arch, diffIds: [sha256(base.tar), sha256('not this layer')] });
    await pushTarImage(h, 'escape', 'latest', [base, layerFrom([{ path: 'ok', content: 'fine' }, { path: '../../../../tmp/berth-escaped', content: 'x' }])], { arch });
    await pushTarImage(h, 'zeros', 'latest', [layerFrom([{ path: 'big', content: Buffer.alloc(8 << 20) }])], { arch });
    await pushTarImage(h, 'random', 'latest', [layerFrom([{ path: 'a', content: 'a' }]), layerFrom([{ path: 'noise', content: fs.readFileSync('/bin/busybox') }], 'none')], { arch });
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const m of mounts.splice(0).reverse()) execFileSync('umount', [m]);
    for (const t of tmpfs) t.unmount();
    await stopAll();
    cleanupTempDirs();
  });

  /** Mounts the container rootfs the store prepares, as berthd will. */
  async function mountRootfs(store: ImageStoreApi, image: string, key: string): Promise<string> {
    const m = await store.prepareRootfs(image, key);
    const target = tempDir('berth-rootfs-mnt-');
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${m.lowerdirs.join(':')},upperdir=${m.upperdir},workdir=${m.workdir}`, target]);
    mounts.push(target);
    return target;
  }

  test('pull: record, list, status, and an overlay mount that shows exactly the layers', async () => {
    const store = open();
    const events: string[] = [];
    const img = await store.pull({ reference: ref('layered', 'v1'), onProgress: (e) => e.phase !== 'downloading' && events.push(`${e.phase} ${e.digest}`) });
    expect(img).toEqual({
      id: v1.config.digest,
      repoTags: [ref('layered', 'v1')],
      repoDigests: [`${reg.host}/layered@${v1.manifest.digest}`],
      size: v1.manifest.size + v1.config.size + v1.layers.reduce((a, l) => a + l.size, 0),
      uid: 1000,
      username: '',
      pinned: false,
    });
    for (const l of v1.layers) {
      expect(events).toContain(`downloaded ${l.digest}`);
      expect(events).toContain(`unpacked ${l.digest}`);
    }
    expect(store.list()).toEqual([img]);
    expect(store.list(`${reg.host}/layered:v1`)).toEqual([img]);
    expect(store.list(v1.config.digest.slice(7, 19))).toEqual([img]);
    expect(store.list(`${reg.host}/layered@${v1.manifest.digest}`)).toEqual([img]);
    expect(store.list(`${reg.host}/layered:nope`)).toEqual([]);
    const st = store.status(v1.config.digest, true)!;
    expect(st.image).toEqual(img);
    const info = JSON.parse(st.info.info);
    expect(info.diffIds).toEqual(v1.diffIds);
    expect(info.imageSpec.config.User).toBe('1000:1000');
    expect(store.status(`${reg.host}/missing:latest`)).toBeUndefined();

    const root = await mountRootfs(store, img.id, `c1-${process.pid}`);
    const lst = (p: string) => fs.lstatSync(path.join(root, p));
    // busybox layer
    expect(fs.readFileSync(path.join(root, 'bin/busybox')).equals(fs.readFileSync('/bin/busybox'))).toBe(true);
    expect(fs.readlinkSync(path.join(root, 'bin/sh'))).toBe('busybox');
    expect(lst('tmp').mode).toBe(0o41777);
    expect(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8')).toContain('user:x:1000');
    // feature layer
    expect(fs.existsSync(path.join(root, 'etc/hostname'))).toBe(false);
    expect(fs.readdirSync(path.join(root, 'home'))).toEqual(['fresh']);
    expect(lst('home/fresh')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o40700 });
    expect(lst('usr/bin/tool')).toMatchObject({ mode: 0o104755, uid: 0 });
    expect(lst('usr/bin/tool-hardlink').ino).toBe(lst('usr/bin/tool').ino);
    expect(fs.readlinkSync(path.join(root, 'usr/bin/tool-symlink'))).toBe('tool');
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.berth.origin', path.join(root, 'usr/bin/tool')]).toString()).toBe('feature-layer');
    expect(lst('dev/null').isCharacterDevice() && lst('dev/null').rdev === 259).toBe(true);
    expect(lst('run/pipe').isFIFO()).toBe(true);
    expect(lst('data/owned')).toMatchObject({ uid: 1000, gid: 1000, mode: 0o100640, mtimeMs: 1_500_000_000_000 });
    expect(lst('etc').mtimeMs).toBe(1_600_000_100_000);
    // zstd and plain layers
    expect(fs.readFileSync(path.join(root, 'etc/zstd-layer'), 'utf8')).toBe('compressed with zstd\n');
    expect(fs.readFileSync(path.join(root, 'etc/motd'), 'utf8')).toBe('v1\n');
    // And the result runs: busybox from the merged tree.
    expect(execFileSync('chroot', [root, '/bin/sh', '-c', 'cat /etc/plain-layer; /usr/bin/tool'], { encoding: 'utf8' })).toBe('not compressed\ntool\n');
  });

  test('concurrent pulls of one image share the work; a second image reuses shared layers', async () => {
    const store = open();
    const proxy: FaultProxy = await startProxy(reg.port);
    const blobGets = () => proxy.log.filter((l) => l.method === 'GET' && l.url.includes('/blobs/')).length;
    const r = (tag: string) => `${proxy.host}/layered:${tag}`;
    const [a, b, c] = await Promise.all([store.pull({ reference: r('v1') }), store.pull({ reference: r('v1') }), store.pull({ reference: `${proxy.host}/layered@${v1.manifest.digest}` })]);
    expect(a).toEqual(b);
    expect(c.id).toEqual(a.id);
    const s = store as ImageStore;
    expect(s.snapshots.list().length).toBe(4);
    await store.pull({ reference: r('v2') });
    // v2 shares busybox and the feature layer: one more snapshot, its own layer and config downloaded only.
    expect(s.snapshots.list().length).toBe(5);
    const before = blobGets();
    await store.pull({ reference: r('v2') });
    expect(blobGets()).toBe(before);
    expect(store.list().map((i) => i.repoTags).flat().sort()).toEqual([r('v1'), r('v2')]);
  });

  test('remove by tag, id prefix or digest keeps layers shared with other images; gc; fsInfo', async () => {
    const store = open() as ImageStore;
    const one = await store.pull({ reference: ref('layered', 'v1') });
    const two = await store.pull({ reference: ref('layered', 'v2') });
    const multi = await store.pull({ reference: ref('multi') });
    const usageFull = store.fsInfo()[0];
    expect(usageFull.usedBytes).toBeGreaterThan(fs.statSync('/bin/busybox').size);
    expect(usageFull.inodesUsed).toBeGreaterThan(300);
    expect(usageFull.mountpoint).toBe(store.dir);

    await store.remove(ref('layered', 'v1'));
    expect(store.list().map((i) => i.id).sort()).toEqual([two.id, multi.id].sort());
    // v1's own layers (zstd, plain) are gone; busybox and feature stay for v2.
    expect(store.snapshots.list().length).toBe(3 + 1); // v2: 3, multi: busybox shared + 1
    expect(store.content.has(v1.layers[2].digest)).toBe(false);
    expect(store.content.has(v1.layers[0].digest)).toBe(true);
    await mountRootfs(store, ref('layered', 'v2'), `c2-${process.pid}`);
    await store.remove(one.id); // already gone: no error

    await store.remove(two.id.slice('sha256:'.length, 20));
    expect(store.list().map((i) => i.id)).toEqual([multi.id]);
    // The container still uses v2's snapshots: they stay until its rootfs is removed.
    expect(store.snapshots.list().length).toBe(4);
    await store.removeRootfs(`c2-${process.pid}`);
    execFileSync('umount', [mounts.pop()!]);
    expect(await store.gc()).toEqual({ blobs: 0, snapshots: 2 });
    expect(store.snapshots.list().length).toBe(2);

    await store.remove(multi.repoDigests[0]);
    expect(store.list()).toEqual([]);
    expect(store.snapshots.list()).toEqual([]);
    expect(store.content.list()).toEqual([]);
    expect(await store.gc()).toEqual({ blobs: 0, snapshots: 0 });
    expect(store.fsInfo()[0].usedBytes).toBeLessThan(usageFull.usedBytes / 10);
  });

  test('multi-arch index: the layers of this platform, the index digest in RepoDigests', async () => {
    const store = open();
    const img = await store.pull({ reference: ref('multi') });
    const root = await mountRootfs(store, img.id, `c3-${process.pid}`);
    expect(fs.readFileSync(path.join(root, 'etc/arch'), 'utf8')).toBe(arch);
    expect(img.repoDigests).toEqual([`${reg.host}/multi@${indexDigest}`]);
    expect(img.username).toBe('');
  });

  test('a layer whose diffID differs from the config is refused; nothing of it is committed', async () => {
    const store = open() as ImageStore;
    const err = await berthErrorOf(store.pull({ reference: ref('badiff') }));
    expect(err.kind).toBe('InvalidArgument');
    expect(err.message).toMatch(/layer 1 \(sha256:[0-9a-f]+\): diffID mismatch: the image config says sha256:[0-9a-f]+, the uncompressed layer is sha256:/);
    expect(store.list()).toEqual([]);
    expect(store.snapshots.list().length).toBe(1); // the busybox layer was right, and is reusable
    expect(store.snapshots.tempDirs()).toEqual([]);
    expect(store.content.ingestFiles()).toEqual([]);
  });

  test('a layer that escapes is refused; no image, no snapshot of it, nothing outside', async () => {
    const store = open() as ImageStore;
    const err = await berthErrorOf(store.pull({ reference: ref('escape') }));
    expect(err.message).toMatch(/"\.\." component refused/);
    expect(store.list()).toEqual([]);
    expect(store.snapshots.list().length).toBe(1);
    expect(store.snapshots.tempDirs()).toEqual([]);
    expect(fs.existsSync('/tmp/berth-escaped')).toBe(false);
  });

  test('ENOSPC while unpacking (small tmpfs): ResourceExhausted, no image, no temp data, store still usable', async () => {
    const t = mountTmpfs(4096);
    tmpfs.push(t);
    const store = open(t.dir) as ImageStore;
    const err = await berthErrorOf(store.pull({ reference: ref('zeros') }));
    expect(err.kind).toBe('ResourceExhausted');
    expect(err.message).toMatch(/no space left under .* while unpacking layer 0/);
    expect(store.list()).toEqual([]);
    expect(store.snapshots.list()).toEqual([]);
    expect(store.snapshots.tempDirs()).toEqual([]);
    expect(store.content.ingestFiles()).toEqual([]);
    const tiny = await store.pull({ reference: ref('tiny') });
    expect(store.list()).toEqual([tiny]);
    const reopened = ImageStore.open({ root: t.dir, client: fastClient() });
    stores.push(reopened);
    expect(reopened.list()).toEqual([tiny]);
  });

  test('a pull killed with SIGKILL leaves no temp data after reopen, and the pull repeats', async () => {
    const bundle = path.join(tempDir('berth-child-'), 'pull-child.js');
    buildSync({ entryPoints: [path.join(__dirname, 'pull-child.ts')], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error' });
    const proxy = await startProxy(reg.port);
    proxy.rule = (req) => (req.url?.includes('/blobs/') ? { slow: { chunk: 16 * 1024, delayMs: 5 } } : undefined);
    const root = tempDir('berth-image-root-');
    const child = spawn(process.execPath, [bundle, root, `${proxy.host}/random:latest`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BERTH_LAYER_META: path.resolve(__dirname, '../../build/bin/berth-layer-meta') } });
    let out = '';
    const killed = new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        // Kill once layer 0 is committed and the big layer is half-way: temp data exists in the ingest dir.
        if (out.includes('"phase":"unpacked"') && /"bytes":[1-9][0-9]{5,}/.test(out) && child.exitCode === null) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child ended before the kill: ${code} ${out}`))));
    });
    await killed;
    expect(out).not.toContain('done');
    const ingest = path.join(root, 'image', 'content', 'ingest');
    expect(fs.readdirSync(ingest).length).toBeGreaterThan(0); // the crash really left temp data
    fs.mkdirSync(path.join(root, 'image', 'snapshots', '.tmp-crashed', 'fs'), { recursive: true }); // as a kill during unpack leaves

    // Layer 0 was committed but the pull never got to its flush: the marker says so.
    const marker = path.join(root, 'image', 'snapshots', '.unsynced');
    expect(JSON.parse(fs.readFileSync(marker, 'utf8'))).toEqual({ bootId: fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), fromId: 1 });

    proxy.rule = () => undefined;
    const store = open(root) as ImageStore;
    // Same boot: the layer is in the page cache, so reopening syncs it and keeps it.
    expect(fs.existsSync(marker)).toBe(false);
    expect(store.snapshots.list().map((s) => s.id)).toEqual([1]);
    expect(store.list()).toEqual([]);
    expect(store.content.ingestFiles()).toEqual([]);
    expect(store.snapshots.tempDirs()).toEqual([]);
    expect(fs.readdirSync(path.join(root, 'image', 'records'))).toEqual([]);
    const img = await store.pull({ reference: `${proxy.host}/random:latest` });
    const m = await mountRootfs(store, img.id, `c4-${process.pid}`);
    expect(fs.readFileSync(path.join(m, 'noise')).equals(fs.readFileSync('/bin/busybox'))).toBe(true);
  });

  test('layers committed but not yet on disk when the machine went down: the image is forgotten and pulled again', async () => {
    const root = tempDir('berth-image-root-');
    const before = ImageStore.open({ root, client: fastClient(), bootId: 'boot-before' });
    const img = await before.pull({ reference: ref('layered', 'v2') });
    await before.close(); // flushed: a clean stop leaves no marker
    const snaps = path.join(root, 'image', 'snapshots');
    expect(fs.existsSync(path.join(snaps, '.unsynced'))).toBe(false);
    const kept = ImageStore.open({ root, client: fastClient(), bootId: 'boot-after' });
    stores.push(kept);
    expect(kept.list().map((i) => i.id)).toEqual([img.id]); // no marker: a reboot keeps everything
    await kept.close();

    // What a power loss right after the pull's commits leaves: the marker naming the image's top two layers.
    const ids = kept.snapshots.list().map((s) => s.id).sort((a, b) => a - b);
    fs.writeFileSync(path.join(snaps, '.unsynced'), JSON.stringify({ bootId: 'boot-after', fromId: ids[1] }));
    const rebooted = ImageStore.open({ root, client: fastClient(), bootId: 'boot-later' });
    stores.push(rebooted);
    expect(rebooted.snapshots.lost.length).toBe(ids.length - 1);
    expect(rebooted.snapshots.list().map((s) => s.id)).toEqual([ids[0]]);
    expect(rebooted.list()).toEqual([]);
    expect(fs.existsSync(path.join(snaps, '.unsynced'))).toBe(false);
    expect(rebooted.content.has(img.id)).toBe(true); // the blobs were fsynced when they were stored
    const again = await rebooted.pull({ reference: ref('layered', 'v2') });
    expect(again.id).toBe(img.id);
    const m = await mountRootfs(rebooted, img.id, `c5-${process.pid}`);
    expect(fs.readFileSync(path.join(m, 'etc/motd'), 'utf8')).toBe('v2\n');
  });

  test('bad input: reference, root, container key', async () => {
    const store = open();
    expect((await berthErrorOf(store.pull({ reference: 'library/BusyBox' }))).message).toMatch(/^image: invalid reference/);
    expect(() => ImageStore.open({ root: 'relative/dir' })).toThrow(/^root: must be an absolute path/);
    expect(() => ImageStore.open({ root: '/tmp', maxConcurrentDownloads: 0 })).toThrow(/^maxConcurrentDownloads/);
    expect((await berthErrorOf(store.prepareRootfs('sha256:' + 'a'.repeat(64), 'k'))).kind).toBe('NotFound');
    expect((await berthErrorOf(store.prepareRootfs('x', '../evil'))).message).toMatch(/^key: invalid container key/);
  });
});
