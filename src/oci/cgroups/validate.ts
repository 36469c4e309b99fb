import { invalid } from '../../common/errors';
import type { Resources, ThrottleDevice } from '../spec/types';
import type { CgroupMode } from './detect';
import { normalizeDeviceRules } from './devices';

/**
 * Static checks of linux.resources, done before anything is written so that a bad spec never leaves a
 * half-configured cgroup behind. What only the kernel can judge (a quota below the parent's, cpus outside the
 * parent's cpuset) is left to the writes, which report the same field names.
 */

const R = 'linux.resources';

function int(v: unknown, field: string, min: number, max?: number): void {
  // bigint: a uint64 beyond 2^53 kept exact by the spec validator (hugepage limits).
  const ok = typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v));
  if (!ok || (v as number | bigint) < min || (max !== undefined && (v as number | bigint) > max)) {
    throw invalid(field, `must be an integer ${max !== undefined ? `from ${min} to ${max}` : `>= ${min}`}, got ${typeof v === 'bigint' ? String(v) : JSON.stringify(v)}`);
  }
}

function optInt(v: unknown, field: string, min: number, max?: number): void {
  if (v !== undefined) int(v, field, min, max);
}

/** 0 means unset (runc's convention for weights), otherwise the v1 blkio range. */
function blkioWeight(v: number | undefined, field: string): void {
  if (v === undefined || v === 0) return;
  int(v, field, 10, 1000);
}

const cpuList = /^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$/;

export interface ValidateContext {
  mode: CgroupMode;
  /** Hugepage sizes the kernel supports ("2MB", "1GB"). */
  hugePageSizes: readonly string[];
}

