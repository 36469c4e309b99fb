/**
 * A `cgroup` mount in config.json becomes several mounts: on v2 one cgroup2 mount; on v1 (and hybrid) a tmpfs
 * holding one mount per hierarchy plus the usual symlinks (cpu → cpu,cpuacct). With a cgroup namespace the
 * hierarchies are mounted fresh (the namespace roots them at the container's cgroup); without one, the
 * container's own cgroup directories are bind-mounted, so it never sees the host's tree.
 */
import type { Mount } from '../spec/types';
import { MS, type ParsedMountOptions } from './mount-options';

export interface CgroupHierarchy {
  /** Directory name under /sys/fs/cgroup: "memory", "cpu,cpuacct", "systemd", "unified". */
  name: string;
  fstype: 'cgroup' | 'cgroup2';
  /** Mount data for a fresh mount: "memory", "cpu,cpuacct", "none,name=systemd"; "" for cgroup2. */
  data: string;
  /** This container's cgroup directory in that hierarchy on the host. */
  hostDir: string;
}

export interface CgroupMountSource {
  mode: 'v1' | 'hybrid' | 'v2';
  cgroupns: boolean;
  hierarchies: CgroupHierarchy[];
}

export interface PlannedMount {
  source: string;
  destination: string;
  fstype: string;
  data: string;
  flags: number;
  remount: number;
  symlinks: { target: string; path: string }[];
}

export function planCgroupMounts(m: Mount, opts: ParsedMountOptions, src: CgroupMountSource): PlannedMount[] {
  const dest = m.destination;
  const flags = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
  const one = (h: CgroupHierarchy, at: string): PlannedMount =>
    src.cgroupns
      ? { source: 'cgroup', destination: at, fstype: h.fstype, data: h.data, flags, remount: 0, symlinks: [] }
      : { source: h.hostDir, destination: at, fstype: '', data: '', flags: MS.BIND, remount: flags, symlinks: [] };

  if (src.mode === 'v2') {
    const unified = src.hierarchies.find((h) => h.fstype === 'cgroup2');
    return unified ? [one(unified, dest)] : [];
  }
  const out: PlannedMount[] = [
    { source: 'tmpfs', destination: dest, fstype: 'tmpfs', data: 'mode=755', flags: flags & ~MS.RDONLY, remount: 0, symlinks: [] },
  ];
  for (const h of src.hierarchies) {
    const sub = one(h, `${dest}/${h.name}`);
    if (h.name.includes(',')) {
      sub.symlinks = h.name.split(',').map((part) => ({ target: h.name, path: `${dest}/${part}` }));
    }
    out.push(sub);
  }
  // The tmpfs is made read-only last: the hierarchy mount points had to be created in it first.
  if (flags & MS.RDONLY) out.push({ source: '', destination: dest, fstype: '', data: '', flags: MS.REMOUNT | MS.BIND | flags, remount: 0, symlinks: [] });
  return out;
}
