/**
 * berth-pod and its wrapper (src/cri/sandbox/host.ts), on the real kernel: namespaces pinned by bind mounts
 * and joined with nsenter, their propagation into other mount namespaces, overlay and tmpfs mounts, the PID
 * namespace holder, and the helper's answers to bad input. Needs root.
 *
 * Everything made here lives below temp dirs from tempDir(); cleanup() (afterAll, and again at the file's
 * end whatever happened) stops the holders and helper processes by pid and unmounts whatever is still
 * mounted below those dirs, deepest first, before the dirs are removed.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError } from '../../src/common/errors';
import { nativeBinary } from '../../src/common/native';
import {
  isMountPoint, mountOverlay, mountTmpfs, pinNamespaces, releaseNamespaces, startPidHolder, stopPidHolder, unmount,
} from '../../src/cri/sandbox/host';
import { atFileEnd, mountPointsUnder } from '../helpers/cleanup';
import { itIf, userNamespaces } from '../helpers/host';
import { berthErrorOf, cleanupTempDirs, requireTools, tempDir } from '../image/helpers';

const roots: string[] = [];
const holderDirs = new Set<string>();
const children: ChildProcess[] = [];

function tmp(): string {
  const d = tempDir('berth-pod-test-');
  roots.push(d);
  return d;
}

async function cleanup(): Promise<void> {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  for (const d of [...holderDirs]) {
    await stopPidHolder(d).catch(() => undefined);
    holderDirs.delete(d);
  }
  for (const r of roots) {
    for (const m of mountPointsUnder(r)) spawnSync('umount', ['-l', m]);
  }
}
atFileEnd('berth-pod test mounts and holders', cleanup);

beforeAll(() => {
  requireTools('nsenter', 'unshare', 'hostname', 'readlink', 'umount', 'mount');
  nativeBinary('berth-pod', 'BERTH_POD'); // throws "run npm run build" when missing
});

afterAll(async () => {
  try {
    await cleanup();
  } finally {
    cleanupTempDirs();
  }
});

const BIN = (): string => nativeBinary('berth-pod', 'BERTH_POD');
const helper = (...args: string[]) => spawnSync(BIN(), args, { encoding: 'utf8' });

interface MountLine { id: string; parent: string; point: string; optional: string[]; fstype: string; source: string; superOpts: string; opts: string }

function mounts(pid: number | 'self' = 'self'): MountLine[] {
  return fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    return { id: f[0], parent: f[1], point: f[4].replace(/\\040/g, ' '), opts: f[5], optional: f.slice(6, sep), fstype: f[sep + 1], source: f[sep + 2], superOpts: f[sep + 3] };
  });
}
const mountsUnder = (dir: string, pid: number | 'self' = 'self'): MountLine[] => mounts(pid).filter((m) => m.point === dir || m.point.startsWith(`${dir}/`));

/** The namespace inode a process sees after joining FILE with nsenter, e.g. "net:[4026532180]". */
const nsenterLink = (flag: string, file: string, type: string): string =>
  execFileSync('nsenter', [`--${flag}=${file}`, 'readlink', `/proc/self/ns/${type}`], { encoding: 'utf8' }).trim();

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A process in a mount namespace of its own made with `unshare --propagation MODE` (peer or slave copies). */
async function otherMountNs(propagation: 'unchanged' | 'slave'): Promise<number> {
  const c = spawn('unshare', ['--mount', `--propagation=${propagation}`, 'sleep', '120'], { stdio: 'ignore' });
  children.push(c);
  const ours = fs.readlinkSync('/proc/self/ns/mnt');
  await waitFor('the unshared mount namespace', () => {
    try {
      return fs.readlinkSync(`/proc/${c.pid}/ns/mnt`) !== ours && fs.readFileSync(`/proc/${c.pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });
  return c.pid!;
}

describe('pin / unpin', () => {
  test('net, ipc and uts: new namespaces, not the host\'s, joinable by path; the hostname is set in the new one', async () => {
    const dir = path.join(tmp(), 'pod', 'ns');
    const ns = await pinNamespaces(dir, { net: true, ipc: true, uts: true, hostname: 'pod-a' });
    expect(ns).toEqual({ net: `${dir}/net`, ipc: `${dir}/ipc`, uts: `${dir}/uts` });
    for (const [type, file] of Object.entries(ns) as Array<[string, string]>) {
      const host = fs.readlinkSync(`/proc/self/ns/${type}`);
      const joined = nsenterLink(type, file, type);
      expect(joined).toMatch(new RegExp(`^${type}:\\[\\d+\\]$`));
      expect(joined).not.toBe(host);
      // The bind-mounted file is the namespace itself: its inode is the one a joiner sees.
      expect(joined).toBe(`${type}:[${fs.statSync(file).ino}]`);
      expect(isMountPoint(file)).toBe(true);
    }
    expect(new Set(Object.values(ns).map((f) => fs.statSync(f).ino)).size).toBe(3);
    expect(execFileSync('nsenter', [`--uts=${ns.uts}`, 'hostname'], { encoding: 'utf8' }).trim()).toBe('pod-a');
    expect(os.hostname()).not.toBe('pod-a');

    // DIR is a mount of its own, in a peer group nobody else is in; the three nsfs mounts sit on it.
    const own = mountsUnder(dir);
    const top = own.find((m) => m.point === dir)!;
    const group = top.optional.find((o) => o.startsWith('shared:'));
    expect(group).toBeDefined();
    expect(mounts().filter((m) => m.optional.includes(group!)).map((m) => m.point)).toEqual([dir]);
    expect(own.filter((m) => m !== top).map((m) => [m.point, m.fstype, m.parent])).toEqual(
      ['net', 'ipc', 'uts'].map((t) => [`${dir}/${t}`, 'nsfs', top.id]));

    await releaseNamespaces(dir);
    expect(mountsUnder(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(path.dirname(dir))).toBe(true);
    await releaseNamespaces(dir); // twice: fine
  });

  test('only what is asked for; a hostname without uts, or nothing at all, is refused', async () => {
    const dir = path.join(tmp(), 'ns');
    expect(await pinNamespaces(dir, { net: true })).toEqual({ net: `${dir}/net` });
    expect(fs.readdirSync(dir)).toEqual(['net']);
    // The IPC and UTS namespaces stayed the host's: joining the net file changes only net.
    expect(nsenterLink('net', `${dir}/net`, 'uts')).toBe(fs.readlinkSync('/proc/self/ns/uts'));
    await releaseNamespaces(dir);
    expect(fs.existsSync(dir)).toBe(false);

    const e1 = await berthErrorOf(pinNamespaces(dir, { net: true, hostname: 'x' }));
    expect(e1.message).toBe('berth-pod: pin: --hostname needs --uts');
    const e2 = await berthErrorOf(pinNamespaces(dir, {}));
    expect(e2.message).toMatch(/nothing to pin/);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('a failing pin undoes its own work and leaves an earlier pin alone', async () => {
    const root = tmp();
    const dir = path.join(root, 'ns');
    await pinNamespaces(dir, { net: true, uts: true, hostname: 'first' });
    const before = mountsUnder(dir).map((m) => m.point);
    const again = await berthErrorOf(pinNamespaces(dir, { ipc: true, net: true }));
    expect(again.kind).toBe('FailedPrecondition');
    expect(again.message).toBe(`berth-pod: pin create ${dir}/net: File exists`);
    // ipc was created, then undone; the first pin's mounts are all still there and still work.
    expect(fs.existsSync(`${dir}/ipc`)).toBe(false);
    expect(mountsUnder(dir).map((m) => m.point)).toEqual(before);
    expect(execFileSync('nsenter', [`--uts=${dir}/uts`, 'hostname'], { encoding: 'utf8' }).trim()).toBe('first');
    await releaseNamespaces(dir);

    // A directory of someone else's in the way: the partial work (net, the self bind) is undone.
    const dir2 = path.join(root, 'ns2');
    fs.mkdirSync(`${dir2}/uts`, { recursive: true });
    const blocked = await berthErrorOf(pinNamespaces(dir2, { net: true, uts: true }));
    expect(blocked.message).toBe(`berth-pod: pin create ${dir2}/uts: File exists`);
    expect(fs.readdirSync(dir2)).toEqual(['uts']);
    expect(mountsUnder(dir2)).toEqual([]);
  });

  test('under a shared mount: the namespace mounts stay out of older peers; newer peers and slaves lose their copies at unpin', async () => {
    const root = tmp();
    // As / and /run are on a systemd host: shared, with a peer in another mount namespace.
    execFileSync('mount', ['--bind', root, root]);
    execFileSync('mount', ['--make-shared', root]);
    const olderPeer = await otherMountNs('unchanged');
    const dir = path.join(root, 'pod', 'ns');
    await pinNamespaces(dir, { net: true, uts: true });
    const newerPeer = await otherMountNs('unchanged');
    const newerSlave = await otherMountNs('slave');

    const nsfsUnder = (pid: number) => mountsUnder(dir, pid).filter((m) => m.fstype === 'nsfs').map((m) => m.point);
    // Pinning did not push nsfs mounts into the mount namespace that shared root with us.
    expect(nsfsUnder(olderPeer)).toEqual([]);
    // Namespaces cloned afterwards copy them (as a container's would), as peers or slaves of ours...
    expect(nsfsUnder(newerPeer)).toEqual([`${dir}/net`, `${dir}/uts`]);
    expect(nsfsUnder(newerSlave)).toEqual([`${dir}/net`, `${dir}/uts`]);
    await releaseNamespaces(dir);
    // ...and our unmounts reach those copies, so nothing keeps the namespaces alive; nothing is left anywhere.
    for (const pid of [olderPeer, newerPeer, newerSlave]) expect(mountsUnder(dir, pid)).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('unpin of a directory that never existed, or of a plain one, is fine', async () => {
    const root = tmp();
    await releaseNamespaces(path.join(root, 'never'));
    fs.mkdirSync(path.join(root, 'plain'));
    fs.writeFileSync(path.join(root, 'plain', 'keep'), '');
    await releaseNamespaces(path.join(root, 'plain'));
    expect(fs.readdirSync(path.join(root, 'plain'))).toEqual(['keep']);
  });

  itIf(userNamespaces())('with a user namespace: mapped, and owning the other new namespaces', async () => {
    const dir = path.join(tmp(), 'ns');
    const ns = await pinNamespaces(dir, {
      net: true,
      uts: true,
      hostname: 'pod-u',
      userns: { uidMappings: [{ containerId: 0, hostId: 200000, length: 65536 }], gidMappings: [{ containerId: 0, hostId: 300000, length: 1000 }, { containerId: 1000, hostId: 400000, length: 1 }] },
    });
    expect(ns).toEqual({ net: `${dir}/net`, uts: `${dir}/uts`, user: `${dir}/user` });
    expect(nsenterLink('user', ns.user!, 'user')).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    const maps = execFileSync('nsenter', [`--user=${ns.user}`, 'sh', '-c', 'cat /proc/self/uid_map /proc/self/gid_map'], { encoding: 'utf8' });
    expect(maps.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '))).toEqual(['0 200000 65536', '0 300000 1000', '1000 400000 1']);
    // Root of the user namespace may change the hostname only of a UTS namespace that namespace owns.
    const inside = execFileSync('nsenter', [`--user=${ns.user}`, `--uts=${ns.uts}`, 'sh', '-c', 'hostname; hostname renamed && hostname'], { encoding: 'utf8' });
    expect(inside.trim().split('\n')).toEqual(['pod-u', 'renamed']);
    const hostUts = spawnSync('nsenter', [`--user=${ns.user}`, 'hostname', 'not-allowed'], { encoding: 'utf8' });
    expect(hostUts.status).not.toBe(0);
    expect(os.hostname()).not.toBe('not-allowed');

    await releaseNamespaces(dir);
    expect(mountsUnder(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  test('user namespace arguments are checked before anything is made', () => {
    const dir = path.join(tmp(), 'ns');
    for (const [args, msg] of [
      [['--user', '--net'], 'error pin: --user needs --uid-map and --gid-map'],
      [['--net', '--uid-map', '0:1000:1'], 'error pin: --uid-map and --gid-map need --user'],
      [['--user', '--uid-map', '0:1000', '--gid-map', '0:1:1'], "error pin --uid-map: '0:1000' is not CONTAINER:HOST:COUNT"],
      [['--user', '--uid-map', '0:1000:0', '--gid-map', '0:1:1'], "error pin --uid-map: '0:1000:0': empty or out-of-range"],
    ] as Array<[string[], string]>) {
      const r = helper('pin', dir, ...args);
      expect([r.status, r.stdout.trim()]).toEqual([1, msg]);
    }
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describe('mounts', () => {
  test('overlay of two lowers: merged view, writes go to the upper dir', async () => {
    const root = tmp();
    for (const d of ['l1', 'l2', 'up', 'work']) fs.mkdirSync(path.join(root, d));
    fs.writeFileSync(path.join(root, 'l1', 'a'), 'a from l1');
    fs.writeFileSync(path.join(root, 'l1', 'both'), 'top');
    fs.writeFileSync(path.join(root, 'l2', 'b'), 'b from l2');
    fs.writeFileSync(path.join(root, 'l2', 'both'), 'bottom');
    const target = path.join(root, 'rootfs', 'merged');
    await mountOverlay(target, { lowerdirs: [path.join(root, 'l1'), path.join(root, 'l2')], upperdir: path.join(root, 'up'), workdir: path.join(root, 'work') });
    expect(isMountPoint(target)).toBe(true);
    expect(mountsUnder(target).map((m) => m.fstype)).toEqual(['overlay']);
    expect(fs.readdirSync(target).sort()).toEqual(['a', 'b', 'both']);
    expect(fs.readFileSync(path.join(target, 'both'), 'utf8')).toBe('top');
    fs.writeFileSync(path.join(target, 'new'), 'written');
    fs.appendFileSync(path.join(target, 'b'), '+');
    expect(fs.readdirSync(path.join(root, 'up')).sort()).toEqual(['b', 'new']);
    expect(fs.readFileSync(path.join(root, 'up', 'b'), 'utf8')).toBe('b from l2+');
    expect(fs.readFileSync(path.join(root, 'l2', 'b'), 'utf8')).toBe('b from l2');
    await unmount(target);
    expect(isMountPoint(target)).toBe(false);
    await unmount(target); // again: fine
  });

  test('read-only overlay of lowers only', async () => {
    const root = tmp();
    for (const d of ['l1', 'l2']) fs.mkdirSync(path.join(root, d));
    fs.writeFileSync(path.join(root, 'l2', 'f'), 'x');
    const target = path.join(root, 'ro');
    await mountOverlay(target, { lowerdirs: [path.join(root, 'l1'), path.join(root, 'l2')], readonly: true });
    expect(mountsUnder(target)[0].opts.split(',')).toContain('ro');
    expect(() => fs.writeFileSync(path.join(target, 'g'), '')).toThrow(/EROFS/);
    await unmount(target);
  });

  test('60 lowers with long paths: over a page of options, mounted relative to their common parent', async () => {
    const base = path.join(tmp(), 'a'.repeat(60), 'b'.repeat(60), 'snapshots');
    const lowers: string[] = [];
    for (let i = 60; i >= 1; i--) {
      const d = path.join(base, String(i), 'fs');
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, `layer-${i}`), String(i));
      fs.writeFileSync(path.join(d, 'which'), String(i));
      lowers.push(d);
    }
    expect(`lowerdir=${lowers.join(':')}`.length).toBeGreaterThan(4096);
    fs.mkdirSync(path.join(base, 'up'));
    fs.mkdirSync(path.join(base, 'work'));
    const target = path.join(base, 'merged');
    await mountOverlay(target, { lowerdirs: lowers, upperdir: path.join(base, 'up'), workdir: path.join(base, 'work') });
    expect(fs.readdirSync(target).filter((n) => n.startsWith('layer-'))).toHaveLength(60);
    expect(fs.readFileSync(path.join(target, 'which'), 'utf8')).toBe('60'); // the first lower is the top one
    fs.writeFileSync(path.join(target, 'w'), '');
    expect(fs.readdirSync(path.join(base, 'up'))).toEqual(['w']);
    await unmount(target);
    expect(isMountPoint(target)).toBe(false);
  });

  test('lowers that stay over a page even relative to their parent: a clear error, nothing mounted', async () => {
    const base = tmp();
    const lowers = Array.from({ length: 60 }, (_, i) => path.join(base, `${'x'.repeat(80)}-${i}`));
    for (const d of lowers) fs.mkdirSync(d);
    const target = path.join(base, 'merged');
    const err = await berthErrorOf(mountOverlay(target, { lowerdirs: lowers }));
    expect(err.kind).toBe('Internal');
    expect(err.message).toMatch(new RegExp(`^berth-pod: overlay: mount options are \\d+ bytes even relative to ${base}, over the \\d+-byte limit of mount\\(2\\): too many or too long lower dirs$`));
    expect(mountsUnder(base)).toEqual([]);
  });

  test('tmpfs: nosuid,nodev,noexec, 64 MiB and mode 1777 by default, or the size and mode given', async () => {
    const root = tmp();
    const shm = path.join(root, 'shm');
    await mountTmpfs(shm);
    let m = mountsUnder(shm);
    expect(m.map((x) => x.fstype)).toEqual(['tmpfs']);
    expect(m[0].opts.split(',')).toEqual(expect.arrayContaining(['nosuid', 'nodev', 'noexec']));
    expect(m[0].superOpts.split(',')).toContain('size=65536k');
    expect(fs.statSync(shm).mode & 0o7777).toBe(0o1777);
    await unmount(shm);

    const small = path.join(root, 'small');
    await mountTmpfs(small, { sizeBytes: 1 << 20, mode: 0o750 });
    m = mountsUnder(small);
    expect(m[0].superOpts.split(',')).toContain('size=1024k');
    expect(fs.statSync(small).mode & 0o7777).toBe(0o750);
    expect(fs.statfsSync(small).blocks * fs.statfsSync(small).bsize).toBe(1 << 20);
    await unmount(small);
    expect(mountsUnder(root)).toEqual([]);
  });

  test('unmount of a plain directory, a missing path, several or none: fine', async () => {
    const root = tmp();
    fs.mkdirSync(path.join(root, 'plain'));
    await mountTmpfs(path.join(root, 't1'));
    await mountTmpfs(path.join(root, 't2'));
    await unmount(path.join(root, 'plain'), path.join(root, 'missing'), path.join(root, 't1'), path.join(root, 't2'));
    await unmount();
    expect(mountsUnder(root)).toEqual([]);
  });

  test('isMountPoint reads mountinfo', () => {
    const root = tmp();
    expect(isMountPoint('/proc')).toBe(true);
    expect(isMountPoint(root)).toBe(false);
  });
});

describe('PID namespace holder', () => {
  const nspidOf = (pid: number): string[] => /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1].trim().split(/\s+/);
  const alive = (pid: number): boolean => {
    try {
      return !/\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  const childrenOf = (pid: number): number[] => fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

  test('PID 1 of a new namespace, detached from us, reaping orphans; stopPidHolder kills it', async () => {
    const dir = path.join(tmp(), 'pod');
    holderDirs.add(dir);
    const pid = await startPidHolder(dir);
    expect(fs.readFileSync(path.join(dir, 'pidns.pid'), 'utf8')).toBe(`${pid}\n`);
    expect(nspidOf(pid)).toEqual([String(pid), '1']);
    expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).not.toBe(fs.readlinkSync('/proc/self/ns/pid'));
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').slice(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    expect(Number(stat[1])).not.toBe(process.pid); // ppid: reparented away from us
    expect(Number(stat[3])).not.toBe(Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[3])); // own session
    expect(fs.readlinkSync(`/proc/${pid}/fd/1`)).toBe('/dev/null');

    // A process joining the namespace and orphaned there becomes the holder's child, which reaps it.
    // (Its stdio away from ours, or execFileSync would wait for it.)
    const out = execFileSync('nsenter', [`--pid=/proc/${pid}/ns/pid`, 'sh', '-c', 'sleep 1 </dev/null >/dev/null 2>&1 & echo $$'], { encoding: 'utf8' });
    expect(Number(out.trim())).toBeGreaterThan(1);
    expect(childrenOf(pid)).toHaveLength(1);
    const orphan = childrenOf(pid)[0];
    expect(nspidOf(orphan)).toHaveLength(2);
    await waitFor('the orphan to be reaped', () => !fs.existsSync(`/proc/${orphan}`) && childrenOf(pid).length === 0);

    // One holder per directory.
    const second = await berthErrorOf(startPidHolder(dir));
    expect(second.kind).toBe('FailedPrecondition');
    expect(second.message).toBe(`berth-pod: pidns ${dir}/pidns.pid: File exists`);

    await stopPidHolder(dir);
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'pidns.pid'))).toBe(false);
    await stopPidHolder(dir); // again: fine
    holderDirs.delete(dir);
  });

  test('SIGTERM ends it too; stopPidHolder then only removes the file, and leaves a stranger with that pid alone', async () => {
    const dir = path.join(tmp(), 'pod');
    holderDirs.add(dir);
    const pid = await startPidHolder(dir);
    process.kill(pid, 'SIGTERM');
    await waitFor('the holder to exit on SIGTERM', () => !alive(pid));
    await stopPidHolder(dir);
    expect(fs.existsSync(path.join(dir, 'pidns.pid'))).toBe(false);

    // A pid file naming some other live process (the pid reused): not killed.
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(stranger);
    fs.writeFileSync(path.join(dir, 'pidns.pid'), `${stranger.pid}\n`);
    await stopPidHolder(dir);
    expect(alive(stranger.pid!)).toBe(true);
    expect(fs.existsSync(path.join(dir, 'pidns.pid'))).toBe(false);
    stranger.kill('SIGKILL');
    holderDirs.delete(dir);
  });
});

describe('bad input', () => {
  test('--help: the usage on stdout, status 0', () => {
    const r = helper('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: berth-pod SUBCOMMAND/);
    for (const sub of ['pin DIR', 'unpin DIR', 'overlay TARGET', 'tmpfs TARGET', 'umount TARGET', 'pidns DIR']) expect(r.stdout).toContain(`  ${sub}`);
  });

  test('relative paths, missing and unknown arguments: one error line, status 1', () => {
    const cases: Array<[string[], string]> = [
      [[], 'error usage: no subcommand (see berth-pod --help)'],
      [['frob'], "error usage: unknown subcommand 'frob' (see berth-pod --help)"],
      [['pin'], 'error pin: missing DIR (usage: berth-pod pin DIR [--net] [--ipc] [--uts] ...)'],
      [['pin', 'pods/ns', '--net'], "error pin: 'pods/ns' is not an absolute path"],
      [['pin', '/x', '--pid'], "error pin: unknown option '--pid'"],
      [['pin', '/x', '--uts', '--hostname'], 'error pin: --hostname needs a value'],
      [['pin', '/x', '--uts', '--hostname', 'h'.repeat(65)], 'error pin: hostname must be 1 to 64 bytes'],
      [['unpin'], 'error unpin: missing DIR (usage: berth-pod unpin DIR)'],
      [['unpin', 'ns'], "error unpin: 'ns' is not an absolute path"],
      [['overlay', '/t'], 'error overlay: missing --lower'],
      [['overlay', 't', '--lower', '/a'], "error overlay: 't' is not an absolute path"],
      [['overlay', '/t', '--lower', '/a:b'], "error overlay --lower: 'b' is not an absolute path"],
      [['overlay', '/t', '--lower', '/a', '--upper', '/u'], 'error overlay: --upper and --work go together'],
      [['overlay', '/t', '--lower', '/a,b'], "error overlay --lower: '/a,b' contains ',', ':' or '\\', which overlay options cannot carry"],
      [['tmpfs'], 'error tmpfs: missing TARGET (usage: berth-pod tmpfs TARGET [--size BYTES] [--mode OCTAL])'],
      [['tmpfs', '/t', '--size', '10M'], "error tmpfs: --size '10M' is not a positive number of bytes"],
      [['tmpfs', '/t', '--mode', '999'], "error tmpfs: --mode '999' is not an octal mode"],
      [['umount'], 'error umount: missing TARGET (usage: berth-pod umount TARGET...)'],
      [['umount', '/ok', 'rel'], "error umount: 'rel' is not an absolute path"],
      [['pidns'], 'error pidns: missing DIR (usage: berth-pod pidns DIR)'],
      [['pidns', 'rel'], "error pidns: 'rel' is not an absolute path"],
    ];
    for (const [args, line] of cases) {
      const r = helper(...args);
      expect([args, r.status, r.stdout]).toEqual([args, 1, `${line}\n`]);
    }
  });

  test('the wrapper: BerthErrors with the helper\'s message', async () => {
    const e = await berthErrorOf(mountTmpfs('relative/shm'));
    expect(e).toBeInstanceOf(BerthError);
    expect(e.kind).toBe('Internal');
    expect(e.message).toBe("berth-pod: tmpfs: 'relative/shm' is not an absolute path");
    const colon = await berthErrorOf(mountOverlay('/t', { lowerdirs: ['/a:b'] }));
    expect(colon.message).toBe("berth-pod: overlay: lower dir '/a:b' contains ':'");
    const file = path.join(tmp(), 'file');
    fs.writeFileSync(file, '');
    const notDir = await berthErrorOf(pinNamespaces(path.join(file, 'ns'), { net: true }));
    expect(notDir.kind).toBe('FailedPrecondition');
    expect(notDir.message).toBe(`berth-pod: pin mkdir ${file}/ns: Not a directory`);
  });
});
