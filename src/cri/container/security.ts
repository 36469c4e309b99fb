/**
 * The security context's capabilities, masked and read-only paths and AppArmor profile, with containerd's
 * defaults and its privileged rules. Seccomp has its own file (seccomp.ts).
 */
import * as fs from 'node:fs';
import { invalid } from '../../common/errors';
import type { Capabilities } from '../../oci';
import type { LinuxContainerSecurityContext, SecurityProfile } from '../types';

export const SC = 'config.linux.security_context';

/** Every capability Linux 6.x knows, in kernel order: what "ALL" and privileged grant. */
export const ALL_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

let grantable: readonly string[] | undefined;

/**
 * What "ALL" and privileged can grant: every capability in berthd's own bounding set (containerd takes the
 * current process's too). A capability the node lacks (CAP_SYS_RESOURCE on some machines) would make capset
 * fail; the kernel's newer ones this list does not know are left out.
 */
export function grantableCaps(): readonly string[] {
  if (grantable) return grantable;
  let bits = (1n << BigInt(ALL_CAPS.length)) - 1n;
  try {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (m) bits = BigInt(`0x${m[1]}`);
  } catch {
    // not Linux /proc: assume all
  }
  grantable = ALL_CAPS.filter((_, i) => (bits >> BigInt(i)) & 1n);
  return grantable;
}

/** containerd's (and docker's) default set for unprivileged containers. */
export const DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/sys/devices/virtual/powercap', '/proc/scsi',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** A CRI capability name (`chown`, `CAP_CHOWN`, any case) as the OCI name, or an error naming `field`. */
function capName(name: string, field: string): string {
  const upper = name.toUpperCase();
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPS.includes(full)) throw invalid(field, `unknown capability "${name}"`);
  return full;
}

/**
 * Bounding = effective = permitted: the defaults (all of them when privileged), "ALL" in add then "ALL" in drop,
 * then each named add, then each named drop (containerd's order, so `drop: [ALL], add: [NET_ADMIN]` leaves
 * NET_ADMIN alone). Ambient capabilities must also be inheritable and permitted, so they join every set.
 */
export function capabilitiesFor(sc: LinuxContainerSecurityContext | null, privileged: boolean): Capabilities {
  const f = `${SC}.capabilities`;
  const add = sc?.capabilities?.addCapabilities ?? [];
  const drop = sc?.capabilities?.dropCapabilities ?? [];
  const isAll = (c: string) => c.toUpperCase() === 'ALL';
  const set = new Set(DEFAULT_CAPS);
  if (add.some(isAll)) grantableCaps().forEach((c) => set.add(c));
  if (drop.some(isAll)) set.clear();
  add.forEach((c, i) => isAll(c) || set.add(capName(c, `${f}.add_capabilities[${i}]`)));
  drop.forEach((c, i) => isAll(c) || set.delete(capName(c, `${f}.drop_capabilities[${i}]`)));
  // Privileged containers keep every capability whatever the drops say (containerd applies WithPrivileged last).
  if (privileged) grantableCaps().forEach((c) => set.add(c));
  const ambient = (sc?.capabilities?.addAmbientCapabilities ?? []).map((c, i) => capName(c, `${f}.add_ambient_capabilities[${i}]`));
  ambient.forEach((c) => set.add(c));
  // Kernel order: stable output, whatever order the request named them in.
  const caps = ALL_CAPS.filter((c) => set.has(c));
  const out: Capabilities = { bounding: caps, effective: [...caps], permitted: [...caps] };
  if (ambient.length > 0) {
    const amb = ALL_CAPS.filter((c) => ambient.includes(c));
    out.inheritable = amb;
    out.ambient = [...amb];
  }
  return out;
}

function absolutePaths(list: string[], field: string): string[] {
  list.forEach((p, i) => {
    if (!p.startsWith('/')) throw invalid(`${field}[${i}]`, `must be an absolute path, got "${p}"`);
  });
  return [...list];
}

/** CRI's lists replace the defaults when non-empty; a privileged container has neither. */
export function maskedAndReadonlyPaths(sc: LinuxContainerSecurityContext | null, privileged: boolean): { masked: string[]; readonly: string[] } {
  if (privileged) return { masked: [], readonly: [] };
  const masked = sc?.maskedPaths ?? [];
  const ro = sc?.readonlyPaths ?? [];
  return {
    masked: masked.length > 0 ? absolutePaths(masked, `${SC}.masked_paths`) : [...DEFAULT_MASKED_PATHS],
    readonly: ro.length > 0 ? absolutePaths(ro, `${SC}.readonly_paths`) : [...DEFAULT_READONLY_PATHS],
  };
}

/** The deprecated `apparmor_profile` string as a SecurityProfile ("" = none asked). */
function apparmorFromString(s: string): SecurityProfile | null {
  if (s === '') return null;
  if (s === 'runtime/default') return { profileType: 'RuntimeDefault', localhostRef: '' };
  if (s === 'unconfined') return { profileType: 'Unconfined', localhostRef: '' };
  if (s.startsWith('localhost/')) return { profileType: 'Localhost', localhostRef: s.slice('localhost/'.length) };
  throw invalid(`${SC}.apparmor_profile`, `"${s}" is none of runtime/default, unconfined, localhost/<profile>`);
}

/**
 * The AppArmor profile name for process.apparmorProfile, or undefined. Without AppArmor on the host
 * containerd skips RuntimeDefault silently and refuses Localhost; so do we. With AppArmor, berthd loads no
 * default profile of its own, so RuntimeDefault runs unconfined with a warning.
 */
export function apparmorFor(sc: LinuxContainerSecurityContext | null, privileged: boolean, enabled: boolean, warnings: string[]): string | undefined {
  const field = sc?.apparmor ? `${SC}.apparmor` : `${SC}.apparmor_profile`;
  const p = sc?.apparmor ?? apparmorFromString(sc?.apparmorProfile ?? '');
  if (!p || p.profileType === 'Unconfined') return undefined;
  if (p.profileType === 'Localhost') {
    if (!enabled) throw invalid(field, 'a Localhost AppArmor profile was asked for, but AppArmor is not enabled on this node');
    const name = p.localhostRef.startsWith('localhost/') ? p.localhostRef.slice('localhost/'.length) : p.localhostRef;
    if (name === '') throw invalid(sc?.apparmor ? `${field}.localhost_ref` : field, 'names no profile');
    return name;
  }
  if (enabled && !privileged) warnings.push(`${field}: RuntimeDefault AppArmor asked for, but berthd loads no default AppArmor profile; the container runs without one`);
  return undefined;
}
