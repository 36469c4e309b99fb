import { parseFlatKeyed, readLimit, readNumber, readOptional } from './fs';

/**
 * Container resource statistics, the same shape whichever cgroup version they come from. Units: nanoseconds
 * and bytes. A limit of null means unlimited. A section is absent when its controller is not available.
 */
export interface CpuStats {
  usageNs: number;
  userNs: number;
  systemNs: number;
  throttling: { periods: number; throttledPeriods: number; throttledNs: number };
}

export interface MemoryStats {
  usage: number;
  limit: number | null;
  /** Peak usage (v1 max_usage_in_bytes, v2 memory.peak on 5.19+). */
  maxUsage?: number;
  /** usage - inactive file cache, floored at 0 (what kubelet evicts on, as cadvisor computes it). */
  workingSet: number;
  /** Anonymous memory (v1 total_rss, v2 anon). */
  rss: number;
  /** Page cache (v1 total_cache, v2 file). */
  cache: number;
  /** Swap alone, in both versions (v1: memsw minus memory). Absent without swap accounting. */
  swap?: { usage: number; limit: number | null };
  /** Times the limit was hit (v1 failcnt, v2 memory.events max). */
  failcnt: number;
  oomKills: number;
  /** The raw memory.stat counters. */
  stat: Record<string, number>;
}

export interface PidsStats {
  current: number;
  limit: number | null;
}

