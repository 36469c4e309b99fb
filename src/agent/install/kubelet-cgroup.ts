/**
 * Kubelet's cgroup driver, which berthd's must equal. A pure parser over the texts of kubelet's files, and a
 * small reader that finds those files on the host.
 *
 * Where kubelet gets it: the `--cgroup-driver` flag wins over `cgroupDriver` in its KubeletConfiguration file
 * (`--config`, /var/lib/kubelet/config.yaml under kubeadm); flags come from the unit's drop-ins (ExecStart and
 * Environment lines) and the env files they include (kubeadm-flags.env, /etc/default/kubelet's
 * KUBELET_EXTRA_ARGS, /etc/sysconfig/kubelet). kubeadm's unit expands them in that order, and the last
 * occurrence of a flag wins. Nothing set: kubelet's own default, `cgroupfs` (KubeletConfiguration v1beta1;
 * kubeadm ≥ 1.22 writes `systemd` into the file it generates, which the file then says).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { invalid } from '../../common/errors';
import type { Layout } from './layout';

export type CgroupDriver = 'cgroupfs' | 'systemd';
export const KUBELET_DEFAULT_CGROUP_DRIVER: CgroupDriver = 'cgroupfs';

export interface TextFile {
  readonly file: string;
  readonly text: string;
}

export interface KubeletCgroupSources {
  /** Unit drop-ins and env files, in the order kubelet's command line takes them (later wins). */
  readonly flagFiles: readonly TextFile[];
  /** The KubeletConfiguration file, when there is one. */
  readonly config?: TextFile;
}

export interface CgroupDriverFinding {
  readonly driver: CgroupDriver;
  /** Where it came from: `<file>: --cgroup-driver`, `<file>: cgroupDriver`, or `kubelet's default`. */
  readonly source: string;
}

