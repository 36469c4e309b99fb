/**
 * A STAND-IN for systemd, for the suites that exercise the systemd cgroup driver on a machine where systemd is
 * not PID 1: a real dbus-daemon (Debian package `dbus`) on a private socket, and, connected to it, a small
 * service that owns org.freedesktop.systemd1 and does what systemd would do on this host for
 * StartTransientUnit / StopUnit / GetUnit / ResetFailedUnit / SetUnitProperties / Properties.Get(Version):
 * create the scope's directories in the hierarchies systemd manages, move the PIDs, write the Tasks/Memory/CPU
 * properties to cgroupfs, emit JobRemoved. For unit files (berth-agent's berthd.service): Reload, and
 * StartUnit / RestartUnit / StopUnit of a `.service`, which only keep its state (nothing is executed). Every message crosses the real daemon, which checks it against its
 * signature, so marshalling bugs that would cancel out between our encoder and decoder are still caught.
 *
 * startSystemdStandin() starts both; stop() ends them (the daemon by its pid) and removes the temp dir. Both
 * are also registered for the end of the test file, so a suite that fails before its afterAll leaves nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CgroupLayout } from '../../src/oci/cgroups';
import { Connection } from '../../src/common/dbus/connection';
import { MANAGER, SYSTEMD_NAME, SYSTEMD_PATH } from '../../src/oci/cgroups/systemd/driver';
import { type DBusValue, Variant } from '../../src/common/dbus/marshal';
import type { Message } from '../../src/common/dbus/message';
import { expandSlice, parseProcDevices } from '../../src/oci/cgroups/systemd/properties';
import { atFileEnd, trackTempDir } from './cleanup';

const MAX64 = (1n << 64n) - 1n;

/** Hierarchies systemd realizes for a Delegate=yes scope on v1 (others — cpuset, freezer, … — are ours). */
export const SYSTEMD_V1 = new Set(['name=systemd', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'pids']);

export interface FakeUnit {
  slice: string;
  /** A unit in "failed" state: ResetFailedUnit forgets it. */
  failed?: boolean;
  dirs: string[];
  props: Map<string, Variant>;
}

/** The stand-in for systemd's Manager (see the file comment). */
export class FakeSystemd {
  readonly units = new Map<string, FakeUnit>();
  readonly calls: { member: string; signature: string; body: DBusValue[]; destination?: string; peer: boolean }[] = [];
  /** Makes the next StartTransientUnit fail with this D-Bus error. */
  failNext?: { name: string; text: string };
  /** JobRemoved result of the next start job ("done" by default). */
  nextResult = 'done';
  /** Emit JobRemoved before the method reply (systemd never does; the client must cope anyway). */
  signalFirst = false;
  private jobs = 0;
  /** `.service` units started through StartUnit/RestartUnit: whether active, and how often (re)started. */
  readonly services = new Map<string, { active: boolean; starts: number; restarts: number }>();
  /** Manager.Reload calls. */
  reloads = 0;

  private readonly peers = new Set<Connection>();

  private constructor(
    /** Its connection to the bus. */
    readonly conn: Connection,
    /** The hierarchies it manages (tests swap in a pure-v2 view). */
    public layout: CgroupLayout,
  ) {
    this.attach(conn);
  }

  /** Serves the Manager on `conn`: the bus connection, or a peer connected to the stand-in private socket. */
  attach(conn: Connection): void {
    if (conn.kind === 'peer') this.peers.add(conn);
    conn.onMethodCall((m) => {
      try {
        this.handle(m, conn);
      } catch (err) {
        conn.sendError(m, 'org.freedesktop.DBus.Error.Failed', String(err));
      }
    });
  }

  static async start(address: string, layout: CgroupLayout): Promise<FakeSystemd> {
    const conn = await Connection.connect({ address, kind: 'bus' });
    const f = new FakeSystemd(conn, layout);
    await conn.requestName(SYSTEMD_NAME);
    return f;
  }

  private dirsFor(slice: string, unit: string): string[] {
    const rel = path.join(expandSlice(slice), unit);
    const out: string[] = [];
    for (const h of this.layout.v1) if (h.controllers.some((c) => SYSTEMD_V1.has(c))) out.push(path.join(h.mountPoint, rel));
    if (this.layout.unified) out.push(path.join(this.layout.unified.mountPoint, rel));
    return out;
  }

