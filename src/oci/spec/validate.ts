/**
 * config.json → Spec: the one place untrusted runtime-spec JSON is checked. Inside berth-run every Spec is
 * trusted. Errors are InvalidArgument and name the field. Unknown properties are ignored, as the spec requires.
 */
import { invalid } from '../../common/errors';
import { parseJson } from '../../common/json';
import * as c from './check';
import { CAPABILITIES, RLIMITS } from './names';
import { parseSeccomp } from '../seccomp/validate';
import {
  NAMESPACE_TYPES, type Capabilities, type Device, type DeviceCgroupRule, type Hook, type Hooks, type IdMapping,
  type Linux, type Mount, type Namespace, type Process, type Resources, type Rlimit, type Scheduler, type Spec,
} from './types';

/** Newest minor version this runtime implements; newer 1.x configs are accepted (the spec is additive within 1.x). */
export const OCI_VERSION = '1.3.0';

const ROOTFS_PROPAGATION = ['private', 'shared', 'slave', 'unbindable', 'rprivate', 'rshared', 'rslave', 'runbindable'] as const;

/** What a config asks for and the runtime leaves out, as runc does (unknown capabilities): said, never silent. */
export type Warn = (field: string, message: string) => void;

export interface ValidateOptions {
  /** `create`/`run` need a process; a config only read for `state` or `delete` does not. */
  requireProcess?: boolean;
  warn?: Warn;
}

/** Something a 1.0 config must not do and a 1.1+ config may: an error, or a warning and `consequence`. */
type Tolerate = (field: string, problem: string, consequence: string) => void;

/** Without a caller's logger, warnings go to Node's process warnings (stderr), not nowhere. */
const defaultWarn: Warn = (field, message) => process.emitWarning(`${field}: ${message}`);

export function parseConfigJson(text: string, file = 'config.json', warn: Warn = defaultWarn): Spec {
  let raw: unknown;
  try {
    raw = parseJson(text);
  } catch (err) {
    throw invalid(file, `malformed JSON: ${(err as Error).message}`);
  }
  return validateConfig(raw, { requireProcess: true, warn });
}

export function validateConfig(raw: unknown, options: ValidateOptions = { requireProcess: true }): Spec {
  const warn = options.warn ?? defaultWarn;
  const o = c.object(raw, 'config');
  const ociVersion = c.string(o.ociVersion, 'ociVersion');
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(ociVersion);
  if (!m) throw invalid('ociVersion', `"${ociVersion}" is not a semantic version`);
  if (m[1] !== '1') throw invalid('ociVersion', `unsupported major version ${m[1]} ("${ociVersion}"); berth-run implements 1.x up to ${OCI_VERSION}`);

  const spec: Spec = { ociVersion };
  // What 1.0 made an error (an unknown capability, a relative mount destination), 1.1 made a warning: a config
  // is held to the version it says it follows.
  const said = warn;
  const strict = m[2] === '0';
  const tolerate: Tolerate = (field, problem, consequence) => {
    if (strict) throw invalid(field, `${problem} (an error for ociVersion ${ociVersion}; from 1.1.0 on only a warning)`);
    said(field, `${problem}; ${consequence}`);
  };
  const root = c.object(o.root, 'root');
  spec.root = { path: c.nonEmptyString(root.path, 'root.path'), readonly: c.opt(root, 'readonly', 'root', c.boolean) };
  if (o.process !== undefined && o.process !== null) spec.process = validateProcess(o.process, tolerate);
  else if (options.requireProcess) throw invalid('process', 'is required to create a container');
  // Top-level fields: checked directly, so the error names `hostname`, not `.hostname`.
  if (o.hostname !== undefined && o.hostname !== null) spec.hostname = c.string(o.hostname, 'hostname');
  if (o.domainname !== undefined && o.domainname !== null) spec.domainname = c.string(o.domainname, 'domainname');
  if (o.mounts !== undefined && o.mounts !== null) spec.mounts = c.array(o.mounts, 'mounts').map((v, i) => validateMount(v, `mounts[${i}]`, tolerate));
  if (o.hooks !== undefined && o.hooks !== null) spec.hooks = validateHooks(o.hooks);
  if (o.annotations !== undefined && o.annotations !== null) spec.annotations = c.stringMap(o.annotations, 'annotations');
  spec.linux = validateLinux(o.linux ?? {});
  crossCheck(spec);
  return spec;
}

