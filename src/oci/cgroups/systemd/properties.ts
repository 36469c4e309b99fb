/**
 * What runc's systemd driver sends to systemd (libcontainer/cgroups/systemd: common.go, v1.go, v2.go): unit
 * naming, slice expansion, the transient unit's properties and the resource limits it maps to unit properties.
 */
import { invalid } from '../../../common/errors';
import type { Resources } from '../../spec/types';
import { type DBusValue, Variant } from '../../../common/dbus/marshal';
import { normalizeDeviceRules } from '../devices';
import { cpuSharesToWeight, memorySwapMaxValue } from '../v2';

export type Property = [name: string, value: Variant];

/** What device properties need from the host; absent: no device properties (runc SkipDevices). */
export interface DeviceContext {
  /** The text of /proc/devices. */
  procDevices: () => string;
  warn: (message: string) => void;
}

const FIELD = 'linux.cgroupsPath';
/** runc's default prefix for an empty cgroupsPath is "runc"; ours names us. */
export const DEFAULT_SCOPE_PREFIX = 'berth';
export const DEFAULT_SLICE = 'system.slice';
const USEC_INFINITY = (1n << 64n) - 1n;
const DEFAULT_CPU_PERIOD = 100_000;

export interface SystemdUnitRef {
  /** The slice the scope lives in, e.g. "system.slice" or "kubepods-burstable.slice". */
  slice: string;
  /** The transient scope's unit name, e.g. "cri-containerd-abc.scope". */
  unit: string;
}

/**
 * "slice:prefix:name" → unit "<prefix>-<name>.scope" ("<name>.scope" without a prefix) in "<slice>"
 * (system.slice when empty). An empty cgroupsPath means "system.slice:berth:<containerId>".
 */
export function parseSystemdPath(cgroupsPath: string | undefined, containerId: string): SystemdUnitRef {
  let slice = '';
  let prefix = DEFAULT_SCOPE_PREFIX;
  let name = containerId;
  if (cgroupsPath !== undefined && cgroupsPath !== '') {
    const parts = cgroupsPath.split(':');
    if (parts.length !== 3) throw invalid(FIELD, `expected "slice:prefix:name" for the systemd cgroup driver, got ${JSON.stringify(cgroupsPath)}`);
    [slice, prefix, name] = parts;
  }
  if (name === '') throw invalid(FIELD, `${JSON.stringify(cgroupsPath ?? '')} names no unit (empty name)`);
  if (name.endsWith('.slice')) throw invalid(FIELD, `creating a slice (${name}) is not supported: the systemd driver creates a transient scope per container`);
  const unit = prefix === '' ? `${name}.scope` : `${prefix}-${name}.scope`;
  checkUnitName(unit);
  slice = slice === '' ? DEFAULT_SLICE : slice;
  expandSlice(slice);
  return { slice, unit };
}

/** systemd's unit_name_is_valid, for the characters and length it accepts. */
function checkUnitName(unit: string): void {
  if (unit.length > 255 || !/^[A-Za-z0-9:_.\\@-]+$/.test(unit)) throw invalid(FIELD, `${JSON.stringify(unit)} is not a valid systemd unit name`);
}

/** runc ExpandSlice: "a-b-c.slice" → "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" → "/". */
export function expandSlice(slice: string): string {
  const suffix = '.slice';
  if (slice.length < suffix.length || !slice.endsWith(suffix) || slice.includes('/')) throw invalid(FIELD, `invalid slice name ${JSON.stringify(slice)}`);
  const base = slice.slice(0, -suffix.length);
  if (base === '-') return '/';
  let out = '';
  let prefix = '';
  for (const component of base.split('-')) {
    if (component === '') throw invalid(FIELD, `invalid slice name ${JSON.stringify(slice)}`);
    out += `/${prefix}${component}${suffix}`;
    prefix += `${component}-`;
  }
  checkUnitName(slice);
  return out;
}

/**
 * runc RangeToBits: a cpuset list ("0-3,8") → the bitmask systemd's AllowedCPUs/AllowedMemoryNodes take (ay),
 * least significant byte first, bit n%8 of byte n/8 for CPU n, without trailing zero bytes.
 */