  private finishJob(m: Message, conn: Connection, unit: string, result: string): void {
    const id = ++this.jobs;
    const job = `/org/freedesktop/systemd1/job/${id}`;
    // Like systemd's bus_foreach_bus: every direct (private-socket) connection, and the bus.
    const signal = (): void => {
      for (const c of [...this.peers, this.conn]) {
        try {
          c.emitSignal({ path: SYSTEMD_PATH, interface: MANAGER, member: 'JobRemoved', signature: 'uoss', body: [id, job, unit, result] });
        } catch {
          this.peers.delete(c); // a peer that hung up
        }
      }
    };
    if (this.signalFirst) signal();
    conn.reply(m, 'o', [job]);
    if (!this.signalFirst) setImmediate(signal);
  }

  private handle(m: Message, conn: Connection): void {
    const body = m.body ?? [];
    if (m.interface === 'org.freedesktop.DBus.Properties' && m.member === 'Get') {
      if (body[0] === MANAGER && body[1] === 'Version') return conn.reply(m, 'v', [new Variant('s', '252.33-1~deb12u1')]);
      return conn.sendError(m, 'org.freedesktop.DBus.Error.UnknownProperty', `no property ${String(body[1])}`);
    }
    if (m.interface !== MANAGER) return conn.sendError(m, 'org.freedesktop.DBus.Error.UnknownInterface', `unknown interface ${m.interface}`);
    this.calls.push({ member: m.member ?? '', signature: m.signature ?? '', body, destination: m.destination, peer: conn.kind === 'peer' });
    const noSuch = (unit: string): void => conn.sendError(m, 'org.freedesktop.systemd1.NoSuchUnit', `Unit ${unit} not loaded.`);
    switch (m.member) {
      case 'StartTransientUnit': {
        if (m.signature !== 'ssa(sv)a(sa(sv))') return conn.sendError(m, 'org.freedesktop.DBus.Error.InvalidArgs', `bad signature ${m.signature}`);
        const [unit, mode, props] = body as [string, string, [string, Variant][]];
        if (this.failNext) {
          const f = this.failNext;
          this.failNext = undefined;
          return conn.sendError(m, f.name, f.text);
        }
        if (mode !== 'replace') return conn.sendError(m, 'org.freedesktop.DBus.Error.InvalidArgs', `mode ${mode}`);
        if (this.units.has(unit)) return conn.sendError(m, 'org.freedesktop.systemd1.UnitExists', `Unit ${unit} was already loaded or has a fragment file.`);
        const map = new Map(props);
        const slice = String(map.get('Slice')?.value ?? 'system.slice');
        const dirs = this.dirsFor(slice, unit);
        for (const d of dirs) fs.mkdirSync(d, { recursive: true });
        for (const pid of (map.get('PIDs')?.value ?? []) as number[]) for (const d of dirs) fs.writeFileSync(path.join(d, 'cgroup.procs'), String(pid));
        this.applyLimits(dirs, map);
        this.units.set(unit, { slice, dirs, props: map });
        return this.finishJob(m, conn, unit, this.nextResult);
      }
      case 'Reload':
        this.reloads++;
        return conn.reply(m);
      case 'StartUnit':
      case 'RestartUnit': {
        if (m.signature !== 'ss') return conn.sendError(m, 'org.freedesktop.DBus.Error.InvalidArgs', `bad signature ${m.signature}`);
        const [unit] = body as [string, string];
        if (!unit.endsWith('.service')) return noSuch(unit);
        const svc = this.services.get(unit) ?? { active: false, starts: 0, restarts: 0 };
        if (m.member === 'RestartUnit') svc.restarts++;
        else if (!svc.active) svc.starts++;
        svc.active = true;
        this.services.set(unit, svc);
        return this.finishJob(m, conn, unit, 'done');
      }
      case 'StopUnit': {
        const [unit] = body as [string];
        const svc = this.services.get(unit);
        if (svc) {
          svc.active = false;
          return this.finishJob(m, conn, unit, 'done');
        }
        const u = this.units.get(unit);
        if (!u) return noSuch(unit);
        // KillMode=control-group: every process of the scope, then the scope's cgroups go.
        for (const d of u.dirs) for (const pid of readProcs(d)) killQuietly(pid);
        waitUntil(() => u.dirs.every((d) => readProcs(d).length === 0));
        for (const d of [...u.dirs].reverse()) fs.rmdirSync(d);
        this.units.delete(unit);
        return this.finishJob(m, conn, unit, 'done');
      }
      case 'GetUnit': {
        const [unit] = body as [string];
        if (!this.units.has(unit)) return noSuch(unit);
        return conn.reply(m, 'o', [`/org/freedesktop/systemd1/unit/${unit.replace(/[^A-Za-z0-9]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`]);
      }
      case 'ResetFailedUnit': {
        const [unit] = body as [string];
        if (this.units.get(unit)?.failed) this.units.delete(unit);
        return conn.reply(m);
      }
      case 'SetUnitProperties': {
        if (m.signature !== 'sba(sv)') return conn.sendError(m, 'org.freedesktop.DBus.Error.InvalidArgs', `bad signature ${m.signature}`);
        const [unit, , props] = body as [string, boolean, [string, Variant][]];
        const u = this.units.get(unit);
        if (!u) return noSuch(unit);
        for (const [k, val] of props) u.props.set(k, val);
        this.applyLimits(u.dirs, new Map(props));
        return conn.reply(m);
      }
      default:
        return conn.sendError(m, 'org.freedesktop.DBus.Error.UnknownMethod', `unknown method ${m.member}`);
    }
  }