export function validateProcess(v: unknown, tolerate: Tolerate = (f, p, what) => defaultWarn(f, `${p}; ${what}`)): Process {
  const o = c.object(v, 'process');
  const userObj = c.object(o.user ?? {}, 'process.user');
  const user = {
    uid: c.integer(userObj.uid ?? 0, 'process.user.uid', 0, 0xffffffff),
    gid: c.integer(userObj.gid ?? 0, 'process.user.gid', 0, 0xffffffff),
    umask: c.opt(userObj, 'umask', 'process.user', (x, f) => c.intOf(x, f, 'uint32')),
    additionalGids: c.opt(userObj, 'additionalGids', 'process.user', (x, f) => c.array(x, f).map((g, i) => c.integer(g, `${f}[${i}]`, 0, 0xffffffff))),
  };
  const args = c.stringArray(o.args ?? [], 'process.args');
  if (args.length === 0 && o.commandLine === undefined) throw invalid('process.args', 'must name at least the program to run');
  const cwd = c.string(o.cwd ?? '/', 'process.cwd');
  if (!cwd.startsWith('/')) throw invalid('process.cwd', `must be an absolute path, got "${cwd}"`);
  const process: Process = {
    terminal: c.opt(o, 'terminal', 'process', c.boolean),
    user,
    args,
    cwd,
    env: c.opt(o, 'env', 'process', c.stringArray),
    noNewPrivileges: c.opt(o, 'noNewPrivileges', 'process', c.boolean),
    apparmorProfile: c.opt(o, 'apparmorProfile', 'process', c.string),
    selinuxLabel: c.opt(o, 'selinuxLabel', 'process', c.string),
    oomScoreAdj: c.opt(o, 'oomScoreAdj', 'process', (x, f) => c.integer(x, f, -1000, 1000)),
  };
  process.env?.forEach((e, i) => {
    if (!e.includes('=')) throw invalid(`process.env[${i}]`, `"${e}" is not of the form KEY=VALUE`);
  });
  if (o.consoleSize !== undefined && o.consoleSize !== null) {
    const cs = c.object(o.consoleSize, 'process.consoleSize');
    // uint in the spec; a terminal's size is 16 bits wide (struct winsize).
    process.consoleSize = { height: c.integer(cs.height, 'process.consoleSize.height', 0, 65535), width: c.integer(cs.width, 'process.consoleSize.width', 0, 65535) };
  }
  if (o.capabilities !== undefined && o.capabilities !== null) process.capabilities = validateCapabilities(o.capabilities, tolerate);
  if (o.rlimits !== undefined && o.rlimits !== null) process.rlimits = validateRlimits(o.rlimits);
  if (o.ioPriority !== undefined && o.ioPriority !== null) {
    const io = c.object(o.ioPriority, 'process.ioPriority');
    process.ioPriority = {
      class: c.oneOf(io.class, 'process.ioPriority.class', ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE'] as const),
      priority: c.integer(io.priority ?? 0, 'process.ioPriority.priority', 0, 7),
    };
  }
  if (o.scheduler !== undefined && o.scheduler !== null) process.scheduler = validateScheduler(o.scheduler);
  if (o.execCPUAffinity !== undefined && o.execCPUAffinity !== null) {
    const a = c.object(o.execCPUAffinity, 'process.execCPUAffinity');
    const list = (x: unknown, f: string) => {
      const v = c.string(x, f);
      cpuListBits(v, f);
      return v;
    };
    process.execCPUAffinity = { initial: c.opt(a, 'initial', 'process.execCPUAffinity', list), final: c.opt(a, 'final', 'process.execCPUAffinity', list) };
  }
  return process;
}

/**
 * runtime-spec: a capability that cannot be mapped to the kernel is logged as a warning, and the container
 * SHOULD still run (runc: "ignoring unknown or unavailable capabilities"). So unknown names are dropped, said.
 */
const SCHED_POLICIES = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'] as const;
const SCHED_FLAGS = ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_RECLAIM', 'SCHED_FLAG_DL_OVERRUN', 'SCHED_FLAG_KEEP_POLICY', 'SCHED_FLAG_KEEP_PARAMS', 'SCHED_FLAG_UTIL_CLAMP_MIN', 'SCHED_FLAG_UTIL_CLAMP_MAX'] as const;

function validateScheduler(v: unknown): Scheduler {
  const f = 'process.scheduler';
  const o = c.object(v, f);
  const policy = c.oneOf(o.policy, `${f}.policy`, SCHED_POLICIES);
  if (policy === 'SCHED_ISO') throw invalid(`${f}.policy`, 'SCHED_ISO is reserved and not implemented by Linux');
  const realtime = policy === 'SCHED_FIFO' || policy === 'SCHED_RR';
  const sched: Scheduler = {
    policy,
    nice: c.opt(o, 'nice', f, (x, ff) => c.integer(x, ff, -20, 19)),
    // sched(7): a static priority of 1..99 for the real-time policies, 0 for every other one.
    priority: c.opt(o, 'priority', f, (x, ff) => c.integer(x, ff, realtime ? 1 : 0, realtime ? 99 : 0)),
    flags: c.opt(o, 'flags', f, (x, ff) => c.array(x, ff).map((fl, i) => c.oneOf(fl, `${ff}[${i}]`, SCHED_FLAGS))),
    runtime: c.opt(o, 'runtime', f, (x, ff) => c.intOf(x, ff, 'uint64')),
    deadline: c.opt(o, 'deadline', f, (x, ff) => c.intOf(x, ff, 'uint64')),
    period: c.opt(o, 'period', f, (x, ff) => c.intOf(x, ff, 'uint64')),
  };
  if (realtime && sched.priority === undefined) throw invalid(`${f}.priority`, `${policy} needs a priority from 1 to 99`);
  if (policy === 'SCHED_DEADLINE' && !(sched.runtime && sched.deadline)) throw invalid(`${f}.runtime`, 'SCHED_DEADLINE needs runtime and deadline (nanoseconds)');
  return sched;
}

/** "0-3,7" → one bit per CPU, as sched_setaffinity(2) takes it (little-endian 64-bit words). */
export function cpuListBits(list: string, field: string): Buffer {
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
    if (!m) throw invalid(field, `"${list}" is not a CPU list like "0-3,7"`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to >= 8192) throw invalid(field, `"${part.trim()}" is not a range of CPUs (0 to 8191)`);
    for (let i = from; i <= to; i++) cpus.push(i);
  }
  const bits = Buffer.alloc(Math.ceil((Math.max(...cpus) + 1) / 64) * 8);
  for (const cpu of cpus) bits[cpu >> 3] |= 1 << (cpu & 7);
  return bits;
}

