/**
 * linux.namespaces for a pod container: its own mount (and, unless privileged, cgroup) namespace; the pod's
 * network, IPC and UTS namespaces joined by path, or none (the host's) for host-namespace pods; the PID namespace
 * per namespace_options.pid; the pod's user namespace and id mappings when userns_options says POD.
 */
import { precondition, invalid } from '../../common/errors';
import type { IdMapping, Namespace } from '../../oci';
import type { IDMapping, LinuxContainerSecurityContext, PodSandboxConfig, UserNamespace } from '../types';
import { SC } from './security';

export interface NamespacePaths { network?: string; ipc?: string; uts?: string; pid?: string; user?: string }

export interface NamespacesInput {
  sc: LinuxContainerSecurityContext | null;
  sandboxConfig: PodSandboxConfig;
  paths: NamespacePaths;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  privileged: boolean;
}

export interface NamespacesResult {
  namespaces: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  /** The container has a UTS namespace of its own (not joined): only then may the spec set a hostname. */
  ownUts: boolean;
  userns: boolean;
}

const sameMappings = (a: IDMapping[], b: IDMapping[]) =>
  a.length === b.length && a.every((m, i) => m.hostId === b[i].hostId && m.containerId === b[i].containerId && m.length === b[i].length);

function mappings(list: IDMapping[], field: string): IdMapping[] {
  if (list.length === 0) throw invalid(field, 'a pod user namespace needs at least one mapping');
  return list.map((m, i) => {
    if (m.length === 0) throw invalid(`${field}[${i}].length`, 'must not be 0');
    return { containerID: m.containerId, hostID: m.hostId, size: m.length };
  });
}

/** The pod's user namespace options; the container's must agree with the sandbox's (containerd checks the same). */
function usernsOptions(input: NamespacesInput): UserNamespace | null {
  const mine = input.sc?.namespaceOptions?.usernsOptions ?? null;
  const pod = input.sandboxConfig.linux?.securityContext?.namespaceOptions?.usernsOptions ?? null;
  if (mine && pod && (mine.mode !== pod.mode || !sameMappings(mine.uids, pod.uids) || !sameMappings(mine.gids, pod.gids))) {
    throw invalid(`${SC}.namespace_options.userns_options`, 'differs from the sandbox\'s user namespace options');
  }
  return mine ?? pod;
}

export function buildNamespaces(input: NamespacesInput): NamespacesResult {
  const opts = input.sc?.namespaceOptions ?? null;
  const { paths } = input;
  const ns: Namespace[] = [{ type: 'mount' }];
  // A path joins the pod's namespace; none (outside host mode) gives the container a new one.
  const join = (type: Namespace['type'], p: string | undefined) => ns.push(p ? { type, path: p } : { type });
  const hostNet = input.hostNetwork || opts?.network === 'NODE';
  if (!hostNet) join('network', paths.network);
  if (!(input.hostIpc || opts?.ipc === 'NODE')) join('ipc', paths.ipc);
  // kubelet gives host-network pods the node's UTS namespace too (their hostname is the node's).
  if (!hostNet) join('uts', paths.uts);
  const pid = opts?.pid ?? 'POD';
  if (!(input.hostPid || pid === 'NODE')) {
    if (pid === 'CONTAINER') ns.push({ type: 'pid' });
    else if (pid === 'TARGET' && !paths.pid) throw precondition(`${SC}.namespace_options.pid: TARGET mode needs the pid namespace of container "${opts?.targetId}"`);
    else join('pid', paths.pid);
  }
  // containerd: a cgroup namespace hides the host's cgroup tree, except from privileged containers.
  if (!input.privileged) ns.push({ type: 'cgroup' });

  const result: NamespacesResult = { namespaces: ns, ownUts: !hostNet && !paths.uts, userns: false };
  const userns = usernsOptions(input);
  const f = `${SC}.namespace_options.userns_options`;
  if (userns && userns.mode !== 'NODE') {
    if (userns.mode !== 'POD') throw invalid(`${f}.mode`, `${userns.mode} is not supported for user namespaces (POD or NODE)`);
    join('user', paths.user);
    result.uidMappings = mappings(userns.uids, `${f}.uids`);
    result.gidMappings = mappings(userns.gids, `${f}.gids`);
    result.userns = true;
  }
  return result;
}
