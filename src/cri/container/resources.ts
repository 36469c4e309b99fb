/**
 * CRI LinuxContainerResources → OCI linux.resources (+ process.oomScoreAdj). CRI's int64s arrive as decimal
 * strings; zero means "not set" for each of them, as containerd reads them.
 */
import { invalid } from '../../common/errors';
import type { HugepageLimit, Resources } from '../../oci';
import type { LinuxContainerResources } from '../types';

const F = 'config.linux.resources';

/** A CRI int64 as a safe JS integer in [min, max]. */
function int(value: string, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(field, `${value} is out of range (${min} to ${max})`);
  return n;
}

/** A uint64 limit exactly: a number when a double holds it, else a bigint. */
function u64(value: string, field: string): number | bigint {
  if (!/^\d+$/.test(value) || BigInt(value) >= 2n ** 64n) throw invalid(field, `${value} is not an unsigned 64-bit integer`);
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : BigInt(value);
}

const CPU_LIST = /^(\d+(-\d+)?)(,\d+(-\d+)?)*$/;

export interface ResourcesResult {
  resources: Resources;
  /** Only when CRI sent resources (else the process keeps berthd's, as with containerd). */
  oomScoreAdj?: number;
}

/**
 * The resources section; `minOomScoreAdj` is the lowest score this process may set (lowering it needs
 * CAP_SYS_RESOURCE): a lower request is raised to it, with a warning, as containerd's restrict_oom_score_adj does.
 */
export function buildResources(r: LinuxContainerResources | null, minOomScoreAdj: number, warnings: string[]): ResourcesResult {
  const resources: Resources = {};
  if (!r) return { resources };
  const cpu: NonNullable<Resources['cpu']> = {};
  const shares = int(r.cpuShares, `${F}.cpu_shares`, 0);
  if (shares > 0) cpu.shares = shares;
  // -1 is "no quota" for the cgroup; other negatives mean nothing.
  const quota = int(r.cpuQuota, `${F}.cpu_quota`, -1);
  if (quota !== 0) cpu.quota = quota;
  const period = int(r.cpuPeriod, `${F}.cpu_period`, 0);
  if (period > 0) cpu.period = period;
  for (const [key, value, field] of [['cpus', r.cpusetCpus, 'cpuset_cpus'], ['mems', r.cpusetMems, 'cpuset_mems']] as const) {
    if (value === '') continue;
    if (!CPU_LIST.test(value.replace(/\s/g, ''))) throw invalid(`${F}.${field}`, `"${value}" is not a list like "0-3,7"`);
    cpu[key] = value;
  }
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;

  const memory: NonNullable<Resources['memory']> = {};
  const limit = int(r.memoryLimitInBytes, `${F}.memory_limit_in_bytes`, 0);
  if (limit > 0) memory.limit = limit;
  // -1 (unlimited) is what an unset swap limit gives anyway.
  const swap = int(r.memorySwapLimitInBytes, `${F}.memory_swap_limit_in_bytes`, -1);
  if (swap > 0) {
    if (limit > 0 && swap < limit) throw invalid(`${F}.memory_swap_limit_in_bytes`, `${swap} is below memory_limit_in_bytes ${limit} (it counts memory plus swap)`);
    memory.swap = swap;
  }
  if (Object.keys(memory).length > 0) resources.memory = memory;

  const huge: HugepageLimit[] = r.hugepageLimits.map((h, i) => {
    const f = `${F}.hugepage_limits[${i}]`;
    if (!/^\d+[KMGTP]B$/.test(h.pageSize)) throw invalid(`${f}.page_size`, `"${h.pageSize}" is not a page size like 2MB or 1GB`);
    return { pageSize: h.pageSize, limit: u64(h.limit, `${f}.limit`) };
  });
  if (huge.length > 0) resources.hugepageLimits = huge;

  const unified = Object.entries(r.unified ?? {});
  for (const [key] of unified) {
    // Keys are file names in the container's cgroup directory: nothing that could name another one.
    if (!/^[a-z0-9_]+\.[a-z0-9_.]+$/.test(key)) throw invalid(`${F}.unified["${key}"]`, 'is not a cgroup v2 interface file name');
  }
  if (unified.length > 0) resources.unified = Object.fromEntries(unified);

  let oomScoreAdj = int(r.oomScoreAdj, `${F}.oom_score_adj`, -1000, 1000);
  if (oomScoreAdj < minOomScoreAdj) {
    warnings.push(`${F}.oom_score_adj: ${oomScoreAdj} raised to ${minOomScoreAdj}, the lowest berthd may set`);
    oomScoreAdj = minOomScoreAdj;
  }
  return { resources, oomScoreAdj };
}

/** UpdateContainerResources' form: the resources with oom_score_adj left to the caller, plus the warnings. */
export function ociResources(r: LinuxContainerResources, minOomScoreAdj: number): ResourcesResult & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...buildResources(r, minOomScoreAdj, warnings), warnings };
}