function validateCapabilities(v: unknown, tolerate: Tolerate): Capabilities {
  const o = c.object(v, 'process.capabilities');
  const caps: Capabilities = {};
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const) {
    const names = c.opt(o, set, 'process.capabilities', c.stringArray);
    if (!names) continue;
    const unknown = names.findIndex((name) => !Object.hasOwn(CAPABILITIES, name));
    if (unknown >= 0) tolerate(`process.capabilities.${set}[${unknown}]`, `unknown capability "${names[unknown]}"`, 'ignored, with any other unknown ones');
    caps[set] = names.filter((name) => Object.hasOwn(CAPABILITIES, name));
  }
  return caps;
}

function validateRlimits(v: unknown): Rlimit[] {
  const seen = new Set<string>();
  return c.array(v, 'process.rlimits').map((x, i) => {
    const f = `process.rlimits[${i}]`;
    const o = c.object(x, f);
    const type = c.string(o.type, `${f}.type`);
    if (!(type in RLIMITS)) throw invalid(`${f}.type`, `unknown rlimit "${type}"`);
    if (seen.has(type)) throw invalid(`${f}.type`, `duplicate rlimit "${type}"`);
    seen.add(type);
    const soft = c.uint64(o.soft, `${f}.soft`);
    const hard = c.uint64(o.hard, `${f}.hard`);
    if (soft > hard) throw invalid(`${f}.soft`, `soft limit ${soft} exceeds hard limit ${hard}`);
    return { type, soft, hard };
  });
}

