/**
 * cgroup v1 → CgroupSample: one directory per controller (cpu, cpuacct, memory, pids, blkio, hugetlb), each
 * read only when the host mounts that controller. Hierarchical counters (memory.stat's total_*) are preferred,
 * so that sub-cgroups a container makes count towards it.
 */
import { type BlkioEntry, parseBlkioV1, parseKeyed, parseLimit, toBig } from './parse';
import {
  type CpuSample, type HugetlbSample, type IoDeviceSample, type MemorySample, type PidsSample, readCg, type SpecSample, type VersionSample, hugePageSizes,
} from './sample';

const USER_HZ = 100n; // cpuacct.stat's tick unit on every Linux ABI
const NS = 1_000_000_000n;
const max0 = (n: bigint): bigint => (n > 0n ? n : 0n);
const orZero = (n: bigint | null | undefined): bigint | undefined => (n === undefined ? undefined : (n ?? 0n));

export async function readCgroupV1(dirs: ReadonlyMap<string, string>): Promise<VersionSample> {
  const spec: SpecSample = {};
  const [cpu, memory, pids, io, hugetlb] = await Promise.all([
    readCpu(dirs.get('cpuacct'), dirs.get('cpu'), spec),
    readMemory(dirs.get('memory'), spec),
    readPids(dirs.get('pids')),
    readBlkio(dirs.get('blkio')),
    readHugetlb(dirs.get('hugetlb')),
  ]);
  return { cpu, memory, pids, io, hugetlb, spec };
}

async function readCpu(acct: string | undefined, cpuDir: string | undefined, spec: SpecSample): Promise<CpuSample | undefined> {
  if (!acct && !cpuDir) return undefined;
  const out: CpuSample = {};
  if (acct) {
    const [usage, user, sys, stat] = await Promise.all(['cpuacct.usage', 'cpuacct.usage_user', 'cpuacct.usage_sys', 'cpuacct.stat'].map((f) => readCg(acct, f)));
    out.usageNs = toBig(usage);
    out.userNs = toBig(user);
    out.systemNs = toBig(sys);
    if (out.userNs === undefined || out.systemNs === undefined) {
      // Kernels before 4.7 only count ticks.
      const ticks = parseKeyed(stat);
      const u = ticks.get('user');
      const s = ticks.get('system');
      out.userNs = u === undefined ? undefined : (u * NS) / USER_HZ;
      out.systemNs = s === undefined ? undefined : (s * NS) / USER_HZ;
    }
  }
  if (cpuDir) {
    const [stat, shares, period, quota] = await Promise.all(['cpu.stat', 'cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us'].map((f) => readCg(cpuDir, f)));
    const st = parseKeyed(stat);
    if (st.has('nr_periods')) {
      out.periods = st.get('nr_periods');
      out.throttledPeriods = st.get('nr_throttled');
      out.throttledNs = st.get('throttled_time');
    }
    spec.cpuShares = toBig(shares);
    spec.cpuPeriod = toBig(period);
    spec.cpuQuota = orZero(parseLimit(quota));
  }
  return out;
}

