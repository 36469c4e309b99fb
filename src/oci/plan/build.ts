/**
 * Spec → plan for berth-init. Every decision about how a container is set up is made here, in TypeScript;
 * berth-init only executes the records in its fixed order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalid } from '../../common/errors';
import { CAPABILITIES, NAMESPACES, RLIMITS } from '../spec/names';
import type { Capabilities, Device, Hook, IdMapping, Mount, NamespaceType, Process, Scheduler, Spec } from '../spec/types';
import { cpuListBits } from '../spec/validate';
import { compileSeccomp } from '../seccomp/compile';
import { checkHookLimits, checkProcessLimits } from './exec-limits';
import { MS, parseMountOptions } from './mount-options';
import { Mode, Option, PlanWriter, Tag } from './wire';
import type { CgroupMountSource } from './cgroup-mounts';
import { planCgroupMounts } from './cgroup-mounts';

export interface InitPlanInput {
  spec: Spec;
  bundle: string;
  /** Socket path `start` connects to; absent for `run`, where the program starts as soon as it is created. */
  startSocket?: string;
  /** cgroup.procs files berth-init joins itself before it clones (absent: the caller moved it already). */
  cgroupJoin?: readonly string[];
  /** cgroup.procs files a foreground berth-init returns to once the container process exists. */
  cgroupLeave?: readonly string[];
  consoleSocket?: string;
  noPivot?: boolean;
  foreground?: boolean;
  preserveFds?: number;
  cgroup: CgroupMountSource;
}

export interface ExecPlanInput {
  spec: Spec;
  process: Process;
  /** The container's init pid: its namespaces are joined through /proc/PID/ns. */
  pid: number;
  consoleSocket?: string;
  foreground?: boolean;
  preserveFds?: number;
  cgroupJoin?: readonly string[];
  cgroupLeave?: readonly string[];
  /** The container's rootfs: an exec into a container without a mount namespace of its own chroots there. */
  rootfs: string;
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** runc's default device nodes: present in every container unless the config lists the same path. */
const DEFAULT_DEVICES: Device[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666 },
];

export function resolveRootfs(spec: Spec, bundle: string): string {
  const root = spec.root!.path;
  const abs = path.resolve(bundle, root);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch (err) {
    throw invalid('root.path', `${abs}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message}`);
  }
  // Like runc: the root must be named by its real path. A symlinked root could be swapped between our check
  // and the mount, and points somewhere the bundle's author may not have meant.
  if (real !== abs) throw invalid('root.path', `${abs} is a symlink or goes through one (to ${real}); name the real directory`);
  if (!fs.statSync(real).isDirectory()) throw invalid('root.path', `${abs} is not a directory`);
  return real;
}