function validateMount(v: unknown, f: string, tolerate: Tolerate): Mount {
  const o = c.object(v, f);
  let destination = c.nonEmptyString(o.destination, `${f}.destination`);
  if (!destination.startsWith('/')) {
    // Taken as relative to the container's "/" (runc does the same).
    tolerate(`${f}.destination`, `must be an absolute path, got "${destination}"`, `taken as "/${destination}"`);
    destination = `/${destination}`;
  }
  const mount: Mount = {
    destination,
    source: c.opt(o, 'source', f, c.string),
    type: c.opt(o, 'type', f, c.string),
    options: c.opt(o, 'options', f, c.stringArray),
  };
  if (o.uidMappings !== undefined || o.gidMappings !== undefined) throw invalid(`${f}.uidMappings`, 'idmapped mounts are not supported by berth-run yet');
  return mount;
}

function validateHooks(v: unknown): Hooks {
  const o = c.object(v, 'hooks');
  const hooks: Hooks = {};
  for (const phase of ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const) {
    const list = c.opt(o, phase, 'hooks', c.array);
    if (list) hooks[phase] = list.map((h, i) => validateHook(h, `hooks.${phase}[${i}]`));
  }
  return hooks;
}

function validateHook(v: unknown, f: string): Hook {
  const o = c.object(v, f);
  const path = c.nonEmptyString(o.path, `${f}.path`);
  if (!path.startsWith('/')) throw invalid(`${f}.path`, `must be an absolute path, got "${path}"`);
  return {
    path,
    args: c.opt(o, 'args', f, c.stringArray),
    env: c.opt(o, 'env', f, c.stringArray),
    timeout: c.opt(o, 'timeout', f, (x, ff) => c.integer(x, ff, 1, 2 ** 31 - 1)),
  };
}

function validateIdMappings(v: unknown, f: string): IdMapping[] {
  return c.array(v, f).map((x, i) => {
    const o = c.object(x, `${f}[${i}]`);
    return {
      containerID: c.integer(o.containerID, `${f}[${i}].containerID`, 0, 0xffffffff),
      hostID: c.integer(o.hostID, `${f}[${i}].hostID`, 0, 0xffffffff),
      size: c.integer(o.size, `${f}[${i}].size`, 1, 0xffffffff),
    };
  });
}

