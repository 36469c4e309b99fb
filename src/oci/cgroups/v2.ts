import * as path from 'node:path';
import { BerthError, invalid } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { BlockIO, Cpu, HugepageLimit, Memory } from '../spec/types';
import { exists, intString, mkdirTracked, parseFlatKeyed, readNumber, readOptional, sleepSync, writeCgroupFile } from './fs';

/** Resource writers and lifecycle operations for a cgroup v2 directory. */

const R = 'linux.resources';

/** v2 files spell "unlimited" as "max". */
const v2Num = (n: number): string => (n < 0 ? 'max' : intString(n));

/** runc 1.1 ConvertCPUSharesToCgroupV2Value: maps shares [2, 262144] linearly onto weight [1, 10000]. */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** runc ConvertBlkIOToIOWeightValue: blkio weight [10, 1000] onto io.weight [1, 10000]. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * runc ConvertMemorySwapToCgroupV2Value: the spec's swap is memory+swap (a v1 notion), v2 limits swap alone.
 * Returns undefined for "leave as is".
 */
export function memorySwapMaxValue(limit: number, swap: number): string | undefined {
  if (limit === -1 && swap === 0) return 'max';
  if (swap === -1) return 'max';
  if (swap === 0) return undefined;
  return intString(swap - limit);
}

/**
 * Creates `dir` (and missing parents) and enables, on every ancestor from the mount down to the parent, all
 * controllers that ancestor has available, like runc's CreateCgroupPath. Enabling can fail (an ancestor with
 * processes of its own, a controller held by v1): that is ignored here, and the resource write that needs the
 * controller then fails naming its spec field.
 */
export function createV2(mountPoint: string, dir: string, made: string[]): void {
  mkdirTracked(dir, made);
  const rel = path.relative(mountPoint, dir);
  if (rel === '' || rel.startsWith('..')) return;
  const ancestors = [mountPoint];
  for (const part of rel.split('/').slice(0, -1)) ancestors.push(path.join(ancestors[ancestors.length - 1], part));
  for (const a of ancestors) {
    const available = (readOptional(a, 'cgroup.controllers') ?? '').split(/\s+/).filter((c) => c !== '');
    const enabled = new Set((readOptional(a, 'cgroup.subtree_control') ?? '').split(/\s+/));
    const missing = available.filter((c) => !enabled.has(c));
    if (missing.length === 0) continue;
    try {
      writeCgroupFile(a, 'cgroup.subtree_control', missing.map((c) => `+${c}`).join(' '));
    } catch {
      for (const c of missing) {
        try {
          writeCgroupFile(a, 'cgroup.subtree_control', `+${c}`);
        } catch {
          // see above
        }
      }
    }
  }
}

export function applyMemoryV2(dir: string, m: Memory, log: Logger): void {
  const F = `${R}.memory`;
  const limit = m.limit ?? 0;
  const swap = m.swap ?? 0;
  if (m.useHierarchy === false) throw invalid(`${F}.useHierarchy`, 'cgroup v2 is always hierarchical; false cannot be honoured');
  if (m.checkBeforeUpdate && limit > 0) {
    const current = readNumber(dir, 'memory.current');
    if (current !== undefined && current >= limit) {
      throw new BerthError('FailedPrecondition', `memory limit ${limit} is not above the current usage ${current} (checkBeforeUpdate)`, { field: `${F}.limit` });
    }
  }
  let swapMax = memorySwapMaxValue(limit, swap);
  if (swapMax !== undefined && !exists(path.join(dir, 'memory.swap.max'))) {
    // No swap support in the kernel: unlimited or no swap is already the state of affairs (runc ignores it too).
    if (swapMax === 'max' || swapMax === '0') swapMax = undefined;
    else throw new BerthError('FailedPrecondition', `swap is not supported here (${dir}/memory.swap.max missing)`, { field: `${F}.swap` });
  }
  if (swapMax !== undefined) writeCgroupFile(dir, 'memory.swap.max', swapMax, `${F}.swap`);
  if (limit !== 0) writeCgroupFile(dir, 'memory.max', v2Num(limit), `${F}.limit`);
  if (m.reservation !== undefined && m.reservation !== 0) writeCgroupFile(dir, 'memory.low', v2Num(m.reservation), `${F}.reservation`);
  if (m.kernel) log.warn('linux.resources.memory.kernel is ignored: kernel memory limits do not exist in cgroup v2');
  if (m.kernelTCP) log.warn('linux.resources.memory.kernelTCP is ignored: kernel memory limits do not exist in cgroup v2');
  if (m.swappiness !== undefined && m.swappiness !== -1) log.warn('linux.resources.memory.swappiness is ignored: cgroup v2 has no per-cgroup swappiness');
  if (m.disableOOMKiller) log.warn('linux.resources.memory.disableOOMKiller is ignored: cgroup v2 cannot disable the OOM killer');
}

export function applyCpuV2(dir: string, c: Cpu): void {
  const F = `${R}.cpu`;
  if (c.shares) writeCgroupFile(dir, 'cpu.weight', String(cpuSharesToWeight(c.shares)), `${F}.shares`);
  if (c.idle !== undefined) writeCgroupFile(dir, 'cpu.idle', String(c.idle), `${F}.idle`);
  const quota = c.quota ?? 0;
  const period = c.period ?? 0;
  if (quota !== 0 || period !== 0) {
    let q: string;
    if (quota > 0) q = intString(quota);
    else if (quota < 0) q = 'max';
    else {
      // cpu.max holds "$QUOTA $PERIOD" together: keep the current quota when only the period changes
      // (runc would reset it to max here).
      q = (readOptional(dir, 'cpu.max') ?? 'max').trim().split(/\s+/)[0] || 'max';
    }
    writeCgroupFile(dir, 'cpu.max', period !== 0 ? `${q} ${intString(period)}` : q, quota !== 0 ? `${F}.quota` : `${F}.period`);
  }
  if (c.burst !== undefined) writeCgroupFile(dir, 'cpu.max.burst', intString(c.burst), `${F}.burst`);
}

