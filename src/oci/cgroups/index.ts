import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, invalid } from '../../common/errors';
import { Logger } from '../../common/log';
import type { Resources } from '../spec/types';
import { type CgroupLayout, type CgroupMode, type Hierarchy, detectCgroupMode, hostLayout, hugePageSizes, parseMountInfo, unifiedOnly } from './detect';
import { applyDevicesV1, normalizeDeviceRules, DEFAULT_ALLOWED_DEVICES } from './devices';
import { compileDeviceProgram } from './devices-bpf';
import { descendants, errnoOf, exists, mkdirTracked, readProcs, rmdirRetry, writeCgroupFile, writeCgroupFileAsync } from './fs';
import { ownProcsFile, ownProcsFiles, parseCgroupsPath, resolvePaths, UNIFIED } from './path';
import * as stats from './stats';
import * as v1 from './v1';
import * as v2 from './v2';
import { validateResources } from './validate';
import { SystemdCgroup, type SystemdOptions, systemdPaths, unitFromPaths } from './systemd/driver';
import { parseSystemdPath } from './systemd/properties';
import type { Cgroup, FreezerState } from './types';

export type { CgroupLayout, CgroupMode, Hierarchy } from './detect';
export type { BlkioDeviceStats, BlkioStats, CgroupStats, CpuStats, HugetlbStats, MemoryStats, PidsStats } from './stats';
export { detectCgroupMode, hostLayout, ownProcsFile, ownProcsFiles, parseMountInfo, unifiedOnly, UNIFIED, DEFAULT_ALLOWED_DEVICES, compileDeviceProgram };
export type { SystemdEndpoint, SystemdOptions } from './systemd/driver';
export { SystemdCgroup } from './systemd/driver';
export type { Cgroup, FreezerState } from './types';

export interface CgroupOptions {
  /** The hierarchies to use; default: this host's, from /proc/self/mountinfo. */
  layout?: CgroupLayout;
  logger?: Logger;
  /**
   * Loads and attaches a compiled BPF_PROG_TYPE_CGROUP_DEVICE program (see devices-bpf.ts) on a cgroup v2
   * directory, replacing the previous one. Without it, device rules on cgroup v2 are an error.
   */
  loadDeviceProgram?: (cgroupDir: string, program: Buffer) => void;
  /** Leave device access alone (runc's SkipDevices), e.g. when the caller manages it elsewhere. */
  skipDevices?: boolean;
  /** 'cgroupfs' (default) or 'systemd' (transient scopes over D-Bus, see Cgroup). */
  driver?: 'cgroupfs' | 'systemd';
  /** systemd driver: D-Bus endpoints and job timeout. */
  systemd?: SystemdOptions;
}

/** Where a controller lives for this container: a v1 hierarchy or the cgroup2 dir. */
type Location = { v: 1 | 2; dir: string };

const R = 'linux.resources';

class CgroupImpl implements Cgroup {
  readonly mode: CgroupMode;
  readonly paths: Readonly<Record<string, string>>;
  private readonly log: Logger;

  constructor(
    private readonly layout: CgroupLayout,
    paths: Record<string, string>,
    private readonly options: CgroupOptions,
  ) {
    this.mode = layout.mode;
    this.paths = Object.freeze({ ...paths });
    this.log = options.logger ?? new Logger({ level: 'warn' });
  }

  /** Distinct directories, v1 ones first then the cgroup2 one (co-mounted controllers share a directory). */
  private dirs(): string[] {
    return [...new Set(Object.values(this.paths))];
  }

  private unifiedDir(): string | undefined {
    return this.paths[UNIFIED];
  }

  /** The v1 hierarchy of `v1Name` when mounted, else the cgroup2 dir when it has `v2Name` available. */
  private locate(v1Name: string, v2Name = v1Name): Location | undefined {
    const d1 = this.paths[v1Name];
    if (d1 !== undefined && v1Name !== UNIFIED) return { v: 1, dir: d1 };
    const d2 = this.unifiedDir();
    if (d2 !== undefined && this.layout.unified?.controllers.includes(v2Name)) return { v: 2, dir: d2 };
    return undefined;
  }

  private need(controller: string, field: string, v2Name?: string): Location {
    const loc = this.locate(controller, v2Name);
    if (!loc) {
      throw new BerthError('FailedPrecondition', `the ${controller} controller is not available on this host (cgroup ${this.mode}: not a mounted v1 hierarchy${this.layout.unified ? `, not among the cgroup2 controllers [${this.layout.unified.controllers.join(' ')}]` : ''})`, { field });
    }
    return loc;
  }

