/**
 * CRI devices → OCI linux.devices (the nodes the runtime creates) plus the device-cgroup rules that let the
 * container use them. The host nodes are inspected by an injected statDevice, so this stays free of I/O.
 */
import * as fs from 'node:fs';
import { invalid } from '../../common/errors';
import type { Device, DeviceCgroupRule } from '../../oci';
import type { ContainerConfig, Device as CriDevice } from '../types';
import { containerPath } from './mounts';

export interface DeviceInfo {
  type: 'c' | 'b';
  major: number;
  minor: number;
  /** Permission bits of the host node (st_mode & 07777; type bits are ignored). */
  fileMode: number;
  uid: number;
  gid: number;
}

/** The host node at an absolute path, or undefined (or a throw) when it is no character or block device. */
export type StatDevice = (hostPath: string) => DeviceInfo | undefined;

/** statDevice on the host's real filesystem: the default when the caller injects none. */
export const statHostDevice: StatDevice = (hostPath) => {
  const st = fs.statSync(hostPath, { bigint: true }); // follows symlinks, as containerd resolves them first
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (!type) return undefined;
  // glibc's major()/minor() split of a 64-bit dev_t.
  const rdev = st.rdev;
  const major = Number(((rdev & 0xfff00n) >> 8n) | ((rdev & 0xfffff00000000000n) >> 32n));
  const minor = Number((rdev & 0xffn) | ((rdev & 0xffffff00000n) >> 12n));
  return { type, major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
};

export interface DevicesResult {
  devices: Device[];
  rules: DeviceCgroupRule[];
}

function device(d: CriDevice, f: string, statDevice: StatDevice): { dev: Device; rule: DeviceCgroupRule } {
  if (!d.hostPath.startsWith('/')) throw invalid(`${f}.host_path`, `must be an absolute path, got "${d.hostPath}"`);
  // kubelet always sends a container path; an empty one means "where it is on the host", as in docker.
  const dst = containerPath(d.containerPath || d.hostPath, `${f}.container_path`);
  const access = d.permissions || 'rwm';
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
    throw invalid(`${f}.permissions`, `"${d.permissions}" must be a combination of r, w and m`);
  }
  let info: DeviceInfo | undefined;
  try {
    info = statDevice(d.hostPath);
  } catch (err) {
    throw invalid(`${f}.host_path`, `cannot inspect "${d.hostPath}": ${(err as Error).message}`);
  }
  if (!info || (info.type !== 'c' && info.type !== 'b')) throw invalid(`${f}.host_path`, `"${d.hostPath}" is not a character or block device`);
  return {
    dev: { type: info.type, path: dst, major: info.major, minor: info.minor, fileMode: info.fileMode & 0o7777, uid: info.uid, gid: info.gid },
    rule: { allow: true, type: info.type, major: info.major, minor: info.minor, access },
  };
}

/**
 * Devices and cgroup rules: deny everything, then allow each requested device (the runtime adds the standard
 * /dev/null, /dev/zero, … itself, as runc does). Privileged containers may use every device.
 */
export function buildDevices(config: ContainerConfig, statDevice: StatDevice, privileged: boolean): DevicesResult {
  const list = [...config.devices];
  // With the host's /dev bound in, a tty needs the host's /dev/console too (containerd adds it the same way).
  const hostDev = config.mounts.some((m) => m.containerPath === '/dev' && m.hostPath === '/dev');
  if (config.tty && hostDev && !list.some((d) => d.containerPath === '/dev/console' && d.hostPath !== '')) {
    list.push({ containerPath: '/dev/console', hostPath: '/dev/console', permissions: 'rwm' });
  }
  const devices: Device[] = [];
  const rules: DeviceCgroupRule[] = privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }];
  list.forEach((d, i) => {
    // The /dev/console added above is no request entry: its errors name the tty that asked for it.
    const { dev, rule } = device(d, i < config.devices.length ? `config.devices[${i}]` : 'config.tty', statDevice);
    devices.push(dev);
    if (!privileged) rules.push(rule);
  });
  return { devices, rules };
}
