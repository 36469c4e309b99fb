/**
 * A container's mounts as containerd's CRI plugin lays them out: the default kernel filesystems, then the
 * sandbox's files (/etc/hostname, /etc/hosts, /etc/resolv.conf, /dev/shm) and CRI's mounts as binds, sorted by
 * depth so that a parent never shadows a child. A CRI mount replaces a default or sandbox mount at the same
 * destination, and a CRI /dev replaces every default mount below /dev.
 */
import * as path from 'node:path';
import { invalid } from '../../common/errors';
import type { IdMapping, Linux, Mount } from '../../oci';
import type { ContainerConfig, IDMapping, Mount as CriMount } from '../types';

export interface SandboxFiles { hostname?: string; hosts?: string; resolvConf?: string; shm?: string }

export interface MountsInput {
  config: ContainerConfig;
  sandboxFiles: SandboxFiles;
  privileged: boolean;
  readonlyRootfs: boolean;
  /** Host network inside a user namespace: sysfs cannot be mounted there (EPERM), so the host's is bound. */
  bindSys: boolean;
}

export interface MountsResult {
  mounts: Mount[];
  /** Set when a CRI mount propagates: the rootfs must then not be private (containerd's rule). */
  rootfsPropagation?: NonNullable<Linux['rootfsPropagation']>;
}

/** A bind to be made, from CRI or from the sandbox. */
interface Bind { dst: string; src: string; readonly: boolean; rro: boolean; propagation: CriMount['propagation']; uidMappings: IDMapping[]; gidMappings: IDMapping[] }

function defaultMounts(privileged: boolean, bindSys: boolean): Mount[] {
  // containerd's writable-when-privileged rule: a privileged container may write /sys and its cgroups.
  const rw = privileged ? 'rw' : 'ro';
  const sys: Mount = bindSys
    ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'rro', 'nosuid', 'nodev', 'noexec'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', rw] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', rw] },
  ];
}

/** An absolute container path without `..`, as CRI mounts and devices need (`field` names it). */
export function containerPath(p: string, field: string): string {
  if (!p.startsWith('/')) throw invalid(field, `must be an absolute path, got "${p}"`);
  if (p.split('/').includes('..')) throw invalid(field, `must not contain ".." components, got "${p}"`);
  return path.posix.normalize(p).replace(/(.)\/$/, '$1');
}

const idMappings = (m: IDMapping[]): IdMapping[] => m.map((x) => ({ containerID: x.containerId, hostID: x.hostId, size: x.length }));

function criBind(m: CriMount, i: number): Bind {
  const f = `config.mounts[${i}]`;
  // Image volumes reach here resolved by the caller (mounted read-only, hostPath set).
  if (m.image?.image && !m.hostPath) throw invalid(`${f}.image`, 'an image volume must be mounted before the spec is built');
  const dst = containerPath(m.containerPath, `${f}.container_path`);
  if (!m.hostPath.startsWith('/')) throw invalid(`${f}.host_path`, `must be an absolute path, got "${m.hostPath}"`);
  if (m.recursiveReadOnly) {
    // rro is only meaningful on a read-only mount, and a propagating mount would bring in writable submounts later.
    if (!m.readonly) throw invalid(`${f}.recursive_read_only`, 'needs readonly: a recursive read-only mount cannot be read-write');
    if (m.propagation !== 'PROPAGATION_PRIVATE') throw invalid(`${f}.recursive_read_only`, `needs PROPAGATION_PRIVATE, got ${m.propagation}`);
  }
  // selinux_relabel is ignored: this host has no SELinux.
  return { dst, src: m.hostPath, readonly: m.readonly, rro: m.recursiveReadOnly, propagation: m.propagation, uidMappings: m.uidMappings, gidMappings: m.gidMappings };
}

const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);

export function buildMounts(input: MountsInput): MountsResult {
  const cri = input.config.mounts.map(criBind);
  const covered = new Set(cri.map((b) => b.dst));
  const sandbox: [string, string | undefined, boolean][] = [
    ['/etc/hostname', input.sandboxFiles.hostname, input.readonlyRootfs],
    ['/etc/hosts', input.sandboxFiles.hosts, input.readonlyRootfs],
    ['/etc/resolv.conf', input.sandboxFiles.resolvConf, input.readonlyRootfs],
    ['/dev/shm', input.sandboxFiles.shm, false],
  ];
  const binds = [...cri];
  for (const [dst, src, readonly] of sandbox) {
    if (src === undefined || covered.has(dst)) continue;
    binds.push({ dst, src, readonly, rro: false, propagation: 'PROPAGATION_PRIVATE', uidMappings: [], gidMappings: [] });
  }
  // Stable: at equal depth the request's order stays, as kubelet sent it.
  binds.sort((a, b) => depth(a.dst) - depth(b.dst));

  const targets = new Set(binds.map((b) => b.dst));
  const mounts = defaultMounts(input.privileged, input.bindSys).filter(
    (m) => !targets.has(m.destination) && !(targets.has('/dev') && m.destination.startsWith('/dev/')),
  );
  let rootfsPropagation: MountsResult['rootfsPropagation'];
  for (const b of binds) {
    const options = ['rbind'];
    switch (b.propagation) {
      case 'PROPAGATION_BIDIRECTIONAL':
        options.push('rshared');
        rootfsPropagation = 'rshared';
        break;
      case 'PROPAGATION_HOST_TO_CONTAINER':
        options.push('rslave');
        if (rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
        break;
      default:
        options.push('rprivate');
    }
    options.push(b.rro ? 'rro' : b.readonly ? 'ro' : 'rw');
    const m: Mount = { destination: b.dst, type: 'bind', source: b.src, options };
    if (b.uidMappings.length > 0) m.uidMappings = idMappings(b.uidMappings);
    if (b.gidMappings.length > 0) m.gidMappings = idMappings(b.gidMappings);
    mounts.push(m);
  }
  return rootfsPropagation ? { mounts, rootfsPropagation } : { mounts };
}