export function rangeToBits(list: string, field: string): Buffer {
  const bits = new Set<number>();
  for (const raw of list.split(',')) {
    const r = raw.trim();
    if (r === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) throw invalid(field, `${JSON.stringify(list)}: cannot parse ${JSON.stringify(r)}`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > end) throw invalid(field, `${JSON.stringify(list)}: invalid range ${r}`);
    if (end > 0xffff) throw invalid(field, `${JSON.stringify(list)}: ${end} is beyond any CPU or memory node`);
    for (let i = start; i <= end; i++) bits.add(i);
  }
  if (bits.size === 0) throw invalid(field, `${JSON.stringify(list)} is empty`);
  const out = Buffer.alloc(Math.floor(Math.max(...bits) / 8) + 1);
  for (const b of bits) out[b >> 3] |= 1 << (b & 7);
  return out;
}

const t = (n: number | bigint): Variant => new Variant('t', typeof n === 'bigint' ? n : n < 0 ? USEC_INFINITY : BigInt(n));

/** The properties every container scope gets (runc legacyManager/unifiedManager Apply). */
export function baseProperties(ref: SystemdUnitRef, name: string, pid: number, v1Hierarchies: boolean): Property[] {
  return [
    ['Description', new Variant('s', `berth container ${name}`)],
    ['Slice', new Variant('s', ref.slice)],
    ['Delegate', new Variant('b', true)],
    ['PIDs', new Variant('au', [pid])],
    ['MemoryAccounting', new Variant('b', true)],
    ['CPUAccounting', new Variant('b', true)],
    // runc: BlockIOAccounting with the v1 (legacy and hybrid) manager, IOAccounting with the unified one.
    [v1Hierarchies ? 'BlockIOAccounting' : 'IOAccounting', new Variant('b', true)],
    ['TasksAccounting', new Variant('b', true)],
    ['DefaultDependencies', new Variant('b', false)],
  ];
}

/** runc addCpuQuota (CPUQuotaPeriodUSec needs systemd ≥ 242). */
function cpuQuota(out: Property[], quota: number, period: number, version: number): void {
  if (period !== 0 && version >= 242) out.push(['CPUQuotaPeriodUSec', t(period)]);
  if (quota !== 0 || period !== 0) {
    let perSec = USEC_INFINITY;
    if (quota > 0) {
      const p = BigInt(period === 0 ? DEFAULT_CPU_PERIOD : period);
      perSec = (BigInt(quota) * 1_000_000n) / p;
      // systemd keeps whole percents (10 ms per second): round up so the cgroup gets at least the asked quota.
      if (perSec % 10_000n !== 0n) perSec = (perSec / 10_000n + 1n) * 10_000n;
    }
    out.push(['CPUQuotaPerSecUSec', t(perSec)]);
  }
}

/** runc addCpuset (needs systemd ≥ 244; older ones get the cpuset through cgroupfs only). */
function cpuset(out: Property[], cpus: string | undefined, mems: string | undefined, version: number): void {
  if (version < 244) return;
  if (cpus) out.push(['AllowedCPUs', new Variant('ay', rangeToBits(cpus, 'linux.resources.cpu.cpus'))]);
  if (mems) out.push(['AllowedMemoryNodes', new Variant('ay', rangeToBits(mems, 'linux.resources.cpu.mems'))]);
}

/**
 * runc genV1ResourcesProperties / genV2ResourcesProperties (without the device properties: device rules are
 * applied through cgroupfs/eBPF by the shared code). `version` is systemd's major version (-1 when unknown).
 */
