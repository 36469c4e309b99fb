/**
 * Reads the files endpoint.ts locates kubelet's runtime endpoint in, from the host the agent sees: kubelet's
 * unit, drop-ins and env files (as install/kubelet-cgroup.ts reads them for the cgroup driver), its
 * KubeletConfiguration and `--config-dir` drop-ins, kubeadm's instance config, and the running kubelet's
 * command line. Missing files are skipped: each distribution has only some of them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { kubeletConfigPath, readKubeletSources, readText, type TextFile } from '../install/kubelet-cgroup';
import type { HostExec } from '../node/host-exec';
import { type KubeletEndpoint, type KubeletEndpointSources, lastFlag, locateKubeletEndpoint } from './endpoint';

export const KUBEADM_INSTANCE_CONFIG = '/var/lib/kubelet/instance-config.yaml';

export interface EndpointReadOptions {
  /**
   * Where the host's processes are: the agent shares the host's PID namespace in the DaemonSet, so its own
   * /proc (the default) shows the host's kubelet.
   */
  readonly procRoot?: string;
  /** The kubelet's PID; unset: the one process named kubelet, if there is exactly one. */
  readonly kubeletPid?: number;
}

/** The one kubelet under `procRoot`; undefined when there is none or several (test clusters run several on one machine). */
export function findKubeletPid(procRoot: string): number | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return undefined;
  }
  const pids = entries.filter((e) => /^\d+$/.test(e) && readText(path.join(procRoot, e, 'comm'))?.trim() === 'kubelet');
  return pids.length === 1 ? Number(pids[0]) : undefined;
}

const textFile = (file: string, agentPath: string): TextFile | undefined => {
  const text = readText(agentPath);
  return text === undefined ? undefined : { file, text };
};

/** The last value of `--name` in the flag files, else on the command line. */
function lastFlagValue(files: readonly TextFile[], cmd: TextFile | undefined, name: string): string | undefined {
  let found: string | undefined;
  for (const f of files) found = lastFlag(f.text, name) ?? found;
  return found ?? (cmd ? lastFlag(cmd.text, name) : undefined);
}

export function readKubeletEndpointSources(host: HostExec, opts: EndpointReadOptions = {}): KubeletEndpointSources {
  const base = readKubeletSources(host);
  const procRoot = opts.procRoot ?? '/proc';
  const pid = opts.kubeletPid ?? findKubeletPid(procRoot);
  const commandLine = pid === undefined ? undefined : textFile(`/proc/${pid}/cmdline`, path.join(procRoot, String(pid), 'cmdline'));

  // A kubelet started without a unit names its config only on its command line.
  let config = base.config;
  const cmdConfig = kubeletConfigPath(base.flagFiles) === undefined && commandLine ? lastFlagValue([], commandLine, 'config') : undefined;
  if (cmdConfig !== undefined) config = textFile(cmdConfig, host.fromHostFile(cmdConfig));

  const configDir = lastFlagValue(base.flagFiles, commandLine, 'config-dir');
  let configDropIns: TextFile[] = [];
  if (configDir !== undefined) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(host.fromHostFile(configDir)).filter((n) => n.endsWith('.conf')).sort();
    } catch {
      // No such directory: kubelet runs without drop-ins then.
    }
    configDropIns = names.flatMap((n) => textFile(path.join(configDir, n), path.join(host.fromHostFile(configDir), n)) ?? []);
  }
  const instanceConfig = textFile(KUBEADM_INSTANCE_CONFIG, host.inAgent(KUBEADM_INSTANCE_CONFIG));
  return { flagFiles: base.flagFiles, config, configDropIns, instanceConfig, commandLine };
}

/** Reads kubelet's files on the host and locates its endpoint in them. */
export const readKubeletEndpoint = (host: HostExec, opts: EndpointReadOptions = {}): KubeletEndpoint => locateKubeletEndpoint(readKubeletEndpointSources(host, opts));