  /** What systemd writes for the properties it holds (v1 and v2 file names). */
  private applyLimits(dirs: string[], p: Map<string, Variant>): void {
    const inf = (x: bigint, v2: boolean): string => (x === MAX64 ? (v2 ? 'max' : '-1') : String(x));
    const write = (file: string, value: string): void => {
      const d = dirs.find((x) => fs.existsSync(path.join(x, file)));
      if (d) fs.writeFileSync(path.join(d, file), value);
    };
    const num = (n: string): bigint | undefined => p.get(n)?.value as bigint | undefined;
    const tasks = num('TasksMax');
    if (tasks !== undefined) write('pids.max', tasks === MAX64 ? 'max' : String(tasks));
    const memLimit = num('MemoryLimit');
    if (memLimit !== undefined) write('memory.limit_in_bytes', inf(memLimit, false));
    const memMax = num('MemoryMax');
    if (memMax !== undefined) write('memory.max', inf(memMax, true));
    // Device rules, v1 (systemd's cgroup_apply_devices: deny all, then one allow line per DeviceAllow entry).
    const policy = p.get('DevicePolicy')?.value;
    const allow = (p.get('DeviceAllow')?.value ?? []) as [string, string][];
    if (policy === 'strict') {
      const groups = parseProcDevices(fs.readFileSync('/proc/devices', 'utf8'));
      write('devices.deny', 'a');
      for (const [spec, perms] of allow) {
        let m: RegExpExecArray | null;
        if ((m = /^\/dev\/(char|block)\/(\d+):(\d+)$/.exec(spec))) write('devices.allow', `${m[1][0]} ${m[2]}:${m[3]} ${perms}`);
        else if ((m = /^(char|block)-\*$/.exec(spec))) write('devices.allow', `${m[1][0]} *:* ${perms}`);
        else if ((m = /^(char|block)-(.+)$/.exec(spec))) {
          const type = m[1][0] as 'c' | 'b';
          for (const [major, name] of groups[type]) if (name === m[2]) write('devices.allow', `${type} ${major}:* ${perms}`);
        }
      }
    }
    const shares = num('CPUShares');
    if (shares !== undefined) write('cpu.shares', String(shares));
    const perSec = num('CPUQuotaPerSecUSec');
    const period = num('CPUQuotaPeriodUSec') ?? 100_000n;
    if (perSec !== undefined) {
      write('cpu.cfs_period_us', String(period));
      write('cpu.cfs_quota_us', perSec === MAX64 ? '-1' : String((perSec * period) / 1_000_000n));
    }
  }

  /** Stops every unit still known (a suite that failed half-way), as StopUnit would; returns their names. */
  reap(): string[] {
    const names = [...this.units.keys()];
    for (const u of this.units.values()) {
      for (const d of u.dirs) for (const pid of readProcs(d)) killQuietly(pid);
      waitUntil(() => u.dirs.every((d) => readProcs(d).length === 0));
      for (const d of [...u.dirs].reverse()) {
        try {
          fs.rmdirSync(d);
        } catch {
          // already gone
        }
      }
    }
    this.units.clear();
    return names;
  }

  close(): void {
    for (const p of this.peers) p.close();
    this.conn.close();
  }
}

