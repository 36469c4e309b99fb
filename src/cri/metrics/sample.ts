/**
 * The version-neutral shape of what the metrics read from a container's cgroups (cgroup-v1.ts and
 * cgroup-v2.ts fill it), and the file reading both share.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CgroupDirs {
  /** v1 controller name ("memory", "cpuacct", "name=systemd") → directory. */
  v1: Map<string, string>;
  /** The cgroup2 directory, when cgroup2 is mounted. */
  unified?: string;
}

/** Units: nanoseconds; bigint as read. */
export interface CpuSample {
  usageNs?: bigint;
  userNs?: bigint;
  systemNs?: bigint;
  /** CFS bandwidth counters: absent without the cpu controller. */
  periods?: bigint;
  throttledPeriods?: bigint;
  throttledNs?: bigint;
}

/** Units: bytes. */
export interface MemorySample {
  usage: bigint;
  /** usage minus inactive file pages, floored at 0 (what the kubelet evicts on). */
  workingSet: bigint;
  rss?: bigint;
  cache?: bigint;
  mappedFile?: bigint;
  activeFile?: bigint;
  inactiveFile?: bigint;
  maxUsage?: bigint;
  failcnt?: bigint;
  kernel?: bigint;
  swap?: bigint;
  oomKills?: bigint;
  /** Page faults of this cgroup alone (container) and with its sub-cgroups (hierarchy). */
  pgfault?: { container: bigint; hierarchy: bigint };
  pgmajfault?: { container: bigint; hierarchy: bigint };
}

export interface PidsSample {
  current: bigint;
  /** null: no limit. */
  max: bigint | null;
}

/** The limits the cgroup enforces; 0 for "unlimited" (the cadvisor convention). */
export interface SpecSample {
  cpuShares?: bigint;
  cpuPeriod?: bigint;
  cpuQuota?: bigint;
  memoryLimit?: bigint;
  memoryReservation?: bigint;
  /** Memory plus swap, as the CRI's memory_swap_limit_in_bytes means it. */
  swapLimit?: bigint;
}

export interface IoDeviceSample {
  major: number;
  minor: number;
  /** Bytes per kernel operation name (Read, Write, Sync, Async, Discard, Total). */
  bytesByOp: Map<string, bigint>;
  readBytes: bigint;
  writeBytes: bigint;
  reads: bigint;
  writes: bigint;
}

/** PSI totals in microseconds: some = waiting, full = stalled. */
export type PressureSample = Partial<Record<'cpu' | 'memory' | 'io', { some?: bigint; full?: bigint }>>;

export interface HugetlbSample {
  /** The kernel's naming: "2MB", "1GB". */
  pagesize: string;
  usage: bigint;
  maxUsage?: bigint;
}

export interface CgroupSample {
  cpu?: CpuSample;
  memory?: MemorySample;
  pids?: PidsSample;
  io?: IoDeviceSample[];
  pressure?: PressureSample;
  hugetlb: HugetlbSample[];
  spec: SpecSample;
  /** The directory whose cgroup.procs (with its sub-cgroups') lists the container's processes. */
  procsDir?: string;
}

/** What one cgroup version's reader finds (pressure and the process list are the caller's). */
export type VersionSample = Pick<CgroupSample, 'cpu' | 'memory' | 'pids' | 'io' | 'hugetlb' | 'spec'>;

/** Reads a control file; undefined when it is absent or unreadable (a controller or kernel feature missing). */
export async function readCg(dir: string, file: string): Promise<string | undefined> {
  try {
    return await fs.promises.readFile(path.join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

let pageSizes: string[] | undefined;

/** Huge page sizes of this kernel in cgroup file naming (whole GB, else whole MB, else KB); read once. */
export function hugePageSizes(sysDir = '/sys/kernel/mm/hugepages'): string[] {
  if (pageSizes && sysDir === '/sys/kernel/mm/hugepages') return pageSizes;
  let names: string[] = [];
  try {
    names = fs.readdirSync(sysDir);
  } catch {
    // no huge pages configured in this kernel
  }
  const out: string[] = [];
  for (const n of names) {
    const m = /^hugepages-(\d+)kB$/.exec(n);
    if (!m) continue;
    const kb = Number(m[1]);
    out.push(kb >= 1 << 20 ? `${kb >> 20}GB` : kb >= 1 << 10 ? `${kb >> 10}MB` : `${kb}KB`);
  }
  if (sysDir === '/sys/kernel/mm/hugepages') pageSizes = out;
  return out;
}

