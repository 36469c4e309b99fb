/**
 * Preflight checks over the pods bound to the node: the ones that depend on Docker Engine or cri-dockerd
 * being the node's runtime break, or silently talk to the old runtime, once kubelet runs on berthd; the ones
 * the drain leaves in place are worth knowing about. Pure functions of parsed pods (pod-facts.ts).
 */
import * as path from 'node:path';
import type { Finding } from '../api/migration-types';
import { finding, nameList } from './finding';
import { isLive, podLabel, podObjects, type PodFacts } from './pod-facts';

/** The sockets of Docker Engine, cri-dockerd and the old in-kubelet dockershim, at both their usual paths. */
export const DOCKER_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock', '/var/run/cri-dockerd.sock', '/run/cri-dockerd.sock', '/var/run/dockershim.sock', '/run/dockershim.sock'];
/**
 * Directories whose hostPath gives a pod those sockets too. /var/run is a symlink to /run that kubelet resolves
 * on the host, so both count; / gives everything. (/var does not: inside the pod its run link resolves in the
 * container's own filesystem.)
 */
export const SOCKET_DIRS = ['/', '/run', '/var/run'];
export const DOCKER_DATA_DIR = '/var/lib/docker';

const normal = (p: string): string => {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
};

/** What a hostPath exposes of Docker: a socket itself, a directory holding the sockets, or nothing. */
export function dockerSocketExposure(hostPath: string): 'socket' | 'directory' | undefined {
  const p = normal(hostPath);
  if (DOCKER_SOCKETS.includes(p) || path.posix.basename(p) === 'dockershim.sock') return 'socket';
  return SOCKET_DIRS.includes(p) ? 'directory' : undefined;
}

/** The containers of `p` that mount volume `volume`, with where. */
const mountersOf = (p: PodFacts, volume: string): string[] =>
  p.containers.flatMap((c) => (c.mounts.has(volume) ? [`${c.name} at ${c.mounts.get(volume)}`] : []));

/**
 * Pods that mount Docker's or cri-dockerd's socket through hostPath. A socket itself is Blocking: the pod
 * drives the old runtime behind kubelet's back (builds, log shippers, monitoring) and loses it or leaves
 * containers kubelet no longer sees. A whole /run is a Warning: the pod may only use something else there.
 */
export function checkDockerSocketMounts(pods: readonly PodFacts[]): Finding[] {
  const out: Finding[] = [];
  for (const p of pods.filter(isLive)) {
    for (const [volume, hostPath] of p.hostPaths) {
      const exposure = dockerSocketExposure(hostPath);
      const mounters = mountersOf(p, volume);
      if (!exposure || mounters.length === 0) continue;
      out.push(exposure === 'socket'
        ? finding('DockerSocketMount', 'Blocking', `${podLabel(p)} mounts ${hostPath} through hostPath volume ${volume} (${mounters.join(', ')}): once kubelet runs on berthd, what the pod starts or inspects there is invisible to Kubernetes, and it breaks when Docker is stopped`, podObjects(p))
        : finding('DockerSocketMount', 'Warning', `${podLabel(p)} mounts the host's ${hostPath} through hostPath volume ${volume} (${mounters.join(', ')}), which holds Docker's and cri-dockerd's sockets; check that it does not use them`, podObjects(p)));
    }
  }
  return out.length > 0 ? out : [finding('DockerSocketMount', 'Info', "no pod on the node mounts Docker's, cri-dockerd's or dockershim's socket")];
}

const isDindImage = (image: string): boolean => {
  const i = image.toLowerCase();
  return i.includes('docker') && i.includes('dind');
};

/**
 * Docker-in-Docker: a privileged container running its own Docker daemon (a dind image, or one with a
 * volume at /var/lib/docker). It runs on berthd too, but everything inside it (images, containers, builds) is
 * lost when the drain evicts it: Warning. Blocking when its /var/lib/docker is the host's, shared with the
 * node's Docker Engine. Pods that only read the host's /var/lib/docker (log shippers reading
 * containers/*.log) are a Warning too: after the switch container logs are under /var/log/pods.
 */
export function checkDockerInDocker(pods: readonly PodFacts[]): Finding[] {
  const out: Finding[] = [];
  for (const p of pods.filter(isLive)) {
    const hostDockerVolumes = [...p.hostPaths].filter(([, hp]) => { const n = normal(hp); return n === DOCKER_DATA_DIR || n.startsWith(`${DOCKER_DATA_DIR}/`); }).map(([v]) => v);
    const dind = p.containers.filter((c) => c.privileged && (isDindImage(c.image) || [...c.mounts.values()].some((m) => normal(m) === DOCKER_DATA_DIR)));
    const sharesHostDocker = dind.some((c) => hostDockerVolumes.some((v) => c.mounts.has(v)));
    if (dind.length > 0) {
      const what = dind.map((c) => `${c.name} (${c.image || 'no image'})`).join(', ');
      out.push(sharesHostDocker
        ? finding('DockerInDocker', 'Blocking', `${podLabel(p)} runs Docker in a privileged container (${what}) on the host's ${DOCKER_DATA_DIR}, shared with the node's Docker Engine`, podObjects(p))
        : finding('DockerInDocker', 'Warning', `${podLabel(p)} runs Docker in a privileged container (${what}); its images and containers are lost when it is evicted`, podObjects(p)));
      continue;
    }
    const readers = hostDockerVolumes.flatMap((v) => mountersOf(p, v));
    if (readers.length > 0) out.push(finding('DockerDataMount', 'Warning', `${podLabel(p)} mounts the host's ${DOCKER_DATA_DIR} (${readers.join(', ')}); after the switch containers and their logs are no longer there (logs are under /var/log/pods)`, podObjects(p)));
  }
  return out.length > 0 ? out : [finding('DockerInDocker', 'Info', 'no Docker-in-Docker pod and no pod using the host\'s /var/lib/docker on the node')];
}

/**
 * Pods the drain leaves on the node: mirror pods (static pods, which kubelet itself restarts on the new
 * runtime from its manifests) and DaemonSet pods (their controller would put them straight back). Info:
 * they restart when kubelet does, without an eviction.
 */
export function checkNotDrained(pods: readonly PodFacts[]): Finding[] {
  const live = pods.filter(isLive);
  const mirror = live.filter((p) => p.mirror);
  const daemonSet = live.filter((p) => !p.mirror && p.owner?.kind === 'DaemonSet');
  const out: Finding[] = [];
  const name = (p: PodFacts) => `${p.namespace}/${p.name}`;
  if (mirror.length > 0) out.push(finding('NotDrained', 'Info', `${mirror.length} static (mirror) pod(s) are not drained; kubelet restarts them on the new runtime: ${nameList(mirror.map(name))}`, mirror.map((p) => ({ kind: 'Pod', namespace: p.namespace, name: p.name }))));
  if (daemonSet.length > 0) out.push(finding('NotDrained', 'Info', `${daemonSet.length} DaemonSet pod(s) are not drained; they restart on the new runtime with kubelet: ${nameList(daemonSet.map((p) => `${name(p)} (DaemonSet ${p.owner?.name})`))}`, daemonSet.flatMap(podObjects)));
  return out;
}
