/**
 * `--service-manager systemd` (the DaemonSet): berthd as the host's `berthd.service`, its unit file written to
 * the host's /etc/systemd/system and driven through the host's systemd over D-Bus
 * (org.freedesktop.systemd1.Manager Reload / StartUnit / RestartUnit / StopUnit), reached through the host's
 * private socket or system bus under the host root.
 *
 * The unit names the versioned binary and carries the config's sha256, so that "binary or config changed" is
 * exactly "the unit file's bytes changed": an unchanged unit is only started (a no-op when it runs), a changed
 * one is reloaded and restarted. An agent restart therefore never restarts an unchanged berthd.
 *
 * Why KillMode=process (as Debian's and upstream containerd.service have it, with Delegate=yes): berthd starts
 * berth-shim, and the shim the berth-monitors, which all land in berthd.service's cgroup; the containers
 * themselves are in their own cgroups (berth-init joins them). With the default KillMode=control-group a
 * restart or stop of berthd would kill every process of that cgroup, shim and monitors included, and with the
 * monitors every container's stdio, logs and exit status. KillMode=process signals berthd's main process
 * only; the shim and monitors stay, and the next berthd finds them. Delegate=yes tells systemd that the
 * unit's cgroup subtree is managed by the daemon, so systemd does not move or prune what is below it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../common/errors';
import type { Connection } from '../../common/dbus/connection';
import { Variant } from '../../common/dbus/marshal';
import { connectSystemd, MANAGER, runJob, type SystemdEndpoint, systemdError, SYSTEMD_NAME, SYSTEMD_PATH } from '../../common/dbus/systemd-manager';
import { Logger, silentLogger } from '../../common/log';
import { sha256Hex, writeIfChanged } from '../install/config';
import type { Layout } from '../install/layout';
import { currentVersion } from '../install/stack';
import { checkBerthd, type BerthdHealth } from './health';
import type { BerthdService, EnsureResult } from './types';

export const UNIT_NAME = 'berthd.service';

export interface UnitInputs {
  /** berthd's program, host view (e.g. /opt/berth/0.1.0/bin/berthd). */
  readonly binary: string;
  /** berthd's config, host view. */
  readonly configFile: string;
  readonly configHash: string;
}

