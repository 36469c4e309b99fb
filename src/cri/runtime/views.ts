/** Records → the CRI's messages about them (PodSandbox, PodSandboxStatus, Container, ContainerStatus). */
import type { ContainerRecord, SandboxRecord } from '../store';
import type { Container, ContainerStateName, ContainerStatus, NamespaceModeName, PodSandbox, PodSandboxStateName, PodSandboxStatus } from '../types';

export function sandboxState(s: SandboxRecord): PodSandboxStateName {
  return s.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY';
}

export function toPodSandbox(s: SandboxRecord): PodSandbox {
  return {
    id: s.id, metadata: s.config.metadata, state: sandboxState(s), createdAt: s.createdAt,
    labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {}, runtimeHandler: s.runtimeHandler,
  };
}

const mode = (host: boolean, shared: boolean): NamespaceModeName => (host ? 'NODE' : shared ? 'POD' : 'CONTAINER');

export function toPodSandboxStatus(s: SandboxRecord): PodSandboxStatus {
  const ns = s.config.linux?.securityContext?.namespaceOptions ?? null;
  return {
    id: s.id,
    metadata: s.config.metadata,
    state: sandboxState(s),
    createdAt: s.createdAt,
    // A stopped pod has no IPs any more (its network was released).
    network: { ip: s.state === 'ready' ? (s.ips[0] ?? '') : '', additionalIps: s.state === 'ready' ? s.ips.slice(1).map((ip) => ({ ip })) : [] },
    linux: {
      namespaces: {
        options: {
          network: mode(s.hostNetwork, true), pid: mode(s.hostPid, ns?.pid === 'POD'), ipc: mode(s.hostIpc, true),
          targetId: ns?.targetId ?? '', usernsOptions: ns?.usernsOptions ?? null,
        },
      },
    },
    labels: s.config.labels ?? {},
    annotations: s.config.annotations ?? {},
    runtimeHandler: s.runtimeHandler,
  };
}

export function containerState(c: ContainerRecord): ContainerStateName {
  switch (c.state) {
    case 'created': return 'CONTAINER_CREATED';
    case 'running': return 'CONTAINER_RUNNING';
    case 'exited': return 'CONTAINER_EXITED';
    default: return 'CONTAINER_UNKNOWN';
  }
}

function imageSpec(c: ContainerRecord) {
  return { image: c.imageName, annotations: c.config.image?.annotations ?? {}, userSpecifiedImage: c.imageRef, runtimeHandler: '', imageRef: c.imageId };
}

export function toContainer(c: ContainerRecord): Container {
  return {
    id: c.id, podSandboxId: c.sandboxId, metadata: c.config.metadata, image: imageSpec(c), imageRef: c.imageId,
    state: containerState(c), createdAt: c.createdAt, labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {}, imageId: c.imageId,
  };
}

export function toContainerStatus(c: ContainerRecord, imageRef: string): ContainerStatus {
  return {
    id: c.id,
    metadata: c.config.metadata,
    state: containerState(c),
    createdAt: c.createdAt,
    startedAt: c.startedAt,
    finishedAt: c.finishedAt,
    exitCode: c.exitCode,
    image: imageSpec(c),
    imageRef,
    reason: c.reason,
    message: c.message,
    labels: c.config.labels ?? {},
    annotations: c.config.annotations ?? {},
    mounts: c.config.mounts ?? [],
    logPath: c.logPath,
    resources: { linux: c.resources, windows: null },
    imageId: c.imageId,
    user: { linux: { uid: String(c.user.uid), gid: String(c.user.gid), supplementalGroups: c.user.supplementalGroups.map(String) } },
    stopSignal: 'SIGNAL_RUNTIME_DEFAULT',
  };
}
