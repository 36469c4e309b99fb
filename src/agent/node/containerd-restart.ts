/**
 * How the agent restarts the node's containerd after its config changed. With `--service-manager systemd`
 * (the DaemonSet): RestartUnit("containerd.service") on the host's systemd over D-Bus, the job waited for.
 * With `direct` (the "host" is a directory of this machine): the host's own `systemctl restart containerd`,
 * found under the host root (hack/cluster nodes have one that drives their unit runners).
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { isExecutable } from '../../common/files';
import { connectSystemd, runJob, systemdError, type SystemdEndpoint } from '../../common/dbus/systemd-manager';
import type { HostExec } from './host-exec';

export const CONTAINERD_UNIT = 'containerd.service';
const SYSTEMCTL = ['/usr/bin/systemctl', '/bin/systemctl', '/usr/local/bin/systemctl'];

export type RestartContainerd = () => Promise<void>;

/** The host's systemd as the agent reaches it: its private socket, then the system bus. */
const hostEndpoints = (host: HostExec): SystemdEndpoint[] => [
  { address: host.inAgent('/run/systemd/private'), kind: 'peer' },
  { address: host.inAgent('/run/dbus/system_bus_socket'), kind: 'bus' },
];

export function restartOverSystemd(host: HostExec, jobTimeoutMs = 120_000): RestartContainerd {
  return async () => {
    const conn = await connectSystemd(hostEndpoints(host));
    try {
      const what = `RestartUnit(${JSON.stringify(CONTAINERD_UNIT)})`;
      const r = await runJob(conn, 'RestartUnit', 'ss', [CONTAINERD_UNIT, 'replace'], jobTimeoutMs).catch((err) => {
        throw systemdError(what, err);
      });
      if (r.result !== 'done') throw new BerthError('Unavailable', `systemd ${what}: job ${r.job} ended "${r.result}" (journalctl -u ${CONTAINERD_UNIT} says why)`);
    } finally {
      conn.close();
    }
  };
}

/** The host's systemctl, as the agent sees it; undefined when the host has none. */
export function hostSystemctl(host: HostExec): string | undefined {
  const found = SYSTEMCTL.find((p) => isExecutable(host.inAgent(p)));
  return found && host.onHost(found);
}

export function restartWithSystemctl(host: HostExec, timeoutMs = 120_000): RestartContainerd {
  return () => {
    const systemctl = hostSystemctl(host);
    if (!systemctl) {
      return Promise.reject(new BerthError('FailedPrecondition', `cannot restart containerd: the host has no systemctl (looked for ${SYSTEMCTL.join(', ')} under ${host.hostRoot})`));
    }
    const [cmd, ...prefix] = [...host.argvPrefix, systemctl];
    return new Promise((resolve, reject) => {
      execFile(cmd, [...prefix, 'restart', path.basename(CONTAINERD_UNIT, '.service')], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, _stdout, stderr) => {
        if (!err) resolve();
        else reject(new BerthError('Unavailable', `${systemctl} restart containerd: ${stderr.trim() || err.message}`, { cause: err }));
      });
    });
  };
}

export const restartFor = (manager: 'systemd' | 'direct', host: HostExec): RestartContainerd =>
  (manager === 'systemd' ? restartOverSystemd(host) : restartWithSystemctl(host));
