/**
 * The systemd cgroup driver (runc --systemd-cgroup): the container's cgroup is a transient scope unit that
 * systemd creates (StartTransientUnit over D-Bus) with the container's first process in it; everything systemd
 * has no property for — and stats, freezing, killing, later processes — goes through the same cgroupfs code as
 * the cgroupfs driver, on the scope's directories.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, invalid } from '../../../common/errors';
import { Logger } from '../../../common/log';
import type { Resources } from '../../spec/types';
import { type CgroupLayout, hugePageSizes } from '../detect';
import type { Cgroup, FreezerState } from '../types';
import { UNIFIED } from '../path';
import type * as stats from '../stats';
import { validateResources } from '../validate';
import { DBusError } from '../../../common/dbus/connection';
import { connectSystemd, MANAGER, runJob, type SystemdEndpoint, systemdError, SYSTEMD_NAME, SYSTEMD_PATH, systemdVersion } from '../../../common/dbus/systemd-manager';
import { baseProperties, type DeviceContext, expandSlice, type Property, resourceProperties, type SystemdUnitRef, toWire } from './properties';

// The Manager client moved to src/common/dbus (berth-agent uses it too); these names stay importable from here.
export { defaultEndpoints, MANAGER, systemBusAddress, SYSTEMD_NAME, SYSTEMD_PATH, type SystemdEndpoint } from '../../../common/dbus/systemd-manager';

export interface SystemdOptions {
  /** Tried in order until one accepts a connection; default defaultEndpoints(). */
  endpoints?: readonly SystemdEndpoint[];
  /** How long to wait for a unit's start/stop job (runc: 30 s). */
  jobTimeoutMs?: number;
}

/** The scope's directory in every hierarchy: <mount>/<expanded slice>/<unit> (runc's unified-manager layout). */
export function systemdPaths(layout: CgroupLayout, ref: SystemdUnitRef): Record<string, string> {
  const rel = path.posix.join(expandSlice(ref.slice), ref.unit);
  const out: Record<string, string> = {};
  for (const h of layout.v1) for (const c of h.controllers) out[c] = path.posix.join(h.mountPoint, rel);
  if (layout.unified) out[UNIFIED] = path.posix.join(layout.unified.mountPoint, rel);
  return out;
}

/** Reverses systemdPaths for loadCgroup: every directory must be the same "<unit>.scope" below a "*.slice". */
export function unitFromPaths(paths: Readonly<Record<string, string>>): SystemdUnitRef {
  const units = new Set(Object.values(paths).map((d) => `${path.basename(path.dirname(d))}\0${path.basename(d)}`));
  const [only] = [...units];
  const [slice, unit] = (only ?? '').split('\0');
  if (units.size !== 1 || !unit?.endsWith('.scope') || !slice?.endsWith('.slice')) {
    throw invalid('cgroupPaths', `saved paths are not one systemd scope below a slice: ${JSON.stringify(paths)}`);
  }
  return { slice, unit };
}

function needsVersion(r: Resources | undefined): boolean {
  if (!r) return false;
  const u = Object.keys(r.unified ?? {});
  return !!(r.cpu?.period || r.cpu?.cpus || r.cpu?.mems) || u.some((k) => k === 'cpu.max' || k.startsWith('cpuset.'));
}

/** Later properties of the same name replace earlier ones (several apply() calls before the unit starts). */
function dedupe(props: Property[]): Property[] {
  const last = new Map<string, Property>();
  for (const p of props) {
    last.delete(p[0]);
    last.set(p[0], p);
  }
  return [...last.values()];
}

export class SystemdCgroup implements Cgroup {
  readonly driver = 'systemd' as const;
  private started: boolean;
  private starting?: Promise<void>;
  private readonly pending: Resources[] = [];
  private readonly log: Logger;
  /** Every property sent with StartTransientUnit, for diagnostics and tests. */
  lastStartProperties?: Property[];

  constructor(
    /** The cgroupfs implementation on this scope's directories. */
    private readonly fs: Cgroup,
    readonly ref: SystemdUnitRef,
    private readonly name: string,
    private readonly options: SystemdOptions & { logger?: Logger; alreadyStarted?: boolean; skipDevices?: boolean },
  ) {
    this.started = options.alreadyStarted ?? false;
    this.log = options.logger ?? new Logger({ level: 'warn' });
  }

  /** Device properties are generated unless device access is left alone (skipDevices). */
  private get devices(): DeviceContext | undefined {
    if (this.options.skipDevices) return undefined;
    return { procDevices: () => fs.readFileSync('/proc/devices', 'utf8'), warn: (message) => this.log.warn(message, { unit: this.ref.unit }) };
  }

  private properties(r: Resources | undefined, version: number): Property[] {
    return resourceProperties(r, this.v1, version, this.devices);
  }

  get mode(): Cgroup['mode'] {
    return this.fs.mode;
  }

  get paths(): Readonly<Record<string, string>> {
    return this.fs.paths;
  }

  /** systemd uses the v1 ("legacy") properties unless the host is pure cgroup v2, as runc. */
  private get v1(): boolean {
    return this.fs.mode !== 'v2';
  }

  private get jobTimeout(): number {
    return this.options.jobTimeoutMs ?? 30_000;
  }

  /** Nothing: systemd creates the scope with its first process, in addProcess(). */
  create(): void {}