/** Lines that are not comments (systemd and shell env files both use `#`). */
const liveLines = (text: string): string[] => text.split('\n').filter((l) => !/^\s*[#;]/.test(l));

/** Every value of `--name` (`--name=v`, `--name v`, quoted or not) in the text, in order. */
export function flagValues(text: string, name: string): string[] {
  const re = new RegExp(`(?:^|[\\s"'=])--${name}(?:=|\\s+)("[^"]*"|'[^']*'|[^\\s"'\\\\]+)`, 'g');
  const out: string[] = [];
  for (const line of liveLines(text)) {
    for (let m; (m = re.exec(line));) out.push(m[1].replace(/^["']|["']$/g, ''));
    re.lastIndex = 0;
  }
  return out;
}

function checkDriver(value: unknown, field: string): CgroupDriver {
  if (value === 'cgroupfs' || value === 'systemd') return value;
  throw invalid(field, `kubelet's cgroup driver must be cgroupfs or systemd, got ${JSON.stringify(value)}`);
}

/** The `--config` file kubelet is started with, if a flag file says. */
export function kubeletConfigPath(flagFiles: readonly TextFile[]): string | undefined {
  let found: string | undefined;
  for (const f of flagFiles) found = flagValues(f.text, 'config').pop() ?? found;
  return found;
}

/** Pure: what kubelet would use, given the texts of its files. */
export function parseKubeletCgroupDriver(src: KubeletCgroupSources): CgroupDriverFinding {
  let flag: CgroupDriverFinding | undefined;
  for (const f of src.flagFiles) {
    const v = flagValues(f.text, 'cgroup-driver').pop();
    if (v !== undefined) flag = { driver: checkDriver(v, `${f.file}: --cgroup-driver`), source: `${f.file}: --cgroup-driver` };
  }
  if (flag) return flag;
  if (src.config && src.config.text.trim() !== '') {
    let doc: unknown;
    try {
      doc = parse(src.config.text);
    } catch (err) {
      throw invalid(`${src.config.file}`, `kubelet's configuration is not YAML: ${(err as Error).message}`);
    }
    const v = doc && typeof doc === 'object' ? (doc as Record<string, unknown>).cgroupDriver : undefined;
    if (v !== undefined && v !== '') return { driver: checkDriver(v, `${src.config.file}: cgroupDriver`), source: `${src.config.file}: cgroupDriver` };
  }
  return { driver: KUBELET_DEFAULT_CGROUP_DRIVER, source: "kubelet's default" };
}

const DROP_IN_DIRS = ['/usr/lib/systemd/system/kubelet.service.d', '/lib/systemd/system/kubelet.service.d', '/etc/systemd/system/kubelet.service.d', '/run/systemd/system/kubelet.service.d'];
const UNIT_FILES = ['/usr/lib/systemd/system/kubelet.service', '/lib/systemd/system/kubelet.service', '/etc/systemd/system/kubelet.service'];
const ENV_FILES = ['/var/lib/kubelet/kubeadm-flags.env', '/etc/default/kubelet', '/etc/sysconfig/kubelet'];

/** A file's text, or undefined when it cannot be read (missing files are the normal case on a node). */
export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** How the agent reaches host paths: plain ones, and ones named inside the host's own files. */
export interface HostFiles {
  inAgent(hostPath: string): string;
  fromHostFile(p: string): string;
}

/**
 * A path named inside one of the host's files, as the agent reaches it: a host path under the host root,
 * unless it is one already (the test clusters' kubelets are configured with real paths of this machine).
 */
export function layoutFiles(layout: Layout): HostFiles {
  const root = layout.view.hostRoot;
  return { inAgent: layout.inAgent, fromHostFile: (p) => (root !== '/' && (p === root || p.startsWith(`${root}/`)) ? p : layout.inAgent(p)) };
}

/** kubelet's files on the host, in the order its command line takes them (missing ones are skipped). */
export function readKubeletSources(host: HostFiles): KubeletCgroupSources {
  const flagFiles: TextFile[] = [];
  const add = (hostPath: string): void => {
    const text = readText(host.inAgent(hostPath));
    if (text !== undefined) flagFiles.push({ file: hostPath, text });
  };
  for (const u of UNIT_FILES) add(u);
  // systemd applies drop-ins sorted by file name across their directories.
  const dropIns = new Map<string, string>();
  for (const d of DROP_IN_DIRS) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(host.inAgent(d));
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.conf')) dropIns.set(n, path.join(d, n));
  }
  for (const n of [...dropIns.keys()].sort()) add(dropIns.get(n) as string);
  for (const e of ENV_FILES) add(e);
  const configHostPath = kubeletConfigPath(flagFiles) ?? '/var/lib/kubelet/config.yaml';
  const configText = readText(host.fromHostFile(configHostPath));
  return { flagFiles, config: configText === undefined ? undefined : { file: configHostPath, text: configText } };
}

/** Reads kubelet's files on the host and parses them. */
export const readKubeletCgroupDriver = (layout: Layout): CgroupDriverFinding => parseKubeletCgroupDriver(readKubeletSources(layoutFiles(layout)));

/** Pure: kubelet's CRI endpoint (`--container-runtime-endpoint` over `containerRuntimeEndpoint`), '' if none. */
export function parseKubeletRuntimeEndpoint(src: KubeletCgroupSources): string {
  let flag: string | undefined;
  for (const f of src.flagFiles) flag = flagValues(f.text, 'container-runtime-endpoint').pop() ?? flag;
  if (flag !== undefined) return flag;
  let doc: unknown;
  try {
    doc = src.config ? parse(src.config.text) : undefined;
  } catch {
    return '';
  }
  const v = doc && typeof doc === 'object' ? (doc as Record<string, unknown>).containerRuntimeEndpoint : undefined;
  return typeof v === 'string' ? v : '';
}

/**
 * The top-level mapping of a KubeletConfiguration-like YAML file (kubelet's config, its drop-ins, kubeadm's
 * instance config); undefined when the file is empty or not a mapping. Throws `invalid(file)` when it is not
 * YAML, which kubelet would refuse too.
 */
export function yamlMapping(f: TextFile): Readonly<Record<string, unknown>> | undefined {
  let doc: unknown;
  try {
    doc = parse(f.text);
  } catch (err) {
    throw invalid(f.file, `not YAML: ${(err as Error).message}`);
  }
  return doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
}