function validateLinux(v: unknown): Linux {
  const o = c.object(v, 'linux');
  const linux: Linux = {};
  if (o.namespaces !== undefined && o.namespaces !== null) {
    const seen = new Set<string>();
    linux.namespaces = c.array(o.namespaces, 'linux.namespaces').map((x, i): Namespace => {
      const f = `linux.namespaces[${i}]`;
      const n = c.object(x, f);
      const type = c.oneOf(n.type, `${f}.type`, NAMESPACE_TYPES);
      if (seen.has(type)) throw invalid(`${f}.type`, `duplicate namespace "${type}"`);
      seen.add(type);
      const path = c.opt(n, 'path', f, c.string);
      if (path !== undefined && path !== '' && !path.startsWith('/')) throw invalid(`${f}.path`, `must be an absolute path, got "${path}"`);
      return path ? { type, path } : { type };
    });
  }
  if (o.uidMappings) linux.uidMappings = validateIdMappings(o.uidMappings, 'linux.uidMappings');
  if (o.gidMappings) linux.gidMappings = validateIdMappings(o.gidMappings, 'linux.gidMappings');
  if (o.devices !== undefined && o.devices !== null) {
    linux.devices = c.array(o.devices, 'linux.devices').map((x, i): Device => {
      const f = `linux.devices[${i}]`;
      const d = c.object(x, f);
      const type = c.oneOf(d.type, `${f}.type`, ['c', 'b', 'u', 'p'] as const);
      const path = c.nonEmptyString(d.path, `${f}.path`);
      if (!path.startsWith('/')) throw invalid(`${f}.path`, `must be an absolute path, got "${path}"`);
      const dev: Device = {
        type, path,
        major: c.opt(d, 'major', f, (x2, ff) => c.integer(x2, ff, 0, 0xfff)),
        minor: c.opt(d, 'minor', f, (x2, ff) => c.integer(x2, ff, 0, 0xfffff)),
        fileMode: c.opt(d, 'fileMode', f, (x2, ff) => c.integer(x2, ff, 0, 0o7777)),
        uid: c.opt(d, 'uid', f, (x2, ff) => c.integer(x2, ff, 0, 0xffffffff)),
        gid: c.opt(d, 'gid', f, (x2, ff) => c.integer(x2, ff, 0, 0xffffffff)),
      };
      if (type !== 'p' && (dev.major === undefined || dev.minor === undefined)) throw invalid(`${f}.major`, `device type "${type}" needs major and minor`);
      return dev;
    });
  }
  linux.cgroupsPath = c.opt(o, 'cgroupsPath', 'linux', c.string);
  if (o.resources !== undefined && o.resources !== null) linux.resources = validateResources(o.resources, 'linux.resources');
  linux.rootfsPropagation = c.opt(o, 'rootfsPropagation', 'linux', (x, f) => c.oneOf(x, f, ROOTFS_PROPAGATION));
  if (o.seccomp !== undefined && o.seccomp !== null) linux.seccomp = parseSeccomp(o.seccomp, 'linux.seccomp');
  if (o.sysctl !== undefined && o.sysctl !== null) linux.sysctl = c.stringMap(o.sysctl, 'linux.sysctl');
  linux.maskedPaths = c.opt(o, 'maskedPaths', 'linux', absolutePaths);
  linux.readonlyPaths = c.opt(o, 'readonlyPaths', 'linux', absolutePaths);
  linux.mountLabel = c.opt(o, 'mountLabel', 'linux', c.string);
  if (o.timeOffsets !== undefined && o.timeOffsets !== null) {
    const t = c.object(o.timeOffsets, 'linux.timeOffsets');
    linux.timeOffsets = {};
    for (const [clock, val] of Object.entries(t)) {
      const f = `linux.timeOffsets.${clock}`;
      if (clock !== 'monotonic' && clock !== 'boottime') throw invalid(f, 'only "monotonic" and "boottime" clocks can be offset');
      const off = c.object(val, f);
      linux.timeOffsets[clock] = { secs: c.opt(off, 'secs', f, (x, ff) => c.intOf(x, ff, 'int64')), nanosecs: c.opt(off, 'nanosecs', f, (x, ff) => c.integer(x, ff, 0, 999999999)) };
    }
  }
  if (o.personality !== undefined && o.personality !== null) {
    const p = c.object(o.personality, 'linux.personality');
    linux.personality = { domain: c.oneOf(p.domain, 'linux.personality.domain', ['LINUX', 'LINUX32'] as const), flags: c.opt(p, 'flags', 'linux.personality', c.stringArray) };
  }
  if (o.intelRdt !== undefined && o.intelRdt !== null) throw invalid('linux.intelRdt', 'Intel RDT is not supported by berth-run');
  return linux;
}

function absolutePaths(v: unknown, f: string): string[] {
  return c.stringArray(v, f).map((p, i) => {
    if (!p.startsWith('/')) throw invalid(`${f}[${i}]`, `must be an absolute path, got "${p}"`);
    return p;
  });
}

