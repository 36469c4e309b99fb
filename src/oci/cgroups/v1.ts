import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { BlockIO, Cpu, HugepageLimit, Memory, Resources } from '../spec/types';
import { errnoOf, exists, intString, readLimit, readNumber, readOptional, sleepSync, writeCgroupFile } from './fs';

/** Resource writers for cgroup v1 hierarchies; one function per controller, each given that controller's dir. */

const R = 'linux.resources';

/** v1 files take -1 for "unlimited". */
const v1Num = (n: number): string => (n < 0 ? '-1' : intString(n));

/**
 * cpuset refuses tasks while cpuset.cpus or cpuset.mems is empty, and new cpuset directories start empty:
 * fill every level from the hierarchy's mount point down from its parent (runc's ensureParent/copyIfNeeded).
 */
export function initCpusetV1(mountPoint: string, dir: string): void {
  const rel = path.relative(mountPoint, dir);
  if (rel === '' || rel.startsWith('..')) return;
  let parent = mountPoint;
  for (const part of rel.split('/')) {
    const cur = path.join(parent, part);
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      if ((readOptional(cur, file) ?? '').trim() !== '') continue;
      const inherited = (readOptional(parent, file) ?? '').trim();
      if (inherited !== '') writeCgroupFile(cur, file, inherited, `${R}.cpu.${file === 'cpuset.cpus' ? 'cpus' : 'mems'}`);
    }
    parent = cur;
  }
}

function setMemoryLimit(dir: string, limit: number): void {
  try {
    writeCgroupFile(dir, 'memory.limit_in_bytes', v1Num(limit), `${R}.memory.limit`);
  } catch (err) {
    // The kernel answers EBUSY when it cannot reclaim below the new limit: say why, as runc does.
    if (err instanceof BerthError && errnoOf(err.cause) === 'EBUSY') {
      const usage = readNumber(dir, 'memory.usage_in_bytes');
      const peak = readNumber(dir, 'memory.max_usage_in_bytes');
      throw new BerthError('FailedPrecondition', `cannot set memory limit to ${limit}: current usage ${usage ?? '?'}, peak usage ${peak ?? '?'}`, { field: `${R}.memory.limit`, cause: err });
    }
    throw err;
  }
}

export function applyMemoryV1(dir: string, m: Memory, log: Logger): void {
  const F = `${R}.memory`;
  const limit = m.limit ?? 0;
  if (m.checkBeforeUpdate && limit > 0) {
    const usage = readNumber(dir, 'memory.usage_in_bytes');
    if (usage !== undefined && usage >= limit) {
      throw new BerthError('FailedPrecondition', `memory limit ${limit} is not above the current usage ${usage} (checkBeforeUpdate)`, { field: `${F}.limit` });
    }
  }
  // Kernels since 5.12 are always hierarchical and refuse 0 here: that refusal names the field.
  if (m.useHierarchy !== undefined) writeCgroupFile(dir, 'memory.use_hierarchy', m.useHierarchy ? '1' : '0', `${F}.useHierarchy`);
  let swap = m.swap ?? 0;
  const hasMemsw = exists(path.join(dir, 'memory.memsw.limit_in_bytes'));
  // runc: an unlimited memory limit without an explicit swap limit means unlimited memory+swap too.
  if (limit === -1 && swap === 0 && hasMemsw) swap = -1;
  if (swap !== 0 && !hasMemsw) {
    // Without swap accounting swap is not limited at all, which is what -1 asks for.
    if (swap !== -1) throw new BerthError('FailedPrecondition', 'swap accounting is not enabled in this kernel (no memory.memsw.limit_in_bytes; boot with swapaccount=1)', { field: `${F}.swap` });
    swap = 0;
  }
  const setSwap = (): void => {
    if (swap !== 0) writeCgroupFile(dir, 'memory.memsw.limit_in_bytes', v1Num(swap), `${F}.swap`);
  };
  const setLimit = (): void => {
    if (limit !== 0) setMemoryLimit(dir, limit);
  };
  // The kernel keeps limit <= memsw at every step. When the new memsw exceeds the current limit (raising),
  // memsw goes first; otherwise (lowering) the limit goes first.
  const current = readLimit(dir, 'memory.limit_in_bytes');
  if (limit !== 0 && swap !== 0 && (swap === -1 || (current !== undefined && current !== null && current < swap))) {
    setSwap();
    setLimit();
  } else {
    setLimit();
    setSwap();
  }
  if (m.reservation !== undefined && m.reservation !== 0) writeCgroupFile(dir, 'memory.soft_limit_in_bytes', v1Num(m.reservation), `${F}.reservation`);
  if (m.kernel !== undefined && m.kernel !== 0) log.warn('linux.resources.memory.kernel is ignored: kernel memory limits are deprecated and not set (as runc does)');
  if (m.kernelTCP !== undefined && m.kernelTCP !== 0) log.warn('linux.resources.memory.kernelTCP is ignored: kernel memory limits are deprecated and not set (as runc does)');
  if (m.disableOOMKiller !== undefined) writeCgroupFile(dir, 'memory.oom_control', m.disableOOMKiller ? '1' : '0', `${F}.disableOOMKiller`);
  if (m.swappiness !== undefined && m.swappiness !== -1) writeCgroupFile(dir, 'memory.swappiness', String(m.swappiness), `${F}.swappiness`);
}

