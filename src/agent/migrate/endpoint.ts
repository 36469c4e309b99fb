/**
 * Where kubelet's container runtime endpoint is configured on a node: every place that sets it, so that the
 * switch to berthd can back up and rewrite each one (leaving one behind would bring the old runtime back at
 * the next restart or kubeadm upgrade), and which of them kubelet actually takes. Pure: it works on the texts
 * of kubelet's files as install/kubelet-cgroup.ts finds and orders them; endpoint-read.ts reads them.
 *
 * kubelet's precedence: a `--container-runtime-endpoint` flag beats the KubeletConfiguration; among flags the
 * last one on the command line wins, as systemd expands ExecStart from the unit, its drop-ins and their env
 * files (kubelet-unit.ts). A flag in a file the unit does not use is listed but does not win. Within the
 * configuration, the `--config-dir` drop-ins (sorted, later wins) beat the `--config` file. kubeadm's
 * /var/lib/kubelet/instance-config.yaml is not read by kubelet: kubeadm (NodeLocalCRISocket) merges it into
 * config.yaml on init, join and upgrade, so it never wins but must be rewritten too, or the next upgrade
 * puts the old endpoint back. The running kubelet's command line shows what it uses now, which differs from
 * the files when they were edited after kubelet started.
 */
import { flagValues, type KubeletCgroupSources, type TextFile, yamlMapping } from '../install/kubelet-cgroup';
import { expandKubeletExecStart, tracedFlagValues } from './kubelet-unit';

/** kubelet's own default when nothing sets the endpoint (KubeletConfiguration v1beta1, Linux). */
export const KUBELET_DEFAULT_RUNTIME_ENDPOINT = 'unix:///run/containerd/containerd.sock';
export const ENDPOINT_FLAG = 'container-runtime-endpoint';
export const ENDPOINT_FIELD = 'containerRuntimeEndpoint';

export interface KubeletEndpointSources extends KubeletCgroupSources {
  /** The `--config-dir` drop-ins (`*.conf`), in name order. */
  readonly configDropIns?: readonly TextFile[];
  /** kubeadm's /var/lib/kubelet/instance-config.yaml. */
  readonly instanceConfig?: TextFile;
  /** The running kubelet's /proc/<pid>/cmdline: its argv, NUL-separated. */
  readonly commandLine?: TextFile;
}

export type EndpointSettingKind =
  | 'unit' // kubelet.service ExecStart
  | 'drop-in' // kubelet.service.d/*.conf ExecStart or Environment
  | 'kubeadm-flags' // /var/lib/kubelet/kubeadm-flags.env KUBELET_KUBEADM_ARGS
  | 'env-file' // /etc/default/kubelet, /etc/sysconfig/kubelet KUBELET_EXTRA_ARGS
  | 'command-line' // the running kubelet's argv (read only: it changes when kubelet restarts)
  | 'kubelet-config-drop-in' // a --config-dir drop-in's containerRuntimeEndpoint
  | 'kubelet-config' // the --config file's containerRuntimeEndpoint
  | 'kubeadm-instance-config'; // kubeadm's instance-config.yaml containerRuntimeEndpoint

export interface EndpointSetting {
  /** The host's path of the file (for the command line, /proc/<pid>/cmdline). */
  readonly file: string;
  readonly kind: EndpointSettingKind;
  /** The `--container-runtime-endpoint` flag or the `containerRuntimeEndpoint` field. */
  readonly form: 'flag' | 'field';
  /** What this place sets (the last occurrence, when a file sets it twice). */
  readonly value: string;
  /** The place whose value kubelet takes on its next start; at most one setting wins. */
  readonly wins: boolean;
}

export interface KubeletEndpoint {
  /** Every place that sets the endpoint: flag files in kubelet's order, the command line, then the configuration. */
  readonly settings: readonly EndpointSetting[];
  /** The winning value; '' when nothing sets it (kubelet then uses KUBELET_DEFAULT_RUNTIME_ENDPOINT). */
  readonly endpoint: string;
  /** What the running kubelet was started with, when its command line was read and has the flag. */
  readonly running?: string;
  /** Files that could not be understood (`<file>: why`); a rewrite must not touch a file it cannot parse. */
  readonly problems: readonly string[];
}

/** Which kind of flag file `file` is, by where kubelet's packaging puts each. */
export function flagFileKind(file: string): EndpointSettingKind {
  if (file.endsWith('/kubelet.service')) return 'unit';
  if (file.includes('/kubelet.service.d/')) return 'drop-in';
  if (file.endsWith('/kubeadm-flags.env')) return 'kubeadm-flags';
  return 'env-file';
}

/** The last `--name` in a flag file's text or a /proc cmdline (whose NUL-separated argv counts as one line). */
export const lastFlag = (text: string, name = ENDPOINT_FLAG): string | undefined => flagValues(text.replace(/\0/g, ' '), name).pop();

/** Pure: every place that sets kubelet's endpoint, and which wins. */
export function locateKubeletEndpoint(src: KubeletEndpointSources): KubeletEndpoint {
  const problems: string[] = [];
  type Unranked = Omit<EndpointSetting, 'wins'>;
  const flags: Unranked[] = [];
  for (const f of src.flagFiles) {
    const value = lastFlag(f.text);
    if (value !== undefined) flags.push({ file: f.file, kind: flagFileKind(f.file), form: 'flag', value });
  }
  const cmdValue = src.commandLine ? lastFlag(src.commandLine.text) : undefined;
  const cmd: Unranked | undefined = src.commandLine && cmdValue !== undefined ? { file: src.commandLine.file, kind: 'command-line', form: 'flag', value: cmdValue } : undefined;
  const field = (f: TextFile | undefined, kind: EndpointSettingKind): Unranked[] => {
    if (!f) return [];
    try {
      const v = yamlMapping(f)?.[ENDPOINT_FIELD];
      if (v === undefined || v === null || v === '') return [];
      if (typeof v === 'string') return [{ file: f.file, kind, form: 'field', value: v }];
      problems.push(`${f.file}: ${ENDPOINT_FIELD} must be a string, not ${JSON.stringify(v)}`);
    } catch (err) {
      problems.push((err as Error).message);
    }
    return [];
  };
  const dropIns = (src.configDropIns ?? []).flatMap((f) => field(f, 'kubelet-config-drop-in'));
  const config = field(src.config, 'kubelet-config');
  const instance = field(src.instanceConfig, 'kubeadm-instance-config');

  // The winner, in kubelet's order: the flag systemd puts last on kubelet's command line (without a unit to
  // expand, the last flag file), else the running command line (a kubelet started by hand or by a test harness
  // has no unit), else the last config drop-in, else the config file.
  const line = expandKubeletExecStart(src.flagFiles);
  const lastOnLine = line ? tracedFlagValues(line, ENDPOINT_FLAG).at(-1) : undefined;
  const flagWinner = line ? flags.find((s) => s.file === lastOnLine?.file) : flags.at(-1);
  // With a unit, its command line is the one kubelet starts with next: the running one only wins without.
  const winner = flagWinner ?? (line ? undefined : cmd) ?? dropIns.at(-1) ?? config[0];
  const settings = [...flags, ...(cmd ? [cmd] : []), ...dropIns, ...config, ...instance].map((s): EndpointSetting => ({ ...s, wins: s === winner }));
  return { settings, endpoint: winner?.value ?? '', ...(cmdValue !== undefined ? { running: cmdValue } : {}), problems };
}