export function applyCpusetV2(dir: string, c: Cpu): void {
  if (c.cpus) writeCgroupFile(dir, 'cpuset.cpus', c.cpus, `${R}.cpu.cpus`);
  if (c.mems) writeCgroupFile(dir, 'cpuset.mems', c.mems, `${R}.cpu.mems`);
}

export function applyIoV2(dir: string, b: BlockIO): void {
  const F = `${R}.blockIO`;
  // BFQ takes the v1 weight range as is and per-device weights; io.weight (iocost) needs the conversion.
  const bfq = exists(path.join(dir, 'io.bfq.weight'));
  if (b.weight) {
    if (bfq) writeCgroupFile(dir, 'io.bfq.weight', String(b.weight), `${F}.weight`);
    else writeCgroupFile(dir, 'io.weight', String(blkioWeightToIoWeight(b.weight)), `${F}.weight`);
  }
  (b.weightDevice ?? []).forEach((d, i) => {
    if (!d.weight) return;
    const field = `${F}.weightDevice[${i}].weight`;
    if (bfq) writeCgroupFile(dir, 'io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`, field);
    else writeCgroupFile(dir, 'io.weight', `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}`, field);
  });
  const throttles = [
    ['throttleReadBpsDevice', 'rbps'],
    ['throttleWriteBpsDevice', 'wbps'],
    ['throttleReadIOPSDevice', 'riops'],
    ['throttleWriteIOPSDevice', 'wiops'],
  ] as const;
  for (const [key, name] of throttles) {
    // A rate of 0 removes the v1 rule; the v2 spelling of "no limit" is max.
    (b[key] ?? []).forEach((d, i) => writeCgroupFile(dir, 'io.max', `${d.major}:${d.minor} ${name}=${d.rate === 0 ? 'max' : intString(d.rate)}`, `${F}.${key}[${i}]`));
  }
}

export function applyHugetlbV2(dir: string, limits: readonly HugepageLimit[]): void {
  limits.forEach((h, i) => {
    const field = `${R}.hugepageLimits[${i}]`;
    writeCgroupFile(dir, `hugetlb.${h.pageSize}.max`, intString(h.limit), field);
    const rsvd = `hugetlb.${h.pageSize}.rsvd.max`;
    if (exists(path.join(dir, rsvd))) writeCgroupFile(dir, rsvd, intString(h.limit), field);
  });
}

/**
 * linux.resources.unified: raw "file: value" writes, applied last so they override the converted values
 * (runc's order). `available` is the controllers the hierarchy has, for a precise error.
 */
export function applyUnified(dir: string, unified: Readonly<Record<string, string>>, available: readonly string[], hybrid: boolean): void {
  for (const [key, value] of Object.entries(unified)) {
    const field = `${R}.unified[${JSON.stringify(key)}]`;
    if (!exists(path.join(dir, key))) {
      const controller = key.split('.')[0];
      const why = controller !== 'cgroup' && !available.includes(controller)
        ? `controller ${controller} is not available in the cgroup2 hierarchy${hybrid ? ' (on this hybrid host it is bound to cgroup v1 or absent)' : ''}`
        : `${key} does not exist in ${dir}`;
      throw new BerthError('FailedPrecondition', why, { field });
    }
    writeCgroupFile(dir, key, value, field);
  }
}

// ---- freezer, kill ----

function eventsFrozen(dir: string): boolean {
  return parseFlatKeyed(readOptional(dir, 'cgroup.events')).get('frozen') === 1;
}

/** Polls cgroup.events (10 ms steps, like runc) until frozen reaches `want`. */
function waitFrozen(dir: string, want: boolean, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (eventsFrozen(dir) === want) return true;
    if (Date.now() >= deadline) return false;
    sleepSync(want ? 10 : 2);
  }
}

export function freezeV2(dir: string, timeoutMs = 10_000): void {
  writeCgroupFile(dir, 'cgroup.freeze', '1');
  if (!waitFrozen(dir, true, timeoutMs)) {
    writeCgroupFile(dir, 'cgroup.freeze', '0');
    throw new BerthError('DeadlineExceeded', `cgroup ${dir} did not report frozen within ${timeoutMs} ms; left thawed`);
  }
}

export function thawV2(dir: string): void {
  writeCgroupFile(dir, 'cgroup.freeze', '0');
  // Still frozen afterwards means an ancestor is frozen: not ours to undo, so no error.
  waitFrozen(dir, false, 1000);
}

export function freezerStateV2(dir: string): 'frozen' | 'thawed' {
  const v = readOptional(dir, 'cgroup.freeze');
  if (v === undefined) throw new BerthError('NotFound', `${dir}/cgroup.freeze does not exist`);
  return v.trim() === '1' ? 'frozen' : 'thawed';
}

/** cgroup.kill (5.14+) SIGKILLs the whole subtree atomically, racing no fork. false when the kernel lacks it. */
export function killV2(dir: string): boolean {
  if (!exists(path.join(dir, 'cgroup.kill'))) return false;
  writeCgroupFile(dir, 'cgroup.kill', '1');
  return true;
}