export interface BlkioDeviceStats {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

export interface BlkioStats {
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
  devices: BlkioDeviceStats[];
}

export interface HugetlbStats {
  usage: number;
  maxUsage?: number;
  /** Allocation failures because of the limit. */
  failcnt: number;
}

export interface CgroupStats {
  cpu?: CpuStats;
  memory?: MemoryStats;
  pids?: PidsStats;
  blkio?: BlkioStats;
  /** Keyed by page size as the kernel names it ("2MB"). */
  hugetlb: Record<string, HugetlbStats>;
}

const USER_HZ = 100; // cpuacct.stat ticks; fixed at 100 on every Linux ABI that has cgroups

// ---- cpu ----

export function cpuStatsV1(cpuacctDir: string | undefined, cpuDir: string | undefined): CpuStats | undefined {
  if (!cpuacctDir && !cpuDir) return undefined;
  let usageNs = 0;
  let userNs = 0;
  let systemNs = 0;
  if (cpuacctDir) {
    usageNs = readNumber(cpuacctDir, 'cpuacct.usage') ?? 0;
    const u = readNumber(cpuacctDir, 'cpuacct.usage_user');
    const s = readNumber(cpuacctDir, 'cpuacct.usage_sys');
    if (u !== undefined && s !== undefined) {
      userNs = u;
      systemNs = s;
    } else {
      // Older kernels only have tick counts.
      const st = parseFlatKeyed(readOptional(cpuacctDir, 'cpuacct.stat'));
      userNs = ((st.get('user') ?? 0) * 1e9) / USER_HZ;
      systemNs = ((st.get('system') ?? 0) * 1e9) / USER_HZ;
    }
  }
  const st = parseFlatKeyed(cpuDir ? readOptional(cpuDir, 'cpu.stat') : undefined);
  return {
    usageNs,
    userNs,
    systemNs,
    throttling: { periods: st.get('nr_periods') ?? 0, throttledPeriods: st.get('nr_throttled') ?? 0, throttledNs: st.get('throttled_time') ?? 0 },
  };
}

/** cpu.stat exists in every v2 cgroup (usage is core); throttling counters only with the cpu controller. */
export function cpuStatsV2(dir: string): CpuStats | undefined {
  const raw = readOptional(dir, 'cpu.stat');
  if (raw === undefined) return undefined;
  const st = parseFlatKeyed(raw);
  const us = (k: string): number => (st.get(k) ?? 0) * 1000;
  return {
    usageNs: us('usage_usec'),
    userNs: us('user_usec'),
    systemNs: us('system_usec'),
    throttling: { periods: st.get('nr_periods') ?? 0, throttledPeriods: st.get('nr_throttled') ?? 0, throttledNs: us('throttled_usec') },
  };
}

// ---- memory ----

function statRecord(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries(m);
}

export function oomKillsV1(dir: string): number {
  return parseFlatKeyed(readOptional(dir, 'memory.oom_control')).get('oom_kill') ?? 0;
}

export function oomKillsV2(dir: string): number {
  return parseFlatKeyed(readOptional(dir, 'memory.events')).get('oom_kill') ?? 0;
}

export function memoryStatsV1(dir: string): MemoryStats | undefined {
  const usage = readNumber(dir, 'memory.usage_in_bytes');
  if (usage === undefined) return undefined;
  const st = parseFlatKeyed(readOptional(dir, 'memory.stat'));
  // total_* include sub-cgroups, which a container may create.
  const get = (k: string): number => st.get(`total_${k}`) ?? st.get(k) ?? 0;
  const limit = readLimit(dir, 'memory.limit_in_bytes') ?? null;
  let swap: MemoryStats['swap'];
  const memswUsage = readNumber(dir, 'memory.memsw.usage_in_bytes');
  if (memswUsage !== undefined) {
    const memswLimit = readLimit(dir, 'memory.memsw.limit_in_bytes') ?? null;
    swap = { usage: Math.max(0, memswUsage - usage), limit: memswLimit === null || limit === null ? null : Math.max(0, memswLimit - limit) };
  }
  return {
    usage,
    limit,
    maxUsage: readNumber(dir, 'memory.max_usage_in_bytes'),
    workingSet: Math.max(0, usage - get('inactive_file')),
    rss: get('rss'),
    cache: get('cache'),
    swap,
    failcnt: readNumber(dir, 'memory.failcnt') ?? 0,
    oomKills: oomKillsV1(dir),
    stat: statRecord(st),
  };
}

export function memoryStatsV2(dir: string): MemoryStats | undefined {
  const usage = readNumber(dir, 'memory.current');
  if (usage === undefined) return undefined;
  const st = parseFlatKeyed(readOptional(dir, 'memory.stat'));
  const events = parseFlatKeyed(readOptional(dir, 'memory.events'));
  const swapUsage = readNumber(dir, 'memory.swap.current');
  return {
    usage,
    limit: readLimit(dir, 'memory.max') ?? null,
    maxUsage: readNumber(dir, 'memory.peak'),
    workingSet: Math.max(0, usage - (st.get('inactive_file') ?? 0)),
    rss: st.get('anon') ?? 0,
    cache: st.get('file') ?? 0,
    swap: swapUsage === undefined ? undefined : { usage: swapUsage, limit: readLimit(dir, 'memory.swap.max') ?? null },
    failcnt: events.get('max') ?? 0,
    oomKills: events.get('oom_kill') ?? 0,
    stat: statRecord(st),
  };
}

// ---- pids ----

export function pidsStats(dir: string): PidsStats | undefined {
  const current = readNumber(dir, 'pids.current');
  if (current === undefined) return undefined;
  return { current, limit: readLimit(dir, 'pids.max') ?? null };
}

// ---- block I/O ----

function deviceEntry(map: Map<string, BlkioDeviceStats>, dev: string): BlkioDeviceStats | undefined {
  const m = /^(\d+):(\d+)$/.exec(dev);
  if (!m) return undefined;
  let e = map.get(dev);
  if (!e) {
    e = { major: Number(m[1]), minor: Number(m[2]), readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
    map.set(dev, e);
  }
  return e;
}

function totals(devices: BlkioDeviceStats[]): BlkioStats {
  const sum = (k: keyof Omit<BlkioDeviceStats, 'major' | 'minor'>): number => devices.reduce((a, d) => a + d[k], 0);
  return { readBytes: sum('readBytes'), writeBytes: sum('writeBytes'), readOps: sum('readOps'), writeOps: sum('writeOps'), devices };
}

export function blkioStatsV1(dir: string): BlkioStats | undefined {
  // CFQ's recursive counters when present; otherwise blk-throttle's, which every blk-mq kernel keeps.
  const pick = (a: string, b: string): string | undefined => readOptional(dir, a) ?? readOptional(dir, b);
  const bytes = pick('blkio.io_service_bytes_recursive', 'blkio.throttle.io_service_bytes_recursive');
  const ops = pick('blkio.io_serviced_recursive', 'blkio.throttle.io_serviced_recursive');
  if (bytes === undefined && ops === undefined) return undefined;
  const map = new Map<string, BlkioDeviceStats>();
  const parse = (text: string | undefined, r: 'readBytes' | 'readOps', w: 'writeBytes' | 'writeOps'): void => {
    for (const line of (text ?? '').split('\n')) {
      const [dev, op, v] = line.trim().split(/\s+/);
      if (v === undefined) continue;
      const e = deviceEntry(map, dev);
      if (!e) continue;
      if (op === 'Read') e[r] += Number(v);
      else if (op === 'Write') e[w] += Number(v);
    }
  };
  parse(bytes, 'readBytes', 'writeBytes');
  parse(ops, 'readOps', 'writeOps');
  return totals([...map.values()]);
}

export function blkioStatsV2(dir: string): BlkioStats | undefined {
  const raw = readOptional(dir, 'io.stat');
  if (raw === undefined) return undefined;
  const map = new Map<string, BlkioDeviceStats>();
  for (const line of raw.split('\n')) {
    const [dev, ...kvs] = line.trim().split(/\s+/);
    const e = dev ? deviceEntry(map, dev) : undefined;
    if (!e) continue;
    for (const kv of kvs) {
      const [k, v] = kv.split('=');
      const n = Number(v);
      if (k === 'rbytes') e.readBytes = n;
      else if (k === 'wbytes') e.writeBytes = n;
      else if (k === 'rios') e.readOps = n;
      else if (k === 'wios') e.writeOps = n;
    }
  }
  return totals([...map.values()]);
}

// ---- hugetlb ----

export function hugetlbStatsV1(dir: string, sizes: readonly string[]): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  for (const s of sizes) {
    const usage = readNumber(dir, `hugetlb.${s}.usage_in_bytes`);
    if (usage === undefined) continue;
    out[s] = { usage, maxUsage: readNumber(dir, `hugetlb.${s}.max_usage_in_bytes`), failcnt: readNumber(dir, `hugetlb.${s}.failcnt`) ?? 0 };
  }
  return out;
}

export function hugetlbStatsV2(dir: string, sizes: readonly string[]): Record<string, HugetlbStats> {
  const out: Record<string, HugetlbStats> = {};
  for (const s of sizes) {
    const usage = readNumber(dir, `hugetlb.${s}.current`);
    if (usage === undefined) continue;
    out[s] = { usage, failcnt: parseFlatKeyed(readOptional(dir, `hugetlb.${s}.events`)).get('max') ?? 0 };
  }
  return out;
}