export function applyCpuV1(dir: string, c: Cpu): void {
  const F = `${R}.cpu`;
  if (c.shares !== undefined && c.shares !== 0) {
    writeCgroupFile(dir, 'cpu.shares', intString(c.shares), `${F}.shares`);
    // The kernel clamps shares silently to [2, 262144]; read back to turn that into an error (runc does too).
    const got = readNumber(dir, 'cpu.shares');
    if (got !== undefined && got !== c.shares) {
      throw new BerthError('InvalidArgument', `${c.shares} is out of range: the ${got > c.shares ? 'minimum' : 'maximum'} allowed cpu shares is ${got}`, { field: `${F}.shares` });
    }
  }
  let pendingPeriod: string | undefined;
  if (c.period !== undefined && c.period !== 0) {
    try {
      writeCgroupFile(dir, 'cpu.cfs_period_us', intString(c.period), `${F}.period`);
    } catch (err) {
      // A shorter period can exceed the parent's quota/period ratio with the old quota (EINVAL); when a new
      // quota comes too, retry the period after it.
      if (!(err instanceof BerthError && errnoOf(err.cause) === 'EINVAL') || !c.quota) throw err;
      pendingPeriod = intString(c.period);
    }
  }
  if (c.quota !== undefined && c.quota !== 0) {
    writeCgroupFile(dir, 'cpu.cfs_quota_us', v1Num(c.quota), `${F}.quota`);
    if (pendingPeriod) writeCgroupFile(dir, 'cpu.cfs_period_us', pendingPeriod, `${F}.period`);
  }
  if (c.burst !== undefined) writeCgroupFile(dir, 'cpu.cfs_burst_us', intString(c.burst), `${F}.burst`);
  if (c.idle !== undefined) writeCgroupFile(dir, 'cpu.idle', String(c.idle), `${F}.idle`);
  // Period before runtime: the runtime is checked against the period in place.
  if (c.realtimePeriod !== undefined && c.realtimePeriod !== 0) writeCgroupFile(dir, 'cpu.rt_period_us', intString(c.realtimePeriod), `${F}.realtimePeriod`);
  if (c.realtimeRuntime !== undefined && c.realtimeRuntime !== 0) writeCgroupFile(dir, 'cpu.rt_runtime_us', v1Num(c.realtimeRuntime), `${F}.realtimeRuntime`);
}

export function applyCpusetV1(dir: string, c: Cpu): void {
  if (c.cpus) writeCgroupFile(dir, 'cpuset.cpus', c.cpus, `${R}.cpu.cpus`);
  if (c.mems) writeCgroupFile(dir, 'cpuset.mems', c.mems, `${R}.cpu.mems`);
}

/** pids.limit: 0 = leave as is, negative = unlimited (runc 1.1). */
export function pidsMaxValue(limit: number): string | undefined {
  if (limit === 0) return undefined;
  return limit < 0 ? 'max' : intString(limit);
}

export function applyPids(dir: string, limit: number): void {
  const v = pidsMaxValue(limit);
  if (v !== undefined) writeCgroupFile(dir, 'pids.max', v, `${R}.pids.limit`);
}