export function validateResources(r: Resources, ctx: ValidateContext): void {
  const v2 = ctx.mode === 'v2';
  const m = r.memory;
  if (m) {
    const F = `${R}.memory`;
    for (const k of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) optInt(m[k], `${F}.${k}`, -1);
    // -1 is accepted as "leave the kernel default" (runc treats it the same way).
    optInt(m.swappiness, `${F}.swappiness`, -1, 100);
    if (m.disableOOMKiller !== undefined && typeof m.disableOOMKiller !== 'boolean') throw invalid(`${F}.disableOOMKiller`, 'must be a boolean');
    const limit = m.limit ?? 0;
    const swap = m.swap ?? 0;
    if (swap > 0 && limit > 0 && swap < limit) throw invalid(`${F}.swap`, `memory+swap limit (${swap}) must be >= the memory limit (${limit})`);
    // v2 has a swap-only limit, computed as swap - limit, which needs the memory limit (runc errors the same way).
    if (v2 && swap > 0 && limit <= 0) throw invalid(`${F}.swap`, 'a swap limit needs a memory limit on cgroup v2 (memory.swap.max = swap - limit)');
  }
  const c = r.cpu;
  if (c) {
    const F = `${R}.cpu`;
    if (c.shares !== undefined && c.shares !== 0) {
      // cpu.weight = 1 + (shares-2)*9999/262142 only maps 2..262144 onto 1..10000.
      if (v2) int(c.shares, `${F}.shares`, 2, 262144);
      else int(c.shares, `${F}.shares`, 0);
    }
    optInt(c.quota, `${F}.quota`, -1);
    optInt(c.period, `${F}.period`, 0);
    optInt(c.burst, `${F}.burst`, 0);
    optInt(c.realtimeRuntime, `${F}.realtimeRuntime`, -1);
    optInt(c.realtimePeriod, `${F}.realtimePeriod`, 0);
    if (v2 && ((c.realtimeRuntime ?? 0) !== 0 || (c.realtimePeriod ?? 0) !== 0)) {
      throw invalid(c.realtimeRuntime ? `${F}.realtimeRuntime` : `${F}.realtimePeriod`, 'realtime scheduling limits do not exist in cgroup v2');
    }
    optInt(c.idle, `${F}.idle`, 0, 1);
    for (const k of ['cpus', 'mems'] as const) {
      const v = c[k];
      if (v === undefined || v === '') continue;
      if (typeof v !== 'string' || !cpuList.test(v.replace(/\s+/g, ''))) throw invalid(`${F}.${k}`, `must be a list like "0-3,5", got ${JSON.stringify(v)}`);
    }
  }
  if (r.pids) int(r.pids.limit, `${R}.pids.limit`, Number.MIN_SAFE_INTEGER);
  const b = r.blockIO;
  if (b) {
    const F = `${R}.blockIO`;
    blkioWeight(b.weight, `${F}.weight`);
    blkioWeight(b.leafWeight, `${F}.leafWeight`);
    if (v2 && (b.leafWeight ?? 0) !== 0) throw invalid(`${F}.leafWeight`, 'leaf weights do not exist in cgroup v2');
    (b.weightDevice ?? []).forEach((d, i) => {
      const at = `${F}.weightDevice[${i}]`;
      int(d.major, `${at}.major`, 0);
      int(d.minor, `${at}.minor`, 0);
      blkioWeight(d.weight, `${at}.weight`);
      blkioWeight(d.leafWeight, `${at}.leafWeight`);
      if (v2 && (d.leafWeight ?? 0) !== 0) throw invalid(`${at}.leafWeight`, 'leaf weights do not exist in cgroup v2');
    });
    const throttles: [string, ThrottleDevice[] | undefined][] = [
      ['throttleReadBpsDevice', b.throttleReadBpsDevice],
      ['throttleWriteBpsDevice', b.throttleWriteBpsDevice],
      ['throttleReadIOPSDevice', b.throttleReadIOPSDevice],
      ['throttleWriteIOPSDevice', b.throttleWriteIOPSDevice],
    ];
    for (const [name, list] of throttles) {
      (list ?? []).forEach((d, i) => {
        const at = `${F}.${name}[${i}]`;
        int(d.major, `${at}.major`, 0);
        int(d.minor, `${at}.minor`, 0);
        int(d.rate, `${at}.rate`, 0);
      });
    }
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    const at = `${R}.hugepageLimits[${i}]`;
    if (typeof h.pageSize !== 'string' || !ctx.hugePageSizes.includes(h.pageSize)) {
      throw invalid(`${at}.pageSize`, `${JSON.stringify(h.pageSize)} is not a hugepage size of this kernel (${ctx.hugePageSizes.join(', ') || 'none'})`);
    }
    int(h.limit, `${at}.limit`, 0);
  });
  if (r.devices) normalizeDeviceRules(r.devices);
  if (r.network) {
    const F = `${R}.network`;
    if (v2 && (r.network.classID !== undefined || (r.network.priorities ?? []).length > 0)) {
      throw invalid(F, 'net_cls/net_prio do not exist in cgroup v2 (use eBPF or nftables cgroup matching)');
    }
    optInt(r.network.classID, `${F}.classID`, 0, 0xffffffff);
    (r.network.priorities ?? []).forEach((p, i) => {
      if (typeof p.name !== 'string' || !/^[^\s/]+$/.test(p.name)) throw invalid(`${F}.priorities[${i}].name`, 'must be an interface name');
      int(p.priority, `${F}.priorities[${i}].priority`, 0, 0xffffffff);
    });
  }
  for (const [dev, lim] of Object.entries(r.rdma ?? {})) {
    const at = `${R}.rdma[${JSON.stringify(dev)}]`;
    if (!/^[^\s/]+$/.test(dev)) throw invalid(at, 'must be an RDMA device name');
    optInt(lim.hcaHandles, `${at}.hcaHandles`, 0, 0x7fffffff);
    optInt(lim.hcaObjects, `${at}.hcaObjects`, 0, 0x7fffffff);
  }
  if (r.unified && Object.keys(r.unified).length > 0) {
    if (ctx.mode === 'v1') throw invalid(`${R}.unified`, 'needs cgroup v2, and this host has no cgroup2 hierarchy (cgroup v1 only)');
    for (const [k, v] of Object.entries(r.unified)) {
      const at = `${R}.unified[${JSON.stringify(k)}]`;
      if (!/^[a-z_0-9]+\.[A-Za-z_0-9.]+$/.test(k)) throw invalid(at, 'must be a cgroup file name of the form "controller.parameter"');
      // Membership and lifecycle files belong to the runtime, not to resource limits.
      if (/^cgroup\.(procs|threads|subtree_control|kill|freeze|type)$/.test(k)) throw invalid(at, `${k} is managed by the runtime and cannot be set as a resource`);
      if (typeof v !== 'string') throw invalid(at, 'must be a string');
    }
  }
}
