/** The runtime's view of cgroups: resolve at create, reload from the record afterwards, describe for mounts. */
import * as path from 'node:path';
import { DEFAULT_ALLOWED_DEVICES, hostLayout, loadCgroup, ownProcsFile, ownProcsFiles, resolveCgroup, UNIFIED, type Cgroup, type CgroupLayout, type CgroupStats } from '../cgroups';
import type { CgroupHierarchy, CgroupMountSource } from '../plan/cgroup-mounts';
import type { DeviceCgroupRule, Resources, Spec } from '../spec/types';
import { attachDeviceProgram } from './device-program';
import type { ContainerRecord } from './store';

export type { Cgroup, CgroupStats };

/** The host's cgroup mounts, read once per process: they do not change under a running node. */
let layout: CgroupLayout | undefined;
function cachedLayout(): CgroupLayout {
  return (layout ??= hostLayout());
}

export type CgroupDriver = 'cgroupfs' | 'systemd';

/** The file berth-init moves itself into at start to take the migration lock early (see berth-init.c). */
export function migrationPrimer(): string | undefined {
  return ownProcsFile(cachedLayout());
}

/** Where a foreground berth-init goes back to once the container's process exists: our own cgroups. */
export function ownCgroupFiles(): string[] {
  return ownProcsFiles(cachedLayout());
}

export function cgroupForSpec(spec: Spec, id: string, driver: CgroupDriver): Cgroup {
  return resolveCgroup(spec.linux?.cgroupsPath, id, { loadDeviceProgram: attachDeviceProgram, layout: cachedLayout(), driver });
}

/**
 * Paths saved at create: a relative cgroupsPath depends on the caller's cgroup, which may differ now. The
 * driver is the one the container was created with, whatever this invocation was given.
 */
export function cgroupFromRecord(record: ContainerRecord): Cgroup {
  return loadCgroup(record.cgroupPaths, { loadDeviceProgram: attachDeviceProgram, layout: cachedLayout(), driver: record.cgroupDriver ?? 'cgroupfs' });
}

export function cgroupMountSource(spec: Spec, cgroup: Cgroup): CgroupMountSource {
  const layout = cachedLayout();
  const cgroupns = (spec.linux?.namespaces ?? []).some((n) => n.type === 'cgroup');
  const hierarchies: CgroupHierarchy[] = [];
  for (const h of layout.v1) {
    const hostDir = cgroup.paths[h.controllers[0]];
    if (!hostDir) continue;
    const named = h.controllers.filter((c) => c.startsWith('name='));
    hierarchies.push({
      name: path.basename(h.mountPoint),
      fstype: 'cgroup',
      data: named.length === h.controllers.length ? `none,${named.join(',')}` : h.controllers.join(','),
      hostDir,
    });
  }
  if (layout.unified && cgroup.paths[UNIFIED]) {
    hierarchies.push({ name: layout.mode === 'v2' ? '' : path.basename(layout.unified.mountPoint), fstype: 'cgroup2', data: '', hostDir: cgroup.paths[UNIFIED] });
  }
  return { mode: layout.mode, cgroupns, hierarchies };
}

/**
 * The limits written at create: the spec's resources, with device access as runc builds it — the spec's
 * rules, then every node listed in linux.devices, then the default set every container gets.
 */
export function cgroupResources(spec: Spec): Resources {
  const resources = spec.linux?.resources ?? {};
  const nodes: DeviceCgroupRule[] = (spec.linux?.devices ?? [])
    .filter((d) => d.type !== 'p')
    .map((d) => ({ allow: true, type: d.type === 'b' ? 'b' : 'c', major: d.major, minor: d.minor, access: 'rwm' }));
  return { ...resources, devices: [...(resources.devices ?? []), ...nodes, ...DEFAULT_ALLOWED_DEVICES] };
}
