/**
 * How the agent starts, stops and restarts the node's own services (containerd after its config changed,
 * kubelet around a migration's switch). With `--service-manager systemd` (the DaemonSet): StartUnit, StopUnit
 * or RestartUnit on the host's systemd over D-Bus, the job waited for. With `direct` (the "host" is a directory
 * of this machine): the host's own `systemctl`, found under the host root (hack/cluster nodes have one that
 * drives their unit runners).
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { isExecutable } from '../../common/files';
import { connectSystemd, runJob, systemdError, type SystemdEndpoint } from '../../common/dbus/systemd-manager';
import type { NodeRuntime } from '../api/types';
import type { HostExec } from './host-exec';

export const CONTAINERD_UNIT = 'containerd.service';
export const KUBELET_UNIT = 'kubelet.service';

/** The units of a runtime kubelet can leave, in the order they stop (they start the other way round). */
export function runtimeUnits(runtime: NodeRuntime): readonly string[] {
  if (runtime === 'containerd') return ['containerd.service'];
  if (runtime === 'cri-dockerd') return ['cri-docker.service', 'docker.service'];
  if (runtime === 'cri-o') return ['crio.service'];
  return [];
}
const SYSTEMCTL = ['/usr/bin/systemctl', '/bin/systemctl', '/usr/local/bin/systemctl'];

export type UnitVerb = 'start' | 'stop' | 'restart';
/** Runs `verb` on the host's `unit` (e.g. kubelet.service) and resolves once the job is done. */
export type UnitJob = (verb: UnitVerb, unit: string) => Promise<void>;
export type RestartContainerd = () => Promise<void>;

const METHOD: Record<UnitVerb, string> = { start: 'StartUnit', stop: 'StopUnit', restart: 'RestartUnit' };

/** The host's systemd as the agent reaches it: its private socket, then the system bus. */
const hostEndpoints = (host: HostExec): SystemdEndpoint[] => [
  { address: host.inAgent('/run/systemd/private'), kind: 'peer' },
  { address: host.inAgent('/run/dbus/system_bus_socket'), kind: 'bus' },
];

export function unitJobsOverSystemd(host: HostExec, jobTimeoutMs = 120_000): UnitJob {
  return async (verb, unit) => {
    const conn = await connectSystemd(hostEndpoints(host));
    try {
      const what = `${METHOD[verb]}(${JSON.stringify(unit)})`;
      const r = await runJob(conn, METHOD[verb], 'ss', [unit, 'replace'], jobTimeoutMs).catch((err) => {
        throw systemdError(what, err);
      });
      if (r.result !== 'done') throw new BerthError('Unavailable', `systemd ${what}: job ${r.job} ended "${r.result}" (journalctl -u ${unit} says why)`);
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

export function unitJobsWithSystemctl(host: HostExec, timeoutMs = 120_000): UnitJob {
  return (verb, unit) => {
    const systemctl = hostSystemctl(host);
    if (!systemctl) {
      return Promise.reject(new BerthError('FailedPrecondition', `cannot ${verb} ${path.basename(unit, '.service')}: the host has no systemctl (looked for ${SYSTEMCTL.join(', ')} under ${host.hostRoot})`));
    }
    const [cmd, ...prefix] = [...host.argvPrefix, systemctl];
    const name = path.basename(unit, '.service');
    return new Promise((resolve, reject) => {
      execFile(cmd, [...prefix, verb, name], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, _stdout, stderr) => {
        if (!err) resolve();
        else reject(new BerthError('Unavailable', `${systemctl} ${verb} ${name}: ${stderr.trim() || err.message}`, { cause: err }));
      });
    });
  };
}

export const unitJobsFor = (manager: 'systemd' | 'direct', host: HostExec): UnitJob =>
  (manager === 'systemd' ? unitJobsOverSystemd(host) : unitJobsWithSystemctl(host));

export const restartWithSystemctl = (host: HostExec, timeoutMs?: number): RestartContainerd => () => unitJobsWithSystemctl(host, timeoutMs)('restart', CONTAINERD_UNIT);

export const restartFor = (manager: 'systemd' | 'direct', host: HostExec): RestartContainerd => () => unitJobsFor(manager, host)('restart', CONTAINERD_UNIT);