/** Shapes only; the cgroup driver checks what the kernel can express (and names the field when it cannot). */
/** Shapes and spec types; the cgroup driver checks what the kernel can express (and names the field when it cannot). */
export function validateResources(v: unknown, f: string): Resources {
  const o = c.object(v, f);
  const r: Resources = {};
  const i64 = (x: unknown, ff: string) => c.intOf(x, ff, 'int64');
  const u64 = (x: unknown, ff: string) => c.intOf(x, ff, 'uint64');
  const u32 = (x: unknown, ff: string) => c.intOf(x, ff, 'uint32');
  const u16 = (x: unknown, ff: string) => c.intOf(x, ff, 'uint16');
  const section = <T>(key: string, build: (s: Record<string, unknown>, sf: string) => T): T | undefined =>
    o[key] === undefined || o[key] === null ? undefined : build(c.object(o[key], `${f}.${key}`), `${f}.${key}`);
  r.memory = section('memory', (s, sf) => ({
    limit: c.opt(s, 'limit', sf, i64), reservation: c.opt(s, 'reservation', sf, i64), swap: c.opt(s, 'swap', sf, i64),
    kernel: c.opt(s, 'kernel', sf, i64), kernelTCP: c.opt(s, 'kernelTCP', sf, i64),
    swappiness: c.opt(s, 'swappiness', sf, (x, ff) => c.integer(x, ff, 0, 100)),
    disableOOMKiller: c.opt(s, 'disableOOMKiller', sf, c.boolean), useHierarchy: c.opt(s, 'useHierarchy', sf, c.boolean),
    checkBeforeUpdate: c.opt(s, 'checkBeforeUpdate', sf, c.boolean),
  }));
  r.cpu = section('cpu', (s, sf) => ({
    shares: c.opt(s, 'shares', sf, u64), quota: c.opt(s, 'quota', sf, i64), burst: c.opt(s, 'burst', sf, u64),
    period: c.opt(s, 'period', sf, u64), realtimeRuntime: c.opt(s, 'realtimeRuntime', sf, i64),
    realtimePeriod: c.opt(s, 'realtimePeriod', sf, u64), cpus: c.opt(s, 'cpus', sf, c.string), mems: c.opt(s, 'mems', sf, c.string),
    idle: c.opt(s, 'idle', sf, i64),
  }));
  r.pids = section('pids', (s, sf) => ({ limit: s.limit === undefined || s.limit === null ? 0 : i64(s.limit, `${sf}.limit`) }));
  r.blockIO = section('blockIO', (s, sf) => {
    const devices = <T>(key: string, build: (d: Record<string, unknown>, df: string) => T): T[] | undefined =>
      c.opt(s, key, sf, (x, ff) => c.array(x, ff).map((d, i) => build(c.object(d, `${ff}[${i}]`), `${ff}[${i}]`)));
    const throttle = (d: Record<string, unknown>, df: string) => ({ major: i64(d.major, `${df}.major`), minor: i64(d.minor, `${df}.minor`), rate: u64(d.rate, `${df}.rate`) });
    return {
      weight: c.opt(s, 'weight', sf, u16), leafWeight: c.opt(s, 'leafWeight', sf, u16),
      weightDevice: devices('weightDevice', (d, df) => ({ major: i64(d.major, `${df}.major`), minor: i64(d.minor, `${df}.minor`), weight: c.opt(d, 'weight', df, u16), leafWeight: c.opt(d, 'leafWeight', df, u16) })),
      throttleReadBpsDevice: devices('throttleReadBpsDevice', throttle), throttleWriteBpsDevice: devices('throttleWriteBpsDevice', throttle),
      throttleReadIOPSDevice: devices('throttleReadIOPSDevice', throttle), throttleWriteIOPSDevice: devices('throttleWriteIOPSDevice', throttle),
    };
  });
  if (o.hugepageLimits !== undefined && o.hugepageLimits !== null) {
    r.hugepageLimits = c.array(o.hugepageLimits, `${f}.hugepageLimits`).map((x, i) => {
      const h = c.object(x, `${f}.hugepageLimits[${i}]`);
      return { pageSize: c.nonEmptyString(h.pageSize, `${f}.hugepageLimits[${i}].pageSize`), limit: c.uint64(h.limit, `${f}.hugepageLimits[${i}].limit`) };
    });
  }
  if (o.devices !== undefined && o.devices !== null) {
    r.devices = c.array(o.devices, `${f}.devices`).map((x, i): DeviceCgroupRule => {
      const df = `${f}.devices[${i}]`;
      const d = c.object(x, df);
      const access = c.opt(d, 'access', df, c.string);
      if (access !== undefined && !/^[rwm]*$/.test(access)) throw invalid(`${df}.access`, `"${access}" may only contain r, w and m`);
      return {
        allow: c.boolean(d.allow, `${df}.allow`),
        type: c.opt(d, 'type', df, (t, ff) => c.oneOf(t, ff, ['a', 'c', 'b'] as const)),
        major: c.opt(d, 'major', df, i64), minor: c.opt(d, 'minor', df, i64), access,
      };
    });
  }
  if (o.network !== undefined && o.network !== null) {
    const n = c.object(o.network, `${f}.network`);
    const nf = `${f}.network`;
    r.network = {
      classID: c.opt(n, 'classID', nf, u32),
      priorities: c.opt(n, 'priorities', nf, (x, ff) => c.array(x, ff).map((p, i) => {
        const po = c.object(p, `${ff}[${i}]`);
        return { name: c.nonEmptyString(po.name, `${ff}[${i}].name`), priority: u32(po.priority, `${ff}[${i}].priority`) };
      })),
    };
  }
  if (o.rdma !== undefined && o.rdma !== null) {
    const rd = c.object(o.rdma, `${f}.rdma`);
    r.rdma = {};
    for (const [dev, lim] of Object.entries(rd)) {
      const lf = `${f}.rdma[${JSON.stringify(dev)}]`;
      const l = c.object(lim, lf);
      r.rdma[dev] = { hcaHandles: c.opt(l, 'hcaHandles', lf, u32), hcaObjects: c.opt(l, 'hcaObjects', lf, u32) };
    }
  }
  if (o.unified !== undefined && o.unified !== null) r.unified = c.stringMap(o.unified, `${f}.unified`);
  return r;
}