async function readMemory(dir: string | undefined, spec: SpecSample): Promise<MemorySample | undefined> {
  if (!dir) return undefined;
  const files = [
    'memory.usage_in_bytes', 'memory.stat', 'memory.max_usage_in_bytes', 'memory.failcnt', 'memory.kmem.usage_in_bytes', 'memory.memsw.usage_in_bytes',
    'memory.oom_control', 'memory.limit_in_bytes', 'memory.soft_limit_in_bytes', 'memory.memsw.limit_in_bytes',
  ];
  const [usageRaw, statRaw, maxRaw, failRaw, kmemRaw, memswRaw, oomRaw, limitRaw, softRaw, memswLimitRaw] = await Promise.all(files.map((f) => readCg(dir, f)));
  const usage = toBig(usageRaw);
  if (usage === undefined) return undefined;
  const st = parseKeyed(statRaw);
  const total = (k: string): bigint | undefined => st.get(`total_${k}`) ?? st.get(k);
  const memsw = toBig(memswRaw);
  const fault = (k: string): { container: bigint; hierarchy: bigint } | undefined => {
    const own = st.get(k);
    return own === undefined ? undefined : { container: own, hierarchy: st.get(`total_${k}`) ?? own };
  };
  spec.memoryLimit = orZero(parseLimit(limitRaw));
  spec.memoryReservation = orZero(parseLimit(softRaw));
  spec.swapLimit = orZero(parseLimit(memswLimitRaw));
  return {
    usage,
    workingSet: max0(usage - (total('inactive_file') ?? 0n)),
    rss: total('rss'),
    cache: total('cache'),
    mappedFile: total('mapped_file'),
    activeFile: total('active_file'),
    inactiveFile: total('inactive_file'),
    maxUsage: toBig(maxRaw),
    failcnt: toBig(failRaw),
    kernel: toBig(kmemRaw),
    // memsw counts memory and swap together.
    swap: memsw === undefined ? undefined : max0(memsw - usage),
    oomKills: parseKeyed(oomRaw).get('oom_kill'),
    pgfault: fault('pgfault'),
    pgmajfault: fault('pgmajfault'),
  };
}

async function readPids(dir: string | undefined): Promise<PidsSample | undefined> {
  if (!dir) return undefined;
  const [cur, max] = await Promise.all([readCg(dir, 'pids.current'), readCg(dir, 'pids.max')]);
  const current = toBig(cur);
  return current === undefined ? undefined : { current, max: parseLimit(max) ?? null };
}

/** Devices from blkio's byte and operation counters (blk-throttle's, kept on every kernel; else CFQ's or BFQ's). */
async function readBlkio(dir: string | undefined): Promise<IoDeviceSample[] | undefined> {
  if (!dir) return undefined;
  const first = async (names: string[]): Promise<string | undefined> => {
    for (const n of names) {
      const t = await readCg(dir, n);
      if (t !== undefined) return t;
    }
    return undefined;
  };
  const bytes = await first(['blkio.throttle.io_service_bytes_recursive', 'blkio.io_service_bytes_recursive', 'blkio.bfq.io_service_bytes_recursive']);
  const ops = await first(['blkio.throttle.io_serviced_recursive', 'blkio.io_serviced_recursive', 'blkio.bfq.io_serviced_recursive']);
  if (bytes === undefined && ops === undefined) return undefined;
  return mergeBlkio(parseBlkioV1(bytes), parseBlkioV1(ops));
}

export function mergeBlkio(bytes: BlkioEntry[], ops: BlkioEntry[]): IoDeviceSample[] {
  const devs = new Map<string, IoDeviceSample>();
  const dev = (e: BlkioEntry): IoDeviceSample => {
    const key = `${e.major}:${e.minor}`;
    let d = devs.get(key);
    if (!d) devs.set(key, (d = { major: e.major, minor: e.minor, bytesByOp: new Map(), readBytes: 0n, writeBytes: 0n, reads: 0n, writes: 0n }));
    return d;
  };
  for (const e of bytes) {
    const d = dev(e);
    d.bytesByOp.set(e.op, e.value);
    if (e.op === 'Read') d.readBytes = e.value;
    else if (e.op === 'Write') d.writeBytes = e.value;
  }
  for (const e of ops) {
    const d = dev(e);
    if (e.op === 'Read') d.reads = e.value;
    else if (e.op === 'Write') d.writes = e.value;
  }
  return [...devs.values()];
}

async function readHugetlb(dir: string | undefined): Promise<HugetlbSample[]> {
  if (!dir) return [];
  const out: HugetlbSample[] = [];
  for (const pagesize of hugePageSizes()) {
    const usage = toBig(await readCg(dir, `hugetlb.${pagesize}.usage_in_bytes`));
    if (usage !== undefined) out.push({ pagesize, usage, maxUsage: toBig(await readCg(dir, `hugetlb.${pagesize}.max_usage_in_bytes`)) });
  }
  return out;
}