  /** Freezing: the v1 freezer when mounted, otherwise cgroup.freeze (core in v2, no controller needed). */
  private freezer(): Location | undefined {
    const d1 = this.paths['freezer'];
    if (d1) return { v: 1, dir: d1 };
    const d2 = this.unifiedDir();
    return d2 ? { v: 2, dir: d2 } : undefined;
  }

  private hierarchyOf(dir: string): Hierarchy | undefined {
    return [...this.layout.v1, ...(this.layout.unified ? [this.layout.unified] : [])].find((h) => {
      const rel = path.relative(h.mountPoint, dir);
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    });
  }

  create(): void {
    const made: string[] = [];
    try {
      for (const dir of this.dirs()) {
        const h = this.hierarchyOf(dir);
        if (!h) throw new BerthError('Internal', `${dir} is not below a cgroup mount`);
        if (h.kind === 'v2') v2.createV2(h.mountPoint, dir, made);
        else {
          mkdirTracked(dir, made);
          if (h.controllers.includes('cpuset')) v1.initCpusetV1(h.mountPoint, dir);
        }
      }
    } catch (err) {
      // Undo exactly what this call created, deepest first, so a failed create leaves nothing behind.
      for (const d of made.reverse()) {
        try {
          rmdirRetry(d);
        } catch {
          // best effort; the original error matters more
        }
      }
      throw err;
    }
  }

  apply(resources: Resources | undefined): void {
    if (!resources) return;
    // The sizes matter only to hugepage limits; listing them costs a directory read per container otherwise.
    validateResources(resources, { mode: this.mode, hugePageSizes: resources.hugepageLimits?.length ? hugePageSizes() : [] });
    for (const d of this.dirs()) {
      if (!exists(d)) throw new BerthError('FailedPrecondition', `cgroup ${d} does not exist (create it before applying limits)`);
    }
    const r = resources;
    const cpu = r.cpu;
    if (cpu && (cpu.cpus || cpu.mems)) {
      const loc = this.need('cpuset', cpu.cpus ? `${R}.cpu.cpus` : `${R}.cpu.mems`);
      if (loc.v === 1) v1.applyCpusetV1(loc.dir, cpu);
      else v2.applyCpusetV2(loc.dir, cpu);
    }
    if (r.devices && !this.options.skipDevices) this.applyDevices(r);
    if (r.memory) {
      const loc = this.need('memory', `${R}.memory`);
      if (loc.v === 1) v1.applyMemoryV1(loc.dir, r.memory, this.log);
      else v2.applyMemoryV2(loc.dir, r.memory, this.log);
    }
    if (cpu && hasCpuLimits(cpu)) {
      const loc = this.need('cpu', `${R}.cpu`);
      if (loc.v === 1) v1.applyCpuV1(loc.dir, cpu);
      else v2.applyCpuV2(loc.dir, cpu);
    }
    if (r.pids && r.pids.limit !== 0) v1.applyPids(this.need('pids', `${R}.pids.limit`).dir, r.pids.limit);
    if (r.blockIO && hasBlkio(r.blockIO)) {
      const loc = this.need('blkio', `${R}.blockIO`, 'io');
      if (loc.v === 1) v1.applyBlkioV1(loc.dir, r.blockIO);
      else v2.applyIoV2(loc.dir, r.blockIO);
    }
    if (r.hugepageLimits && r.hugepageLimits.length > 0) {
      const loc = this.need('hugetlb', `${R}.hugepageLimits`);
      if (loc.v === 1) v1.applyHugetlbV1(loc.dir, r.hugepageLimits);
      else v2.applyHugetlbV2(loc.dir, r.hugepageLimits);
    }
    if (r.network?.classID !== undefined) v1.applyNetClsV1(this.need('net_cls', `${R}.network.classID`).dir, r.network.classID);
    if ((r.network?.priorities ?? []).length > 0) v1.applyNetPrioV1(this.need('net_prio', `${R}.network.priorities`).dir, r.network?.priorities);
    if (r.rdma && Object.keys(r.rdma).length > 0) v1.applyRdma(this.need('rdma', `${R}.rdma`).dir, r.rdma);
    if (r.unified && Object.keys(r.unified).length > 0) {
      const dir = this.unifiedDir();
      if (!dir) throw invalid(`${R}.unified`, 'needs a cgroup2 hierarchy, and this host has none');
      v2.applyUnified(dir, r.unified, this.layout.unified?.controllers ?? [], this.mode === 'hybrid');
    }
  }

