/**
 * The writable layer of a container for the container_fs_* metrics: capacity and inodes from statfs of its
 * rootfs (an overlay reports its upper file system's figures), usage by walking the layer's directory the way
 * du does (allocated blocks, hard links counted once, not crossing into other file systems).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type MountEntry, parseMountInfo } from './parse';

export interface LayerSample {
  /** The source of the mount holding the layer (e.g. /dev/vda1), as cadvisor's `device` label. */
  device: string;
  usageBytes: bigint;
  inodesUsed: bigint;
  limitBytes: bigint;
  inodesTotal: bigint;
  inodesFree: bigint;
}

/** The upperdir of the overlay mounted at `target`; the last such mount wins (it is the one on top). */
export function overlayUpperDir(mounts: readonly MountEntry[], target: string): string | undefined {
  let upper: string | undefined;
  for (const m of mounts) {
    if (m.mountPoint !== target || m.fsType !== 'overlay') continue;
    upper = m.superOptions.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
  }
  return upper;
}

/** The mount a path lies on: the deepest mount point containing it (the later one when stacked). */
export function mountOf(mounts: readonly MountEntry[], p: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const inside = p === m.mountPoint || m.mountPoint === '/' || p.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Allocated bytes and inodes below `dir` (itself included), like `du -s --one-file-system` and `du --inodes`. */
export async function diskUsage(dir: string): Promise<{ bytes: bigint; inodes: bigint }> {
  const seen = new Set<string>();
  let bytes = 0n;
  let inodes = 0n;
  let rootDev: bigint | undefined;
  const visit = async (p: string): Promise<void> => {
    let st: fs.BigIntStats;
    try {
      st = await fs.promises.lstat(p, { bigint: true });
    } catch {
      return; // removed while walking
    }
    rootDev ??= st.dev;
    if (st.dev !== rootDev) return;
    if (st.nlink > 1n) {
      const key = `${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    bytes += st.blocks * 512n;
    inodes++;
    if (!st.isDirectory()) return;
    let names: string[] = [];
    try {
      names = await fs.promises.readdir(p);
    } catch {
      return;
    }
    for (const n of names) await visit(path.join(p, n));
  };
  await visit(dir);
  return { bytes, inodes };
}

/**
 * The layer of a container whose rootfs is mounted at `rootfs`: usage of `layerDir` when given, else of the
 * overlay's upperdir found in `mounts` (our mountinfo, read when absent), else of the rootfs itself. undefined
 * when the rootfs is not there.
 */
export async function layerSample(rootfs: string, layerDir: string | undefined, mounts?: readonly MountEntry[]): Promise<LayerSample | undefined> {
  let sfs: fs.BigIntStatsFs;
  try {
    sfs = await fs.promises.statfs(rootfs, { bigint: true });
  } catch {
    return undefined;
  }
  const mi = mounts ?? parseMountInfo(await fs.promises.readFile('/proc/self/mountinfo', 'utf8'));
  const dir = layerDir ?? overlayUpperDir(mi, rootfs) ?? rootfs;
  const du = await diskUsage(dir);
  return {
    device: mountOf(mi, dir)?.source ?? 'none',
    usageBytes: du.bytes,
    inodesUsed: du.inodes,
    limitBytes: sfs.blocks * sfs.bsize,
    inodesTotal: sfs.files,
    inodesFree: sfs.ffree,
  };
}

/** The /dev name of a block device (/sys/dev/block/M:m links to its sysfs node); "M:m" when sysfs lacks it. */
export async function blockDeviceName(major: number, minor: number): Promise<string> {
  try {
    return `/dev/${path.basename(await fs.promises.readlink(`/sys/dev/block/${major}:${minor}`))}`;
  } catch {
    return `${major}:${minor}`;
  }
}
