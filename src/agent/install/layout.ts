/**
 * Where the stack goes on a node, every path derived from one host root so that several agents (each a node
 * of a test cluster) run side by side on one machine with different host roots.
 *
 * A path has two views. The agent sees the host at `hostRoot` (`/host` in the DaemonSet). The daemons it
 * starts see it from wherever they run: on the host itself (systemd units, or nsenter) they see the host's own
 * paths, so berthd's config must say `/var/lib/berth`; with `--service-manager direct` in tests they run in the
 * agent's mount namespace and must be told `<hostRoot>/var/lib/berth`. `HostView` names both explicitly.
 */
import * as path from 'node:path';
import { invalid } from '../../common/errors';

export interface HostView {
  /** Where the agent sees the host's `/`. */
  readonly hostRoot: string;
  /** What goes before a host path for the daemons the agent starts: '' when they run on the host, else hostRoot. */
  readonly pathPrefixForDaemons: string;
}

/** systemd: the daemons run on the host proper; direct: beside the agent, in its mount namespace. */
export function hostView(hostRoot: string, serviceManager: 'systemd' | 'direct'): HostView {
  if (!path.isAbsolute(hostRoot)) throw invalid('hostRoot', `must be an absolute path, got ${JSON.stringify(hostRoot)}`);
  const root = path.resolve(hostRoot);
  return { hostRoot: root, pathPrefixForDaemons: serviceManager === 'direct' ? root : '' };
}

/** The host's own paths (as the host sees them, without any root). */
export const HOST_PATHS = {
  /** One directory per stack version, `current` and `previous` links beside them. */
  stacks: '/opt/berth',
  config: '/etc/berth/config.yaml',
  runtimesDir: '/etc/berth/runtimes.d',
  root: '/var/lib/berth',
  state: '/run/berth',
  socket: '/run/berth/berthd.sock',
  logDir: '/var/log/berth',
  cniConfDir: '/etc/cni/net.d',
  cniBinDir: '/opt/cni/bin',
  /** berth-host-local's leases (the CNI default place for host-local IPAM). */
  cniIpamDir: '/var/lib/cni/networks',
  systemdUnitDir: '/etc/systemd/system',
  kubeletConfig: '/var/lib/kubelet/config.yaml',
} as const;

export type HostPaths = { readonly [K in keyof typeof HOST_PATHS]: string };

export const CURRENT_LINK = 'current';
export const PREVIOUS_LINK = 'previous';

export interface Layout {
  readonly view: HostView;
  /** Every path as the agent reaches it (reading, writing, copying). */
  readonly agent: HostPaths;
  /** Every path as the daemons the agent starts see it (what goes into their config and command lines). */
  readonly daemon: HostPaths;
  /** `/opt/berth/<version>` as the agent sees it. */
  versionDir(version: string): string;
  /** The host path `p` in the agent's view. */
  inAgent(p: string): string;
  /** The host path `p` in the daemons' view. */
  forDaemon(p: string): string;
}

/** Version names become directory names: no separators, nothing hidden, nothing that looks like our links. */
export function validateVersion(version: string, field = 'version'): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/.test(version) || version === CURRENT_LINK || version === PREVIOUS_LINK) {
    throw invalid(field, `${JSON.stringify(version)} is not a usable version name (letters, digits, ".", "_", "+", "-"; not "current" or "previous")`);
  }
  return version;
}

function under(prefix: string): HostPaths {
  const out: Record<string, string> = {};
  for (const [k, p] of Object.entries(HOST_PATHS)) out[k] = prefix ? path.join(prefix, p) : p;
  return out as HostPaths;
}

export function layoutOf(view: HostView): Layout {
  const agent = under(view.hostRoot === '/' ? '' : view.hostRoot);
  const daemon = under(view.pathPrefixForDaemons);
  return {
    view, agent, daemon,
    versionDir: (version) => path.join(agent.stacks, validateVersion(version)),
    inAgent: (p) => path.join(view.hostRoot, p),
    forDaemon: (p) => (view.pathPrefixForDaemons ? path.join(view.pathPrefixForDaemons, p) : p),
  };
}