  apply(resources: Resources | undefined): void {
    if (!resources) return;
    if (this.started) return this.fs.apply(resources);
    validateResources(resources, { mode: this.fs.mode, hugePageSizes: hugePageSizes() });
    // Surface conversion errors (cpuset lists, unified values) now, not at addProcess().
    resourceProperties(resources, this.v1, Number.MAX_SAFE_INTEGER, this.devices && { ...this.devices, warn: () => undefined });
    this.pending.push(resources);
  }

  async update(resources: Resources | undefined): Promise<void> {
    if (!resources) return;
    if (!this.started) return this.apply(resources);
    validateResources(resources, { mode: this.fs.mode, hugePageSizes: hugePageSizes() });
    const conn = await connectSystemd(this.options.endpoints);
    try {
      const version = needsVersion(resources) ? await systemdVersion(conn) : -1;
      const props = this.properties(resources, version);
      // runc (v1): systemd rewrites device rules deny-all-first, which running processes would notice; freeze
      // around it unless already frozen.
      const freeze = this.v1 && props.some(([n]) => n === 'DeviceAllow') && this.fs.state() !== 'frozen';
      if (props.length > 0) {
        if (freeze) this.fs.freeze();
        try {
          await conn
            .call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'SetUnitProperties', signature: 'sba(sv)', body: [this.ref.unit, true, toWire(props)] })
            .catch((err) => {
              throw systemdError(`SetUnitProperties(${JSON.stringify(this.ref.unit)})`, err);
            });
        } finally {
          if (freeze) this.fs.thaw();
        }
      }
    } finally {
      conn.close();
    }
    this.fs.apply(resources);
  }

  async addProcess(pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw invalid('pid', `must be a positive integer, got ${pid}`);
    if (!this.started) {
      if (!this.starting) {
        this.starting = this.start(pid).finally(() => {
          this.starting = undefined;
        });
        return this.starting;
      }
      await this.starting;
    }
    await this.fs.addProcess(pid);
  }

  joinFiles(): string[] | undefined {
    return this.started ? this.fs.joinFiles() : undefined;
  }

  private async start(pid: number): Promise<void> {
    const conn = await connectSystemd(this.options.endpoints);
    try {
      const version = this.pending.some(needsVersion) ? await systemdVersion(conn) : -1;
      const props = dedupe([...baseProperties(this.ref, this.name, pid, this.v1), ...this.pending.flatMap((r) => this.properties(r, version))]);
      this.lastStartProperties = props;
      const what = `StartTransientUnit(${JSON.stringify(this.ref.unit)})`;
      const startUnit = (): ReturnType<typeof runJob> => runJob(conn, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', [this.ref.unit, 'replace', toWire(props), []], this.jobTimeout);
      let job: Awaited<ReturnType<typeof runJob>>;
      try {
        job = await startUnit();
      } catch (err) {
        // runc: a unit of that name left over (failed) from before is reset, then the start retried once.
        if (!(err instanceof DBusError && err.errorName === 'org.freedesktop.systemd1.UnitExists')) throw systemdError(what, err);
        this.log.debug('unit exists; resetting it and retrying', { unit: this.ref.unit });
        await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'ResetFailedUnit', signature: 's', body: [this.ref.unit] }).catch(() => undefined);
        job = await startUnit().catch((e) => {
          throw systemdError(what, e);
        });
      }
      if (job.result !== 'done') throw new BerthError('FailedPrecondition', `systemd ${what}: job ${job.job} ended with result ${JSON.stringify(job.result)}, not "done"`);
    } finally {
      conn.close();
    }
    this.started = true;
    // What systemd does not create or set (v1 cpuset/freezer/… hierarchies, every limit without a property,
    // device rules) is done through cgroupfs, and the process joins every hierarchy (runc joinCgroups).
    this.fs.create();
    for (const r of this.pending.splice(0)) this.fs.apply(r);
    await this.fs.addProcess(pid);
  }

  pids(): number[] {
    return this.fs.pids();
  }

  freeze(): void {
    this.fs.freeze();
  }

  thaw(): void {
    this.fs.thaw();
  }

  state(): FreezerState {
    return this.fs.state();
  }

  stats(): stats.CgroupStats {
    return this.fs.stats();
  }

  oomKillCount(): number {
    return this.fs.oomKillCount();
  }

  killAll(signal: NodeJS.Signals | number): void {
    this.fs.killAll(signal);
  }

  /** Removes the leftover directories only; the unit is systemd's (see the Cgroup interface). */
  destroy(): void {
    this.fs.destroy();
  }

  async remove(): Promise<void> {
    let stopErr: unknown;
    try {
      const conn = await connectSystemd(this.options.endpoints);
      const what = `StopUnit(${JSON.stringify(this.ref.unit)})`;
      try {
        const job = await runJob(conn, 'StopUnit', 'ss', [this.ref.unit, 'replace'], this.jobTimeout).catch((err) => {
          if (err instanceof DBusError && err.errorName === 'org.freedesktop.systemd1.NoSuchUnit') return undefined;
          throw systemdError(what, err);
        });
        if (job && job.result !== 'done') this.log.warn('systemd did not stop the unit cleanly; continuing', { unit: this.ref.unit, result: job.result });
        // runc: in case the unit failed, let systemd forget it.
        await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'ResetFailedUnit', signature: 's', body: [this.ref.unit] }).catch(() => undefined);
      } finally {
        conn.close();
      }
      this.started = false;
    } catch (err) {
      stopErr = err;
    }
    // Both on success and on failure, remove what cgroupfs created (runc legacyManager.Destroy).
    try {
      this.fs.destroy();
    } catch (err) {
      stopErr ??= err;
    }
    if (stopErr !== undefined) throw stopErr;
  }
}