/** systemd's quoting of one ExecStart word. */
const word = (w: string): string => (/[\s"'\\$;%]/.test(w) ? `"${w.replace(/(["\\$%])/g, '\\$1')}"` : w);

/** Pure: the unit file. */
export function renderUnit(u: UnitInputs): string {
  return [
    '# Written by berth-agent; a change of binary or config rewrites it, and the agent restarts berthd.',
    '[Unit]',
    'Description=Berth CRI server (berthd)',
    'After=network.target local-fs.target',
    '',
    '[Service]',
    'ExecStartPre=-/sbin/modprobe overlay',
    `ExecStart=${[u.binary, '--config', u.configFile].map(word).join(' ')}`,
    `Environment=BERTH_CONFIG_SHA256=${u.configHash}`,
    'Type=simple',
    'Restart=always',
    'RestartSec=1',
    // See the file comment: only berthd itself is signalled; shim, monitors and containers stay.
    'KillMode=process',
    'Delegate=yes',
    'OOMScoreAdjust=-999',
    'LimitNOFILE=infinity',
    'LimitNPROC=infinity',
    'LimitCORE=infinity',
    'TasksMax=infinity',
    'TimeoutStopSec=15',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The host's systemd as the agent reaches it: its private socket, then the system bus, under the host root. */
export function hostSystemdEndpoints(layout: Layout): SystemdEndpoint[] {
  return [
    { address: layout.inAgent('/run/systemd/private'), kind: 'peer' },
    { address: layout.inAgent('/run/dbus/system_bus_socket'), kind: 'bus' },
  ];
}

export interface SystemdServiceOptions {
  readonly layout: Layout;
  /** Default hostSystemdEndpoints(layout). */
  readonly endpoints?: readonly SystemdEndpoint[];
  readonly log?: Logger;
  /** How long a start/restart/stop job may take; default 60 s. */
  readonly jobTimeoutMs?: number;
}

export class SystemdService implements BerthdService {
  private readonly log: Logger;

  constructor(private readonly o: SystemdServiceOptions) {
    this.log = o.log ?? silentLogger;
  }

  get unitFile(): string {
    return path.join(this.o.layout.agent.systemdUnitDir, UNIT_NAME);
  }

  private inputs(): UnitInputs {
    const { layout } = this.o;
    const v = currentVersion(layout);
    if (!v) throw new BerthError('FailedPrecondition', `no stack is installed (${path.join(layout.agent.stacks, 'current')} is missing)`);
    let configHash: string;
    try {
      configHash = sha256Hex(fs.readFileSync(layout.agent.config));
    } catch (err) {
      throw new BerthError('FailedPrecondition', `berthd's config ${layout.agent.config}: ${(err as Error).message}`, { cause: err });
    }
    return { binary: path.join(layout.daemon.stacks, v, 'bin', 'berthd'), configFile: layout.daemon.config, configHash };
  }

  private async withManager<T>(fn: (conn: Connection) => Promise<T>): Promise<T> {
    const conn = await connectSystemd(this.o.endpoints ?? hostSystemdEndpoints(this.o.layout));
    try {
      return await fn(conn);
    } finally {
      conn.close();
    }
  }

  private async job(conn: Connection, member: 'StartUnit' | 'RestartUnit' | 'StopUnit'): Promise<void> {
    const what = `${member}(${JSON.stringify(UNIT_NAME)})`;
    const r = await runJob(conn, member, 'ss', [UNIT_NAME, 'replace'], this.o.jobTimeoutMs ?? 60_000).catch((err) => {
      throw systemdError(what, err);
    });
    if (r.result !== 'done') throw new BerthError('Unavailable', `systemd ${what}: job ${r.job} ended "${r.result}" (journalctl -u ${UNIT_NAME} says why)`);
  }

  /** berthd's MainPID, 0 when systemd does not say. */
  private async mainPid(conn: Connection): Promise<number> {
    try {
      const unit = await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'GetUnit', signature: 's', body: [UNIT_NAME] });
      const r = await conn.call({ destination: SYSTEMD_NAME, path: String(unit.body?.[0]), interface: 'org.freedesktop.DBus.Properties', member: 'Get', signature: 'ss', body: ['org.freedesktop.systemd1.Service', 'MainPID'] });
      const v = r.body?.[0];
      return v instanceof Variant && typeof v.value === 'number' ? v.value : 0;
    } catch {
      return 0;
    }
  }

  /** `multi-user.target.wants/berthd.service`, as `systemctl enable` makes it, so berthd starts at boot. */
  private enable(): boolean {
    const wants = path.join(this.o.layout.agent.systemdUnitDir, 'multi-user.target.wants');
    const link = path.join(wants, UNIT_NAME);
    const target = path.join(this.o.layout.daemon.systemdUnitDir, UNIT_NAME);
    try {
      if (fs.readlinkSync(link) === target) return false;
    } catch {
      // not enabled yet
    }
    fs.mkdirSync(wants, { recursive: true, mode: 0o755 });
    const tmp = path.join(wants, `.${UNIT_NAME}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    fs.symlinkSync(target, tmp);
    fs.renameSync(tmp, link);
    return true;
  }

  /**
   * Set before a changed unit is written, cleared once systemd restarted it: an agent killed in between
   * leaves it, and the next one restarts although the file is unchanged by then. On /run: after a reboot
   * systemd started the unit as written anyway.
   */
  private get pendingFile(): string {
    return path.join(this.o.layout.agent.state, 'berthd.unit.pending');
  }

  async ensure(): Promise<EnsureResult> {
    const inputs = this.inputs();
    const text = renderUnit(inputs);
    let onDisk: string | undefined;
    try {
      onDisk = fs.readFileSync(this.unitFile, 'utf8');
    } catch {
      onDisk = undefined;
    }
    if (onDisk !== text) {
      fs.mkdirSync(this.o.layout.agent.state, { recursive: true, mode: 0o700 });
      fs.writeFileSync(this.pendingFile, '');
    }
    const written = writeIfChanged(this.unitFile, text);
    const enabled = this.enable();
    const restart = written.changed || fs.existsSync(this.pendingFile);
    return this.withManager(async (conn) => {
      if (restart || enabled) {
        await conn.call({ destination: SYSTEMD_NAME, path: SYSTEMD_PATH, interface: MANAGER, member: 'Reload' }).catch((err) => {
          throw systemdError('Reload', err);
        });
      }
      // RestartUnit starts a stopped unit too; StartUnit on a running one is a no-op job.
      await this.job(conn, restart ? 'RestartUnit' : 'StartUnit');
      fs.rmSync(this.pendingFile, { force: true });
      const pid = await this.mainPid(conn);
      this.log.info(restart ? 'berthd.service restarted' : 'berthd.service started (or already running)', { pid, binary: inputs.binary });
      return restart
        ? { action: 'restarted', pid, reason: 'the unit changed (binary or config)' }
        : { action: 'running', pid, reason: 'unit unchanged' };
    });
  }

  health(): Promise<BerthdHealth> {
    return checkBerthd(this.o.layout.agent.socket);
  }

  /** StopUnit: with KillMode=process only berthd goes; the unit file stays (uninstall removes it). */
  stop(): Promise<void> {
    return this.withManager((conn) => this.job(conn, 'StopUnit'));
  }

  close(): void {
    // Nothing held between calls: each call connects to systemd and disconnects.
  }
}