export function buildInitPlan(input: InitPlanInput): Buffer {
  const { spec, bundle } = input;
  const linux = spec.linux ?? {};
  const process = spec.process!;
  const w = new PlanWriter();
  w.add(Tag.MODE, Mode.INIT);
  const userns = (linux.namespaces ?? []).some((n) => n.type === 'user');
  const hostMountNs = !hasMountNamespace(spec);

  let options = 0;
  if (input.foreground) options |= Option.FOREGROUND;
  if (hostMountNs) options |= Option.HOST_MOUNT_NS;
  if (hasRuntimeHooks(spec)) options |= Option.RUNTIME_HOOKS;
  if (input.noPivot) options |= Option.NO_PIVOT;
  if (spec.root?.readonly) options |= Option.ROOT_READONLY;
  w.add(Tag.OPTIONS, options | processOptions(process));

  let cloneFlags = 0;
  for (const ns of orderNamespaces(linux.namespaces ?? [])) {
    const i = (linux.namespaces ?? []).indexOf(ns);
    if (ns.path) w.add(Tag.JOIN_NS, NAMESPACES[ns.type].flag, ns.path, `linux.namespaces[${i}].path`);
    else cloneFlags |= NAMESPACES[ns.type].flag;
  }
  w.add(Tag.CLONE_FLAGS, cloneFlags);
  if (linux.uidMappings?.length) w.add(Tag.UID_MAP, idMapText(linux.uidMappings));
  if (linux.gidMappings?.length) w.add(Tag.GID_MAP, idMapText(linux.gidMappings));
  for (const [clock, off] of Object.entries(linux.timeOffsets ?? {})) w.add(Tag.TIME_OFFSET, `${clock} ${off.secs ?? 0} ${off.nanosecs ?? 0}`);

  w.add(Tag.ROOTFS, resolveRootfs(spec, bundle));
  // In the runtime's own namespace the default is private: the container's mounts reach no other namespace.
  w.add(Tag.ROOT_PROPAGATION, hostMountNs && !linux.rootfsPropagation ? MS.PRIVATE | MS.REC : rootPropagation(linux.rootfsPropagation));

  const mounts = spec.mounts ?? [];
  mounts.forEach((m, i) => addMount(w, m, `mounts[${i}]`, bundle, input.cgroup));
  const devBound = mounts.some((m) => m.destination === '/dev' && (m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind')));
  if (!devBound) {
    const listed = new Set((linux.devices ?? []).map((d) => d.path));
    const devices = [...DEFAULT_DEVICES.filter((d) => !listed.has(d.path)), ...(linux.devices ?? [])];
    devices.forEach((d) => {
      const i = (linux.devices ?? []).indexOf(d);
      addDevice(w, d, i >= 0 ? `linux.devices[${i}]` : `default device ${d.path}`, userns);
    });
    for (const [target, link] of [
      ['/proc/self/fd', '/dev/fd'], ['/proc/self/fd/0', '/dev/stdin'], ['/proc/self/fd/1', '/dev/stdout'],
      ['/proc/self/fd/2', '/dev/stderr'], ['pts/ptmx', '/dev/ptmx'],
    ]) w.add(Tag.SYMLINK, target, link);
    if (fs.existsSync('/proc/kcore')) w.add(Tag.SYMLINK, '/proc/kcore', '/dev/core');
  }
  (linux.maskedPaths ?? []).forEach((p) => w.add(Tag.MASK, p));
  (linux.readonlyPaths ?? []).forEach((p) => w.add(Tag.READONLY, p));
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) {
    w.add(Tag.SYSCTL, `linux.sysctl["${key}"]`, `/proc/sys/${key.replace(/\./g, '/')}`, value);
  }
  if (spec.hostname !== undefined && spec.hostname !== '') w.add(Tag.HOSTNAME, spec.hostname);
  if (spec.domainname !== undefined && spec.domainname !== '') w.add(Tag.DOMAINNAME, spec.domainname);
  if (linux.personality) w.add(Tag.PERSONALITY, linux.personality.domain === 'LINUX32' ? 0x0008 : 0x0000);

  addHooks(w, 1, spec.hooks?.createContainer ?? [], 'hooks.createContainer');
  addHooks(w, 2, spec.hooks?.startContainer ?? [], 'hooks.startContainer');
  if (input.startSocket !== undefined) w.add(Tag.START_SOCKET, input.startSocket);
  for (const file of input.cgroupJoin ?? []) w.add(Tag.CGROUP_JOIN, file);
  if (input.foreground) for (const file of input.cgroupLeave ?? []) w.add(Tag.CGROUP_LEAVE, file);
  addProcess(w, spec, process, input);
  return w.finish();
}

/** prestart or createRuntime hooks: berth-init stops after the mounts so that berth-run can run them. */
export function hasRuntimeHooks(spec: Spec): boolean {
  return !!(spec.hooks?.prestart?.length || spec.hooks?.createRuntime?.length);
}

/** A mount namespace of its own, new or joined; without one the container shares the runtime's (runtime-spec). */
export function hasMountNamespace(spec: Spec): boolean {
  return (spec.linux?.namespaces ?? []).some((n) => n.type === 'mount');
}

/** The plan for berth-init's one-shot detach mode: lazily unmount each mount point, with everything below it. */
export function buildDetachPlan(mountPoints: readonly string[]): Buffer {
  const w = new PlanWriter();
  w.add(Tag.MODE, Mode.DETACH);
  for (const mp of mountPoints) w.add(Tag.DETACH, mp);
  return w.finish();
}

export function buildExecPlan(input: ExecPlanInput): Buffer {
  const { spec, process } = input;
  const w = new PlanWriter();
  w.add(Tag.MODE, Mode.EXEC);
  w.add(Tag.OPTIONS, (input.foreground ? Option.FOREGROUND : 0) | processOptions(process));
  const namespaces = orderNamespaces(spec.linux?.namespaces ?? []);
  for (const ns of namespaces) {
    w.add(Tag.JOIN_NS, NAMESPACES[ns.type].flag, `/proc/${input.pid}/ns/${NAMESPACES[ns.type].file}`, `namespace ${ns.type} of the container`);
  }
  for (const file of input.cgroupJoin ?? []) w.add(Tag.CGROUP_JOIN, file);
  if (input.foreground) for (const file of input.cgroupLeave ?? []) w.add(Tag.CGROUP_LEAVE, file);
  if (!hasMountNamespace(spec)) w.add(Tag.ROOTFS, input.rootfs);
  // berth-init relays a terminal only for a container's own foreground init; exec needs a console socket.
  addProcess(w, spec, process, { ...input, foreground: false });
  return w.finish();
}

function processOptions(process: Process): number {
  let options = 0;
  if (process.noNewPrivileges) options |= Option.NO_NEW_PRIVS;
  if (process.terminal) options |= Option.TERMINAL;
  return options;
}

/** The user namespace first (the others are owned by it), the mount namespace last (it changes what paths mean). */
function orderNamespaces<T extends { type: NamespaceType }>(list: readonly T[]): T[] {
  const rank = (t: NamespaceType) => (t === 'user' ? 0 : t === 'mount' ? 2 : 1);
  return [...list].sort((a, b) => rank(a.type) - rank(b.type));
}

function idMapText(maps: IdMapping[]): string {
  return maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

function rootPropagation(p: string | undefined): number {
  switch (p) {
    case undefined: return MS.SLAVE | MS.REC;
    case 'private': return MS.PRIVATE;
    case 'rprivate': return MS.PRIVATE | MS.REC;
    case 'shared': return MS.SHARED;
    case 'rshared': return MS.SHARED | MS.REC;
    case 'slave': return MS.SLAVE;
    case 'rslave': return MS.SLAVE | MS.REC;
    case 'unbindable': return MS.UNBINDABLE;
    default: return MS.UNBINDABLE | MS.REC;
  }
}

function addMount(w: PlanWriter, m: Mount, label: string, bundle: string, cgroup: CgroupMountSource): void {
  const opts = parseMountOptions(m.options ?? [], `${label}.options`);
  const type = m.type ?? '';
  if (type === 'cgroup' || type === 'cgroup2') {
    for (const sub of planCgroupMounts(m, opts, cgroup)) {
      w.add(Tag.MOUNT, label, sub.source, sub.destination, sub.fstype, sub.data, sub.flags, 0, sub.remount, 0, 0n);
      for (const link of sub.symlinks) w.add(Tag.SYMLINK, link.target, link.path);
    }
    return;
  }
  if (type === 'bind' || opts.bind) {
    if (!m.source) throw invalid(`${label}.source`, 'a bind mount needs a source');
    const source = path.resolve(bundle, m.source);
    let isDir: boolean;
    try {
      isDir = fs.statSync(source).isDirectory();
    } catch (err) {
      throw invalid(`${label}.source`, `${source}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message}`);
    }
    const first = MS.BIND | (opts.flags & MS.REC);
    const rest = opts.flags & ~(MS.BIND | MS.REC | MS.REMOUNT);
    w.add(Tag.MOUNT, label, source, m.destination, '', '', first, isDir ? 0 : 1, rest, opts.propagation, opts.attr);
    return;
  }
  if (!type) throw invalid(`${label}.type`, 'is required for a mount that is not a bind mount');
  w.add(Tag.MOUNT, label, m.source ?? type, m.destination, type, opts.data, opts.flags, 0, 0, opts.propagation, opts.attr);
}

function addDevice(w: PlanWriter, d: Device, label: string, userns: boolean): void {
  const kind = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
  const bind = userns && d.type !== 'p';
  w.add(Tag.DEVICE, label, d.path, kind | (d.fileMode ?? 0o666), d.major ?? 0, d.minor ?? 0, d.uid ?? 0, d.gid ?? 0, bind ? 1 : 0, label.startsWith('linux.devices') ? 1 : 0);
}

/** sched(7)'s numbers for the policies and sched_setattr(2)'s flag bits, in the spec's order. */
const SCHED_POLICY: Record<string, number> = { SCHED_OTHER: 0, SCHED_FIFO: 1, SCHED_RR: 2, SCHED_BATCH: 3, SCHED_IDLE: 5, SCHED_DEADLINE: 6 };
const SCHED_FLAG: Record<string, number> = {
  SCHED_FLAG_RESET_ON_FORK: 0x01, SCHED_FLAG_RECLAIM: 0x02, SCHED_FLAG_DL_OVERRUN: 0x04, SCHED_FLAG_KEEP_POLICY: 0x08,
  SCHED_FLAG_KEEP_PARAMS: 0x10, SCHED_FLAG_UTIL_CLAMP_MIN: 0x20, SCHED_FLAG_UTIL_CLAMP_MAX: 0x40,
};

function addScheduler(w: PlanWriter, s: Scheduler): void {
  const flags = (s.flags ?? []).reduce((acc, f) => acc | SCHED_FLAG[f], 0);
  w.add(Tag.SCHEDULER, SCHED_POLICY[s.policy], flags, BigInt(s.nice ?? 0), s.priority ?? 0, s.runtime ?? 0, s.deadline ?? 0, s.period ?? 0);
}

function addHooks(w: PlanWriter, phase: number, hooks: Hook[], field: string): void {
  hooks.forEach((h, i) => {
    const args = h.args ?? [h.path];
    const env = h.env ?? [];
    checkHookLimits(args, env, `${field}[${i}]`);
    w.add(Tag.HOOK, phase, `${field}[${i}]`, h.path, h.timeout ?? 0, args.length, ...args, env.length, ...env);
  });
}

function capMask(names: readonly string[] | undefined): bigint {
  let mask = 0n;
  for (const n of names ?? []) mask |= 1n << BigInt(CAPABILITIES[n]);
  return mask;
}

function addCapabilities(w: PlanWriter, caps: Capabilities): void {
  const permitted = capMask(caps.permitted);
  const inheritable = capMask(caps.inheritable);
  // The kernel only lets a capability be ambient if it is also permitted and inheritable; runc's default
  // spec lists ambient capabilities without inheritable ones, and runc silently skips them. So do we.
  const ambient = capMask(caps.ambient) & permitted & inheritable;
  w.add(Tag.CAPS, capMask(caps.bounding), capMask(caps.effective), permitted, inheritable, ambient);
}

/**
 * A foreground run without a console socket relays the container's terminal to ours, so there must be one; like
 * runc, fail at once rather than leave the container waiting on a terminal nobody types into.
 */
function requireOwnTerminal(): void {
  let fd: number;
  try {
    fd = fs.openSync('/dev/tty', 'r+');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENXIO' ? 'this process has no controlling terminal' : (err as Error).message;
    throw invalid('process.terminal', `is true, and a foreground run relays the container's terminal to this one, but open /dev/tty failed: ${why} (set terminal to false, or pass --console-socket)`);
  }
  fs.closeSync(fd);
}

/** Security modules are applied only when the kernel has them; asking for one that is absent is an error. */
function lsmEnabled(name: 'apparmor' | 'selinux'): boolean {
  try {
    return fs.readFileSync('/sys/kernel/security/lsm', 'utf8').split(',').includes(name);
  } catch {
    return name === 'apparmor' ? fs.existsSync('/sys/module/apparmor/parameters/enabled') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').startsWith('Y') : fs.existsSync('/sys/fs/selinux/enforce');
  }
}

function addProcess(w: PlanWriter, spec: Spec, process: Process, io: { consoleSocket?: string; preserveFds?: number; foreground?: boolean }): void {
  checkProcessLimits(process);
  (process.rlimits ?? []).forEach((r, i) => w.add(Tag.RLIMIT, `process.rlimits[${i}]`, RLIMITS[r.type], r.soft, r.hard));
  if (process.oomScoreAdj !== undefined) w.add(Tag.OOM_SCORE_ADJ, BigInt(process.oomScoreAdj));
  if (process.ioPriority) {
    const cls = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 }[process.ioPriority.class];
    w.add(Tag.IOPRIO, (cls << 13) | process.ioPriority.priority);
  }
  if (process.scheduler) addScheduler(w, process.scheduler);
  if (process.execCPUAffinity?.initial) w.add(Tag.CPU_AFFINITY, 1, cpuListBits(process.execCPUAffinity.initial, 'process.execCPUAffinity.initial'));
  if (process.execCPUAffinity?.final) w.add(Tag.CPU_AFFINITY, 2, cpuListBits(process.execCPUAffinity.final, 'process.execCPUAffinity.final'));
  w.add(Tag.USER, process.user.uid, process.user.gid, process.user.umask ?? 0o022);
  for (const g of process.user.additionalGids ?? []) w.add(Tag.GROUP, g);
  if (process.capabilities) addCapabilities(w, process.capabilities);
  if (process.apparmorProfile) {
    if (!lsmEnabled('apparmor')) throw invalid('process.apparmorProfile', `AppArmor is not enabled on this host; cannot apply profile "${process.apparmorProfile}"`);
    w.add(Tag.APPARMOR, process.apparmorProfile);
  }
  if (process.selinuxLabel) {
    if (!lsmEnabled('selinux')) throw invalid('process.selinuxLabel', `SELinux is not enabled on this host; cannot apply label "${process.selinuxLabel}"`);
    w.add(Tag.SELINUX, process.selinuxLabel);
  }
  const seccomp = spec.linux?.seccomp;
  if (seccomp) {
    const compiled = compileSeccomp(seccomp);
    w.add(Tag.SECCOMP, compiled.flags, compiled.program);
  }
  if (process.terminal) {
    // In the foreground berth-init holds the master itself and relays our stdio, as `runc run` does.
    if (io.consoleSocket) w.add(Tag.CONSOLE_SOCKET, io.consoleSocket);
    else if (!io.foreground) throw invalid('process.terminal', 'a detached container with a terminal needs --console-socket to hand the pty master to');
    else requireOwnTerminal();
    if (process.consoleSize) w.add(Tag.CONSOLE_SIZE, process.consoleSize.height, process.consoleSize.width);
  }
  if (io.preserveFds) w.add(Tag.PRESERVE_FDS, io.preserveFds);
  w.add(Tag.CWD, process.cwd);
  for (const a of process.args) w.add(Tag.ARG, a);
  for (const e of process.env ?? []) w.add(Tag.ENV, e);
}
