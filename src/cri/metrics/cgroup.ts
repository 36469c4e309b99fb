/**
 * A container's cgroup as the metrics see it: found from its init process (/proc/<pid>/cgroup against the
 * cgroup mounts in /proc/self/mountinfo), then read into one version-neutral sample. Each controller is read
 * from its v1 hierarchy when it has one, else from the cgroup2 directory (pure v2, or what a hybrid host left
 * to cgroup2); pressure (PSI) only exists in cgroup2. What a host does not provide stays undefined: the metric
 * built from it is left out, never reported as zero.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readCgroupV1 } from './cgroup-v1';
import { readCgroupV2, readPressure } from './cgroup-v2';
import { type MountEntry, parseMountInfo, parseProcCgroup } from './parse';
import { type CgroupDirs, type CgroupSample, readCg, type SpecSample } from './sample';

export type { CgroupDirs, CgroupSample } from './sample';

/** Where a process's cgroups are, given its /proc/<pid>/cgroup and the cgroup mounts of our mount namespace. */
export function cgroupDirs(procCgroup: string, mounts: readonly MountEntry[]): CgroupDirs {
  const out: CgroupDirs = { v1: new Map() };
  // The path below a mount's root; undefined when the cgroup lies outside what that mount shows.
  const below = (m: MountEntry, cg: string): string | undefined => {
    const rel = path.posix.relative(m.root, cg);
    return rel === '..' || rel.startsWith('../') ? undefined : path.posix.join(m.mountPoint, rel);
  };
  for (const [key, cg] of parseProcCgroup(procCgroup)) {
    if (key === '') {
      for (const m of mounts.filter((x) => x.fsType === 'cgroup2')) {
        out.unified ??= below(m, cg);
      }
      continue;
    }
    const controllers = key.split(',');
    for (const m of mounts.filter((x) => x.fsType === 'cgroup' && controllers.every((c) => x.superOptions.includes(c)))) {
      const dir = below(m, cg);
      if (dir === undefined) continue;
      for (const c of controllers) if (!out.v1.has(c)) out.v1.set(c, dir);
      break;
    }
  }
  return out;
}

/** The cgroups of a running process (`mounts`: our parsed mountinfo, read when absent); undefined when it is gone. */
export async function cgroupDirsOfPid(pid: number, mounts?: readonly MountEntry[]): Promise<CgroupDirs | undefined> {
  let procCgroup: string;
  try {
    procCgroup = await fs.promises.readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  return cgroupDirs(procCgroup, mounts ?? parseMountInfo(await fs.promises.readFile('/proc/self/mountinfo', 'utf8')));
}

/** Everything the metrics read from a container's cgroups. */
export async function readCgroup(dirs: CgroupDirs): Promise<CgroupSample> {
  const v1 = await readCgroupV1(dirs.v1);
  const v2 = dirs.unified ? await readCgroupV2(dirs.unified) : undefined;
  return {
    cpu: v1.cpu ?? v2?.cpu,
    memory: v1.memory ?? v2?.memory,
    pids: v1.pids ?? v2?.pids,
    io: v1.io ?? v2?.io,
    pressure: dirs.unified ? await readPressure(dirs.unified) : undefined,
    hugetlb: v1.hugetlb.length > 0 ? v1.hugetlb : (v2?.hugetlb ?? []),
    // Each limit from where its controller is read.
    spec: {
      ...(v1.cpu ? pickSpec(v1.spec, 'cpu') : pickSpec(v2?.spec, 'cpu')),
      ...(v1.memory ? pickSpec(v1.spec, 'memory') : pickSpec(v2?.spec, 'memory')),
    },
    procsDir: dirs.v1.get('pids') ?? dirs.v1.get('memory') ?? dirs.v1.get('cpu') ?? dirs.v1.get('cpuacct') ?? dirs.unified,
  };
}

function pickSpec(s: SpecSample | undefined, which: 'cpu' | 'memory'): SpecSample {
  if (!s) return {};
  return which === 'cpu'
    ? { cpuShares: s.cpuShares, cpuPeriod: s.cpuPeriod, cpuQuota: s.cpuQuota }
    : { memoryLimit: s.memoryLimit, memoryReservation: s.memoryReservation, swapLimit: s.swapLimit };
}

/** Every process in a cgroup directory and its sub-cgroups (a container may create its own). */
export async function cgroupPids(dir: string): Promise<number[]> {
  const out: number[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const l of ((await readCg(d, 'cgroup.procs')) ?? '').split('\n')) if (/^\d+$/.test(l.trim())) out.push(Number(l.trim()));
    let entries: fs.Dirent[] = [];
    try {
      entries = await fs.promises.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(d, e.name));
  };
  await walk(dir);
  return [...new Set(out)].sort((a, b) => a - b);
}