  private applyDevices(r: Resources): void {
    const rules = normalizeDeviceRules(r.devices ?? []);
    const d1 = this.paths['devices'];
    if (d1) return applyDevicesV1(d1, rules);
    const d2 = this.unifiedDir();
    if (!d2) throw new BerthError('FailedPrecondition', 'no devices controller and no cgroup2 hierarchy: device access cannot be restricted', { field: `${R}.devices` });
    if (!this.options.loadDeviceProgram) {
      // Never run a container with device rules silently unenforced.
      throw new BerthError('Unimplemented', 'cgroup v2 device rules need an eBPF program loader (none configured)', { field: `${R}.devices` });
    }
    this.options.loadDeviceProgram(d2, compileDeviceProgram(r.devices ?? []));
  }

  /**
   * The writes go out concurrently: on cgroup v1 each move waits for an RCU grace period, and overlapping
   * moves share one (9 hierarchies: ~2 ms instead of ~15 ms one after another).
   */
  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw invalid('pid', `must be a positive integer, got ${pid}`);
    const results = await Promise.allSettled(this.dirs().map((dir) => writeCgroupFileAsync(dir, 'cgroup.procs', String(pid))));
    for (const r of results) {
      if (r.status === 'fulfilled') continue;
      const err = r.reason;
      if (err instanceof BerthError && errnoOf(err.cause) === 'ESRCH') throw new BerthError('NotFound', `process ${pid} does not exist`, { cause: err });
      throw err;
    }
  }

  joinFiles(): string[] {
    return this.dirs().map((dir) => path.join(dir, 'cgroup.procs'));
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs()) {
      for (const d of [dir, ...descendants(dir)]) for (const p of readProcs(d)) all.add(p);
    }
    return [...all].sort((a, b) => a - b);
  }

  freeze(): void {
    const loc = this.freezer();
    if (!loc) throw new BerthError('FailedPrecondition', 'no freezer: neither a v1 freezer hierarchy nor cgroup2');
    if (loc.v === 1) v1.freezeV1(loc.dir);
    else v2.freezeV2(loc.dir);
  }

  thaw(): void {
    const loc = this.freezer();
    if (!loc) throw new BerthError('FailedPrecondition', 'no freezer: neither a v1 freezer hierarchy nor cgroup2');
    if (loc.v === 1) v1.thawV1(loc.dir);
    else v2.thawV2(loc.dir);
  }

  state(): FreezerState {
    const loc = this.freezer();
    if (!loc) return 'thawed';
    return loc.v === 1 ? v1.freezerStateV1(loc.dir) : v2.freezerStateV2(loc.dir);
  }

  stats(): stats.CgroupStats {
    const out: stats.CgroupStats = { hugetlb: {} };
    const cpuacct = this.paths['cpuacct'];
    if (cpuacct !== undefined || this.paths['cpu'] !== undefined) out.cpu = stats.cpuStatsV1(cpuacct, this.paths['cpu']);
    else if (this.unifiedDir()) out.cpu = stats.cpuStatsV2(this.unifiedDir() as string);
    const mem = this.locate('memory');
    if (mem) out.memory = mem.v === 1 ? stats.memoryStatsV1(mem.dir) : stats.memoryStatsV2(mem.dir);
    const pids = this.locate('pids');
    if (pids) out.pids = stats.pidsStats(pids.dir);
    const io = this.locate('blkio', 'io');
    if (io) out.blkio = io.v === 1 ? stats.blkioStatsV1(io.dir) : stats.blkioStatsV2(io.dir);
    const huge = this.locate('hugetlb');
    if (huge) out.hugetlb = huge.v === 1 ? stats.hugetlbStatsV1(huge.dir, hugePageSizes()) : stats.hugetlbStatsV2(huge.dir, hugePageSizes());
    for (const k of ['cpu', 'memory', 'pids', 'blkio'] as const) if (out[k] === undefined) delete out[k];
    return out;
  }

  oomKillCount(): number {
    // 0 without a memory controller: nothing can be OOM-killed by a limit that cannot exist.
    const mem = this.locate('memory');
    if (!mem) return 0;
    return mem.v === 1 ? stats.oomKillsV1(mem.dir) : stats.oomKillsV2(mem.dir);
  }

  killAll(signal: NodeJS.Signals | number): void {
    const sig = typeof signal === 'number' ? signal : signalNumber(signal);
    const unified = this.unifiedDir();
    if (sig === 9 && unified && exists(unified) && v2.killV2(unified)) {
      // Processes put only into v1 hierarchies by someone else are not in the cgroup2 dir: catch them below.
      if (this.mode !== 'hybrid') return;
    }
    // Freeze first so nothing forks between listing and signalling (runc does the same). A paused container
    // stays paused for other signals; SIGKILL must thaw, as frozen v1 tasks only die once thawed.
    const freezer = this.freezer();
    const canFreeze = freezer !== undefined && exists(freezer.dir);
    const wasFrozen = canFreeze && this.state() === 'frozen';
    if (canFreeze && !wasFrozen) {
      try {
        this.freeze();
      } catch (err) {
        this.log.warn('could not freeze before signalling; signalling anyway', { error: String(err) });
      }
    }
    try {
      for (const pid of this.pids()) {
        try {
          process.kill(pid, sig);
        } catch (err) {
          if (errnoOf(err) !== 'ESRCH') throw new BerthError('PermissionDenied', `cannot signal process ${pid}: ${errnoOf(err) ?? String(err)}`, { cause: err });
        }
      }
    } finally {
      if (canFreeze && (!wasFrozen || sig === 9)) this.thaw();
    }
  }

  async update(resources: Resources | undefined): Promise<void> {
    this.apply(resources);
  }

  async remove(): Promise<void> {
    this.destroy();
  }

  destroy(): void {
    let first: unknown;
    // One retry budget for the whole call (see rmdirRetry).
    const deadline = Date.now() + 1000;
    for (const dir of this.dirs()) {
      try {
        for (const d of descendants(dir)) rmdirRetry(d, deadline);
        rmdirRetry(dir, deadline);
      } catch (err) {
        // Keep going: remove whatever can be removed in the other hierarchies, report the first failure.
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}

function hasCpuLimits(c: NonNullable<Resources['cpu']>): boolean {
  return !!(c.shares || c.quota || c.period || c.realtimePeriod || c.realtimeRuntime) || c.burst !== undefined || c.idle !== undefined;
}

function hasBlkio(b: NonNullable<Resources['blockIO']>): boolean {
  return !!(b.weight || b.leafWeight || b.weightDevice?.length || b.throttleReadBpsDevice?.length || b.throttleWriteBpsDevice?.length || b.throttleReadIOPSDevice?.length || b.throttleWriteIOPSDevice?.length);
}

function signalNumber(name: NodeJS.Signals): number {
  const n = (os.constants.signals as Record<string, number | undefined>)[name];
  if (n === undefined) throw invalid('signal', `unknown signal ${name}`);
  return n;
}

/**
 * The cgroup of a container, from `linux.cgroupsPath`: runc cgroupfs-driver semantics (see path.ts), or with
 * options.driver 'systemd' runc's "slice:prefix:name" (see systemd/properties.ts). Nothing is created until
 * create() (cgroupfs) or the first addProcess() (systemd).
 */
export function resolveCgroup(cgroupsPath: string | undefined, containerId: string, options: CgroupOptions = {}): Cgroup {
  const layout = options.layout ?? hostLayout();
  const systemd = options.driver === 'systemd' ? parseSystemdPath(cgroupsPath, containerId) : undefined;
  const paths = systemd ? systemdPaths(layout, systemd) : resolvePaths(layout, parseCgroupsPath(cgroupsPath, containerId));
  // runc treats a missing devices hierarchy on v1 as fatal: containers would get every device.
  if (layout.mode !== 'v2' && !options.skipDevices && paths['devices'] === undefined && !layout.unified) {
    throw new BerthError('FailedPrecondition', 'the devices cgroup controller is not mounted: refusing to run without device restrictions');
  }
  const fsCgroup = new CgroupImpl(layout, paths, options);
  if (!systemd) return fsCgroup;
  return new SystemdCgroup(fsCgroup, systemd, containerId, { ...options.systemd, logger: options.logger, skipDevices: options.skipDevices });
}

/**
 * Re-opens a container's cgroup from paths saved earlier (Cgroup.paths), e.g. by the shim after a restart, whose
 * own cgroup — and so the meaning of a relative cgroupsPath — may differ from berth-run's. Every path must lie
 * below the matching hierarchy's mount.
 */
export function loadCgroup(paths: Readonly<Record<string, string>>, options: CgroupOptions = {}): Cgroup {
  const layout = options.layout ?? hostLayout();
  for (const [key, dir] of Object.entries(paths)) {
    const h = key === UNIFIED ? layout.unified : layout.v1.find((x) => x.controllers.includes(key));
    const rel = h ? path.relative(h.mountPoint, dir) : '..';
    if (!path.isAbsolute(dir) || rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
      throw invalid(`cgroupPaths[${JSON.stringify(key)}]`, `${dir} is not a cgroup below the ${key} hierarchy of this host`);
    }
  }
  const fsCgroup = new CgroupImpl(layout, { ...paths }, options);
  if (options.driver !== 'systemd') return fsCgroup;
  const ref = unitFromPaths(paths);
  return new SystemdCgroup(fsCgroup, ref, ref.unit, { ...options.systemd, logger: options.logger, skipDevices: options.skipDevices, alreadyStarted: true });
}
