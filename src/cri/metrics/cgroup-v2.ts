/**
 * cgroup v2 → CgroupSample: one directory; each controller's files exist only when it is enabled there
 * (cpu.stat's usage is core and always present, its throttling counters need the cpu controller). memory.stat
 * is hierarchical in v2, so the "container" and "hierarchy" page-fault scopes are the same numbers.
 */
import { parseCpuMax, parseIoStat, parseKeyed, parseLimit, parsePressure, toBig, weightToShares } from './parse';
import {
  type CpuSample, type HugetlbSample, type IoDeviceSample, type MemorySample, type PidsSample, type PressureSample, readCg, type SpecSample, type VersionSample,
  hugePageSizes,
} from './sample';

const US = 1000n; // microseconds → nanoseconds
const max0 = (n: bigint): bigint => (n > 0n ? n : 0n);
const orZero = (n: bigint | null | undefined): bigint | undefined => (n === undefined ? undefined : (n ?? 0n));

export async function readCgroupV2(dir: string): Promise<VersionSample> {
  const spec: SpecSample = {};
  const [cpu, memory, pids, io, hugetlb] = await Promise.all([readCpu(dir, spec), readMemory(dir, spec), readPids(dir), readIo(dir), readHugetlb(dir)]);
  return { cpu, memory, pids, io, hugetlb, spec };
}

async function readCpu(dir: string, spec: SpecSample): Promise<CpuSample | undefined> {
  const [stat, weight, max] = await Promise.all(['cpu.stat', 'cpu.weight', 'cpu.max'].map((f) => readCg(dir, f)));
  if (stat === undefined) return undefined;
  const st = parseKeyed(stat);
  const ns = (k: string): bigint | undefined => {
    const v = st.get(k);
    return v === undefined ? undefined : v * US;
  };
  const out: CpuSample = { usageNs: ns('usage_usec'), userNs: ns('user_usec'), systemNs: ns('system_usec') };
  if (st.has('nr_periods')) {
    out.periods = st.get('nr_periods');
    out.throttledPeriods = st.get('nr_throttled');
    out.throttledNs = ns('throttled_usec');
  }
  const w = toBig(weight);
  if (w !== undefined) spec.cpuShares = weightToShares(w);
  const m = parseCpuMax(max);
  if (m) {
    spec.cpuPeriod = m.period;
    spec.cpuQuota = m.quota ?? 0n;
  }
  return out;
}

async function readMemory(dir: string, spec: SpecSample): Promise<MemorySample | undefined> {
  const files = ['memory.current', 'memory.stat', 'memory.peak', 'memory.events', 'memory.swap.current', 'memory.max', 'memory.min', 'memory.swap.max'];
  const [cur, statRaw, peak, eventsRaw, swapRaw, maxRaw, minRaw, swapMaxRaw] = await Promise.all(files.map((f) => readCg(dir, f)));
  const usage = toBig(cur);
  if (usage === undefined) return undefined;
  const st = parseKeyed(statRaw);
  const events = parseKeyed(eventsRaw);
  const both = (k: string): { container: bigint; hierarchy: bigint } | undefined => {
    const v = st.get(k);
    return v === undefined ? undefined : { container: v, hierarchy: v };
  };
  const limit = parseLimit(maxRaw);
  const swapMax = parseLimit(swapMaxRaw);
  spec.memoryLimit = orZero(limit);
  spec.memoryReservation = orZero(parseLimit(minRaw));
  // The CRI's swap limit counts memory and swap together; memory.swap.max is the swap alone.
  if (swapMax !== undefined) spec.swapLimit = swapMax === null || limit === null || limit === undefined ? 0n : swapMax + limit;
  return {
    usage,
    workingSet: max0(usage - (st.get('inactive_file') ?? 0n)),
    rss: st.get('anon'),
    cache: st.get('file'),
    mappedFile: st.get('file_mapped'),
    activeFile: st.get('active_file'),
    inactiveFile: st.get('inactive_file'),
    maxUsage: toBig(peak),
    failcnt: events.get('max'),
    kernel: st.get('kernel') ?? kernelParts(st),
    swap: toBig(swapRaw),
    oomKills: events.get('oom_kill'),
    pgfault: both('pgfault'),
    pgmajfault: both('pgmajfault'),
  };
}

/** Kernels before 5.18 have no "kernel" line: the sum of its parts, when they are there. */
function kernelParts(st: Map<string, bigint>): bigint | undefined {
  const parts = ['kernel_stack', 'pagetables', 'percpu', 'sock', 'slab'].map((k) => st.get(k));
  if (parts.every((p) => p === undefined)) return undefined;
  return parts.reduce<bigint>((a, p) => a + (p ?? 0n), 0n);
}

async function readPids(dir: string): Promise<PidsSample | undefined> {
  const [cur, max] = await Promise.all([readCg(dir, 'pids.current'), readCg(dir, 'pids.max')]);
  const current = toBig(cur);
  return current === undefined ? undefined : { current, max: parseLimit(max) ?? null };
}

async function readIo(dir: string): Promise<IoDeviceSample[] | undefined> {
  const raw = await readCg(dir, 'io.stat');
  if (raw === undefined) return undefined;
  return parseIoStat(raw).map((e) => ({
    major: e.major, minor: e.minor, bytesByOp: new Map([['Read', e.rbytes], ['Write', e.wbytes]]),
    readBytes: e.rbytes, writeBytes: e.wbytes, reads: e.rios, writes: e.wios,
  }));
}

async function readHugetlb(dir: string): Promise<HugetlbSample[]> {
  const out: HugetlbSample[] = [];
  for (const pagesize of hugePageSizes()) {
    const usage = toBig(await readCg(dir, `hugetlb.${pagesize}.current`));
    // v2 keeps no peak for huge pages.
    if (usage !== undefined) out.push({ pagesize, usage });
  }
  return out;
}

/** PSI of a cgroup2 directory (absent when the kernel runs without psi=1). */
export async function readPressure(dir: string): Promise<PressureSample | undefined> {
  const [cpu, memory, io] = await Promise.all(['cpu.pressure', 'memory.pressure', 'io.pressure'].map(async (f) => parsePressure(await readCg(dir, f))));
  if (!cpu && !memory && !io) return undefined;
  return { cpu, memory, io };
}