/** Constraints between fields (runc's validator checks the same ones). */
function crossCheck(spec: Spec): void {
  const linux = spec.linux ?? {};
  const ns = new Map((linux.namespaces ?? []).map((n) => [n.type, n]));
  const newNs = (t: string) => ns.has(t as never) && !ns.get(t as never)?.path;
  // Without a mount namespace the container shares the runtime's (runtime-spec); masking and read-only binds
  // would then change the host's own /proc and /sys, so, like runc, they are refused.
  if (!ns.has('mount')) {
    if (linux.maskedPaths?.length) throw invalid('linux.maskedPaths', 'need a mount namespace of the container\'s own (linux.namespaces has none)');
    if (linux.readonlyPaths?.length) throw invalid('linux.readonlyPaths', 'need a mount namespace of the container\'s own (linux.namespaces has none)');
  }
  if (linux.uidMappings?.length && !ns.has('user')) throw invalid('linux.uidMappings', 'id mappings need a user namespace');
  if (linux.gidMappings?.length && !ns.has('user')) throw invalid('linux.gidMappings', 'id mappings need a user namespace');
  if (newNs('user') && !(linux.uidMappings?.length && linux.gidMappings?.length)) throw invalid('linux.uidMappings', 'a new user namespace needs uidMappings and gidMappings');
  // A joined UTS namespace is the container's too: the names are set in it, as runc does.
  if (spec.hostname && !ns.has('uts')) throw invalid('hostname', 'cannot be set without a UTS namespace of the container\'s own (linux.namespaces has none)');
  if (spec.domainname && !ns.has('uts')) throw invalid('domainname', 'cannot be set without a UTS namespace of the container\'s own (linux.namespaces has none)');
  if (linux.timeOffsets && !newNs('time')) throw invalid('linux.timeOffsets', 'need a new time namespace');
  for (const key of Object.keys(linux.sysctl ?? {})) {
    const f = `linux.sysctl["${key}"]`;
    if (key.includes('/') || key.split('.').some((part) => part === '' || part === '..')) throw invalid(f, 'is not a valid sysctl name');
    const ipc = key.startsWith('fs.mqueue.') || ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'].includes(key);
    if (ipc) {
      if (!ns.has('ipc')) throw invalid(f, 'needs an ipc namespace');
    } else if (key.startsWith('net.')) {
      if (!ns.has('network')) throw invalid(f, 'needs a network namespace');
    } else if (key === 'kernel.hostname' || key === 'kernel.domainname') {
      if (!ns.has('uts')) throw invalid(f, 'needs a uts namespace');
    } else {
      throw invalid(f, 'is not namespaced and cannot be set for a container');
    }
  }
}
