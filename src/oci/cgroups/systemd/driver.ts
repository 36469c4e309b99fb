/**
 * The systemd cgroup driver (runc --systemd-cgroup): the container's cgroup is a transient scope unit that
 * systemd creates (StartTransientUnit over D-Bus) with the container's first process in it; everything systemd
 * has no property for — and stats, freezing, killing, later processes — goes through the same cgroupfs code as
 * the cgroupfs driver, on the scope's directories.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, type ErrorKind, invalid } from '../../../common/errors';
import { Logger } from '../../../common/log';
import type { Resources } from '../../spec/types';
import { type CgroupLayout, hugePageSizes } from '../detect';
import type { Cgroup, FreezerState } from '../types';
import { UNIFIED } from '../path';
import type * as stats from '../stats';
import { validateResources } from '../validate';
import { Connection, DBusError } from './connection';
import { Variant } from './marshal';
import type { Message } from './message';
import { baseProperties, type DeviceContext, expandSlice, type Property, resourceProperties, type SystemdUnitRef, toWire } from './properties';

export const SYSTEMD_NAME = 'org.freedesktop.systemd1';
export const SYSTEMD_PATH = '/org/freedesktop/systemd1';
export const MANAGER = 'org.freedesktop.systemd1.Manager';

export interface SystemdEndpoint {
  /** Socket path or D-Bus address ("unix:path=…"). */
  address: string;
  /** 'peer' for systemd's private socket (no bus daemon), 'bus' for a message bus. */
  kind: 'bus' | 'peer';
}

/** The system bus as libdbus and godbus find it: $DBUS_SYSTEM_BUS_ADDRESS when set, else the well-known socket. */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DBUS_SYSTEM_BUS_ADDRESS || '/run/dbus/system_bus_socket';
}

/**
 * Like go-systemd's dbus.NewWithContext, which runc uses as root: systemd's private socket first, then the
 * system bus (read at each connect, so that a daemon's environment decides, as it does for runc).
 */
export function defaultEndpoints(env: NodeJS.ProcessEnv = process.env): SystemdEndpoint[] {
  return [
    { address: '/run/systemd/private', kind: 'peer' },
    { address: systemBusAddress(env), kind: 'bus' },
  ];
}

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

const ERROR_KINDS: Record<string, ErrorKind> = {
  'org.freedesktop.systemd1.NoSuchUnit': 'NotFound',
  'org.freedesktop.systemd1.UnitExists': 'AlreadyExists',
  'org.freedesktop.DBus.Error.AccessDenied': 'PermissionDenied',
  'org.freedesktop.DBus.Error.AuthFailed': 'PermissionDenied',
  'org.freedesktop.DBus.Error.InvalidArgs': 'InvalidArgument',
  'org.freedesktop.DBus.Error.ServiceUnknown': 'Unavailable',
  'org.freedesktop.DBus.Error.NameHasNoOwner': 'Unavailable',
  'org.freedesktop.DBus.Error.NoReply': 'DeadlineExceeded',
  'org.freedesktop.DBus.Error.Timeout': 'DeadlineExceeded',
  'org.freedesktop.DBus.Error.Disconnected': 'Unavailable',
};

/** A D-Bus failure as a BerthError naming the operation, e.g. `systemd StartTransientUnit("x.scope"): …`. */
export function systemdError(what: string, err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  if (err instanceof DBusError) return new BerthError(ERROR_KINDS[err.errorName] ?? 'FailedPrecondition', `systemd ${what}: ${err.message}`, { cause: err });
  const code = (err as { code?: unknown } | undefined)?.code;
  return new BerthError('Unavailable', `systemd ${what}: ${typeof code === 'string' ? code : String(err)}`, { cause: err });
}

/** Connects to the first endpoint that accepts; Unavailable naming every endpoint tried otherwise. */
export async function connectSystemd(endpoints: readonly SystemdEndpoint[] = defaultEndpoints()): Promise<Connection> {
  const failures: string[] = [];
  for (const ep of endpoints) {
    try {
      return await Connection.connect({ address: ep.address, kind: ep.kind });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Any failure moves on to the next endpoint, as go-systemd does from the private socket to the bus.
      failures.push(`${ep.address}: ${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new BerthError('Unavailable', `cannot reach systemd over D-Bus (${failures.join('; ')}); the systemd cgroup driver needs a running systemd`);
}

const JOB_REMOVED_MATCH = `type='signal',sender='${SYSTEMD_NAME}',path='${SYSTEMD_PATH}',interface='${MANAGER}',member='JobRemoved'`;

/**
 * Calls a Manager method that queues a job (returns its object path) and waits for the job's JobRemoved signal
 * (uoss: id, job, unit, result). Signals are collected from before the call, so a fast job cannot be missed.
 */
export async function runJob(conn: Connection, member: string, signature: string, body: Parameters<Connection['call']>[0]['body'], timeoutMs: number): Promise<{ job: string; result: string }> {
  const results = new Map<string, string>();
  let wake: (() => void) | undefined;
  // On a bus anyone may emit a signal: only systemd's own count (its unique name owns org.freedesktop.systemd1).
  const owner =
    conn.kind === 'bus'
      ? String(
          (
            await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: [SYSTEMD_NAME] }).catch((err) => {
              throw systemdError(member, err);
            })
          ).body?.[0],
        )
      : undefined;
  const off = conn.onSignal((m: Message) => {
    if (m.interface !== MANAGER || m.member !== 'JobRemoved' || m.signature !== 'uoss' || m.path !== SYSTEMD_PATH) return;
    if (owner !== undefined && m.sender !== owner) return;
    results.set(String(m.body?.[1]), String(m.body?.[3]));
    wake?.();
  });
  try {
    await conn.addMatch(JOB_REMOVED_MATCH);
    const reply = await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member, signature, body });
    const job = reply.body?.[0];
    if (reply.signature !== 'o' || typeof job !== 'string') throw new BerthError('Internal', `systemd ${member} replied with signature ${JSON.stringify(reply.signature ?? '')}, expected "o"`);
    const deadline = Date.now() + timeoutMs;
    while (!results.has(job)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new BerthError('DeadlineExceeded', `systemd ${member}: job ${job} did not finish within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return { job, result: results.get(job) as string };
  } finally {
    off();
    if (conn.kind === 'bus') {
      await conn.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'RemoveMatch', signature: 's', body: [JOB_REMOVED_MATCH] }).catch(() => undefined);
    }
  }
}

/** systemd's major version from Manager.Version ("252.33-1~deb12u1", "v256"); -1 when unknown (as runc). */
export async function systemdVersion(conn: Connection): Promise<number> {
  try {
    const r = await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: [MANAGER, 'Version'] });
    const v = r.body?.[0];
    const m = v instanceof Variant && typeof v.value === 'string' ? /^v?(\d+)/.exec(v.value.trim()) : null;
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
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