/**
 * A stand-in for systemd's private socket (/run/systemd/private): accepts direct connections, checks the
 * client's SASL EXTERNAL bytes exactly, and hands the authenticated socket to the stand-in Manager.
 */
export function privateSocket(file: string, fake: FakeSystemd, authLines: string[]): Promise<net.Server> {
  const server = net.createServer((sock) => {
    let acc = Buffer.alloc(0);
    let answered = false;
    const onData = (d: Buffer): void => {
      acc = Buffer.concat([acc, d]);
      const text = acc.toString('latin1');
      const eol = text.indexOf('\r\n');
      if (eol < 0) return;
      if (!answered) {
        answered = true;
        const line = text.slice(0, eol);
        authLines.push(line);
        sock.write(line === `\0AUTH EXTERNAL ${Buffer.from(String(process.getuid?.())).toString('hex')}` ? 'OK 0123456789abcdef0123456789abcdef\r\n' : 'REJECTED EXTERNAL\r\n');
      }
      const begin = text.indexOf('BEGIN\r\n', eol);
      if (begin < 0) return;
      sock.off('data', onData);
      fake.attach(Connection.fromAuthenticated(sock, 'peer', acc.subarray(begin + 'BEGIN\r\n'.length)));
    };
    sock.on('data', onData);
  });
  return new Promise((resolve) => server.listen(file, () => resolve(server)));
}

export function readProcs(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number);
  } catch {
    return [];
  }
}

export function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

export function waitUntil(cond: () => boolean, ms = 5000): void {
  const end = Date.now() + ms;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    Atomics.wait(cell, 0, 0, 5);
  }
}

/** /proc/PID/cgroup as hierarchy key ("" for cgroup2, else the controller list) → path. */
export function procCgroup(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}
export const DBUS_DAEMON = ['/usr/bin/dbus-daemon', '/bin/dbus-daemon'].find((p) => fs.existsSync(p));

export interface SystemdStandin {
  /** The bus address dbus-daemon printed ("unix:path=<dir>/bus,guid=…"). */
  address: string;
  /** The bus socket's path. */
  socket: string;
  /** The temp dir holding the bus config and socket; suites may put more sockets here. */
  dir: string;
  daemonPid: number;
  fake: FakeSystemd;
  /** Closes the stand-in, ends dbus-daemon and removes `dir`; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts dbus-daemon on a private socket in a new temp dir and the stand-in Manager on it, serving `layout`.
 * Missing dbus-daemon or root is an error, not a skip (hack/deps installs dbus; the suites run as root).
 */
export async function startSystemdStandin(layout: CgroupLayout): Promise<SystemdStandin> {
  if (!DBUS_DAEMON) throw new Error('dbus-daemon is not installed: install the Debian package "dbus" (hack/deps does)');
  if (process.getuid?.() !== 0) throw new Error('these tests need root (cgroupfs writes)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dbus-'));
  trackTempDir(dir);
  const socket = path.join(dir, 'bus');
  const config = path.join(dir, 'bus.conf');
  fs.writeFileSync(
    config,
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
  );
  // setpriv --pdeathsig: the daemon dies with the test process even if jest itself is killed (setpriv execs).
  const daemon: ChildProcess = spawn('setpriv', ['--pdeathsig', 'SIGKILL', DBUS_DAEMON, `--config-file=${config}`, '--nofork', '--nopidfile', '--nosyslog', '--print-address=1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const daemonPid = daemon.pid as number;
  const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()));
  let fake: FakeSystemd | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    fake?.close();
    if (daemon.exitCode === null && daemon.signalCode === null) {
      process.kill(daemonPid, 'SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  atFileEnd(`dbus-daemon ${daemonPid}`, stop);
  try {
    let timer: NodeJS.Timeout | undefined;
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      let err = '';
      daemon.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      daemon.stderr?.on('data', (d: Buffer) => {
        err += d.toString();
      });
      daemon.on('exit', (code) => reject(new Error(`dbus-daemon exited (${code}): ${err}`)));
      timer = setTimeout(() => reject(new Error(`dbus-daemon did not start: ${err}`)), 10_000);
    }).finally(() => clearTimeout(timer));
    if (!address.includes(`unix:path=${socket}`)) throw new Error(`dbus-daemon listens on ${address}, not ${socket}`);
    fake = await FakeSystemd.start(address, layout);
    return { address, socket, dir, daemonPid, fake, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