export function applyBlkioV1(dir: string, b: BlockIO): void {
  const F = `${R}.blockIO`;
  // CFQ exposed blkio.weight; with blk-mq only BFQ's blkio.bfq.weight exists (runc picks the same way).
  const cfq = exists(path.join(dir, 'blkio.weight'));
  const weightFile = cfq ? 'blkio.weight' : 'blkio.bfq.weight';
  const weightDeviceFile = cfq ? 'blkio.weight_device' : 'blkio.bfq.weight_device';
  if (b.weight) writeCgroupFile(dir, weightFile, String(b.weight), `${F}.weight`);
  if (b.leafWeight) writeCgroupFile(dir, 'blkio.leaf_weight', String(b.leafWeight), `${F}.leafWeight`);
  (b.weightDevice ?? []).forEach((d, i) => {
    if (d.weight) writeCgroupFile(dir, weightDeviceFile, `${d.major}:${d.minor} ${d.weight}`, `${F}.weightDevice[${i}].weight`);
    if (d.leafWeight) writeCgroupFile(dir, 'blkio.leaf_weight_device', `${d.major}:${d.minor} ${d.leafWeight}`, `${F}.weightDevice[${i}].leafWeight`);
  });
  const throttles = [
    ['throttleReadBpsDevice', 'blkio.throttle.read_bps_device'],
    ['throttleWriteBpsDevice', 'blkio.throttle.write_bps_device'],
    ['throttleReadIOPSDevice', 'blkio.throttle.read_iops_device'],
    ['throttleWriteIOPSDevice', 'blkio.throttle.write_iops_device'],
  ] as const;
  for (const [key, file] of throttles) {
    (b[key] ?? []).forEach((d, i) => writeCgroupFile(dir, file, `${d.major}:${d.minor} ${intString(d.rate)}`, `${F}.${key}[${i}]`));
  }
}

export function applyHugetlbV1(dir: string, limits: readonly HugepageLimit[]): void {
  limits.forEach((h, i) => {
    const field = `${R}.hugepageLimits[${i}]`;
    writeCgroupFile(dir, `hugetlb.${h.pageSize}.limit_in_bytes`, intString(h.limit), field);
    // Reservations (5.7+) are limited alike when the kernel has them, so that mmap(MAP_NORESERVE)-less
    // reservations cannot exceed the limit either (runc 1.2 does the same).
    const rsvd = `hugetlb.${h.pageSize}.rsvd.limit_in_bytes`;
    if (exists(path.join(dir, rsvd))) writeCgroupFile(dir, rsvd, intString(h.limit), field);
  });
}

export function applyNetClsV1(dir: string, classID: number): void {
  writeCgroupFile(dir, 'net_cls.classid', String(classID), `${R}.network.classID`);
}

export function applyNetPrioV1(dir: string, priorities: NonNullable<Resources['network']>['priorities']): void {
  (priorities ?? []).forEach((p, i) => writeCgroupFile(dir, 'net_prio.ifpriomap', `${p.name} ${p.priority}`, `${R}.network.priorities[${i}]`));
}

/** rdma.max has the same syntax in v1 and v2. */
export function applyRdma(dir: string, rdma: NonNullable<Resources['rdma']>): void {
  for (const [dev, lim] of Object.entries(rdma)) {
    const parts: string[] = [];
    if (lim.hcaHandles !== undefined) parts.push(`hca_handle=${lim.hcaHandles}`);
    if (lim.hcaObjects !== undefined) parts.push(`hca_object=${lim.hcaObjects}`);
    if (parts.length > 0) writeCgroupFile(dir, 'rdma.max', `${dev} ${parts.join(' ')}`, `${R}.rdma[${JSON.stringify(dev)}]`);
  }
}

// ---- freezer ----

function freezerState(dir: string): string {
  return (readOptional(dir, 'freezer.state') ?? '').trim();
}

/**
 * Freezing a v1 cgroup can stay in FREEZING while tasks fork or are added: retry the write, thawing now and
 * then (runc's empirically tuned loop, shortened). Gives up thawed, with an error, rather than half-frozen.
 */
export function freezeV1(dir: string): void {
  for (let i = 0; i < 400; i++) {
    if (i % 50 === 49) {
      writeCgroupFile(dir, 'freezer.state', 'THAWED');
      sleepSync(10);
    }
    writeCgroupFile(dir, 'freezer.state', 'FROZEN');
    if (i % 25 === 24) sleepSync(1);
    const s = freezerState(dir);
    if (s === 'FROZEN') return;
    if (s !== 'FREEZING') throw new BerthError('Internal', `unexpected freezer state ${JSON.stringify(s)} in ${dir} while freezing`);
  }
  writeCgroupFile(dir, 'freezer.state', 'THAWED');
  throw new BerthError('DeadlineExceeded', `cgroup ${dir} did not freeze (stuck in FREEZING); left thawed`);
}

export function thawV1(dir: string): void {
  writeCgroupFile(dir, 'freezer.state', 'THAWED');
}

export function freezerStateV1(dir: string): 'frozen' | 'thawed' {
  for (let i = 0; i < 1000; i++) {
    const s = freezerState(dir);
    if (s === 'THAWED') return 'thawed';
    if (s === 'FROZEN') {
      // FROZEN because an ancestor is frozen does not make this container paused.
      return (readOptional(dir, 'freezer.self_freezing') ?? '1').trim() === '1' ? 'frozen' : 'thawed';
    }
    if (s === '') throw new BerthError('NotFound', `${dir}/freezer.state does not exist`);
    sleepSync(1); // FREEZING is transient
  }
  return 'frozen';
}