export function resourceProperties(r: Resources | undefined, v1Hierarchies: boolean, version: number, devices?: DeviceContext): Property[] {
  const out: Property[] = [];
  if (!r) return out;
  // Only when the caller sets device rules: absent rules leave device access as it is, as with cgroupfs.
  if (devices && r.devices) out.push(...deviceProperties(normalizeDeviceRules(r.devices), devices.procDevices(), devices.warn));
  const mem = r.memory ?? {};
  const cpu = r.cpu ?? {};
  if (v1Hierarchies) {
    if (mem.limit) out.push(['MemoryLimit', t(mem.limit)]);
    if (cpu.shares) out.push(['CPUShares', t(cpu.shares)]);
    cpuQuota(out, cpu.quota ?? 0, cpu.period ?? 0, version);
    if (r.blockIO?.weight) out.push(['BlockIOWeight', t(r.blockIO.weight)]);
  } else {
    if (mem.limit) out.push(['MemoryMax', t(mem.limit)]);
    if (mem.reservation) out.push(['MemoryLow', t(mem.reservation)]);
    const swap = memorySwapMaxValue(mem.limit ?? 0, mem.swap ?? 0);
    // runc sends MemorySwapMax only when the converted value is not 0.
    if (swap !== undefined && swap !== '0') out.push(['MemorySwapMax', swap === 'max' ? t(USEC_INFINITY) : t(BigInt(swap))]);
    if (cpu.shares) out.push(['CPUWeight', t(cpuSharesToWeight(cpu.shares))]);
    cpuQuota(out, cpu.quota ?? 0, cpu.period ?? 0, version);
  }
  const pids = r.pids?.limit ?? 0;
  if (pids > 0 || pids === -1) out.push(['TasksMax', t(pids)]);
  cpuset(out, cpu.cpus, cpu.mems, version);
  if (!v1Hierarchies && r.unified) out.push(...unifiedProperties(r.unified, version));
  return out;
}

/** runc unifiedResToSystemdProps: the unified keys systemd has properties for; the rest go to cgroupfs only. */
function unifiedProperties(unified: Record<string, string>, version: number): Property[] {
  const out: Property[] = [];
  const F = 'linux.resources.unified';
  const num = (k: string, v: string): bigint => {
    if (v === 'max') return USEC_INFINITY;
    if (!/^\d+$/.test(v)) throw invalid(`${F}.${k}`, `${JSON.stringify(v)} is not a number or "max"`);
    return BigInt(v);
  };
  const memNames: Record<string, string> = { 'memory.high': 'MemoryHigh', 'memory.low': 'MemoryLow', 'memory.min': 'MemoryMin', 'memory.max': 'MemoryMax', 'memory.swap.max': 'MemorySwapMax' };
  for (const k of Object.keys(unified).sort()) {
    const v = unified[k].trim();
    if (k === 'cpu.max') {
      const f = v.split(/\s+/);
      if (f.length < 1 || f.length > 2 || (f[0] !== 'max' && !/^\d+$/.test(f[0])) || (f[1] !== undefined && !/^\d+$/.test(f[1]))) throw invalid(`${F}.${k}`, `invalid value ${JSON.stringify(v)}`);
      cpuQuota(out, f[0] === 'max' ? 0 : Number(f[0]), f[1] === undefined ? DEFAULT_CPU_PERIOD : Number(f[1]), version);
    } else if (k === 'cpu.weight') out.push(['CPUWeight', t(num(k, v))]);
    else if (k === 'cpuset.cpus' || k === 'cpuset.mems') {
      if (version >= 244) out.push([k === 'cpuset.cpus' ? 'AllowedCPUs' : 'AllowedMemoryNodes', new Variant('ay', rangeToBits(v, `${F}.${k}`))]);
    } else if (memNames[k]) out.push([memNames[k], t(num(k, v))]);
    else if (k === 'pids.max') out.push(['TasksMax', t(num(k, v))]);
  }
  return out;
}

/** Property list as marshalled in a(sv). */
export function toWire(props: Property[]): DBusValue[] {
  return props.map(([n, v]) => [n, v]);
}

/** Device numbers → group names ("char-pts", "block-sd"), from /proc/devices. */
export function parseProcDevices(text: string): { c: Map<number, string>; b: Map<number, string> } {
  const out = { c: new Map<number, string>(), b: new Map<number, string>() };
  let cur: Map<number, string> | undefined;
  for (const line of text.split('\n')) {
    if (/^Character devices:/.test(line)) cur = out.c;
    else if (/^Block devices:/.test(line)) cur = out.b;
    else {
      const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
      // The first name listed for a major wins, as in runc's findDeviceGroup.
      if (m && cur && !cur.has(Number(m[1]))) cur.set(Number(m[1]), m[2]);
    }
  }
  return out;
}

type Rule = { type: 'c' | 'b'; major: number; minor: number; access: string };

/**
 * runc generateDeviceProperties: replays the rules like the v1 devices controller (runc's devices.Emulator) and
 * turns the resulting allow list into DevicePolicy=strict + DeviceAllow (a(ss): path-or-group, perms), so that
 * systemd enforces the same list and does not reset it on a daemon-reload. What systemd cannot express is only
 * enforced by our cgroupfs/eBPF code, which runs after systemd's (runc does the same):
 *  - a deny list (rules ending in allow-all with holes): DevicePolicy=strict with an empty DeviceAllow, or
 *    DevicePolicy=auto when everything is allowed;
 *  - "*:n" rules, and "n:*" rules without a /proc/devices group: skipped, with a warning.
 */
export function deviceProperties(
  rules: readonly { allow: boolean; type: 'a' | 'c' | 'b'; major: number; minor: number; access: string }[],
  procDevices: string,
  warn: (message: string) => void,
): Property[] {
  let defaultAllow = false;
  let list: Rule[] = [];
  const same = (a: Rule, b: Rule): boolean => a.type === b.type && a.major === b.major && a.minor === b.minor;
  const addPerms = (r: Rule): void => {
    const e = list.find((x) => same(x, r));
    if (e) e.access = ['r', 'w', 'm'].filter((c) => e.access.includes(c) || r.access.includes(c)).join('');
    else list.push({ ...r });
  };
  const removePerms = (r: Rule): void => {
    const e = list.find((x) => same(x, r));
    if (!e) return;
    e.access = ['r', 'w', 'm'].filter((c) => e.access.includes(c) && !r.access.includes(c)).join('');
    if (e.access === '') list = list.filter((x) => x !== e);
  };
  for (const r of rules) {
    if (r.type === 'a') {
      // "a" resets the state: allow-all (deny list) or deny-all (allow list).
      defaultAllow = r.allow;
      list = [];
      continue;
    }
    const rule: Rule = { type: r.type, major: r.major, minor: r.minor, access: r.access };
    // The list holds exceptions to the default: in an allow list allows add and denies remove, in a deny list
    // the other way round.
    (r.allow !== defaultAllow ? addPerms : removePerms)(rule);
  }
  if (defaultAllow) {
    if (list.length === 0) return [['DevicePolicy', new Variant('s', 'auto')], ['DeviceAllow', new Variant('a(ss)', [])]];
    warn('systemd has no deny-list device rules: it gets a deny-all policy, and the rules are applied through cgroupfs');
    return [['DevicePolicy', new Variant('s', 'strict')], ['DeviceAllow', new Variant('a(ss)', [])]];
  }
  const groups = parseProcDevices(procDevices);
  const allow: DBusValue[] = [];
  for (const r of list) {
    const kind = r.type === 'c' ? 'char' : 'block';
    let p: string;
    if (r.major < 0) {
      if (r.minor >= 0) {
        warn(`systemd has no "*:${r.minor}" device rules: ${r.type} *:${r.minor} ${r.access} is applied through cgroupfs only`);
        continue;
      }
      p = `${kind}-*`;
    } else if (r.minor < 0) {
      const group = groups[r.type].get(r.major);
      if (!group) {
        warn(`no /proc/devices group for ${r.type} ${r.major}:*: the rule is applied through cgroupfs only`);
        continue;
      }
      p = `${kind}-${group}`;
    } else p = `/dev/${kind}/${r.major}:${r.minor}`;
    allow.push([p, r.access]);
  }
  return [['DevicePolicy', new Variant('s', 'strict')], ['DeviceAllow', new Variant('a(ss)', allow)]];
}
