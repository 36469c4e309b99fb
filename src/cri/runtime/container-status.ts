/** ContainerStatus (with the record as `info` when verbose) and ListContainers. */
import type { ContainerRecord } from '../store';
import type { ContainerEventResponse, ContainerStatus, ContainerStatusRequest, ContainerStatusResponse, ListContainersRequest, ListContainersResponse } from '../types';
import { nowNs, type RuntimeContext } from './context';
import { matchesId, matchesLabels } from './filters';
import { containerState, toContainer, toContainerStatus, toPodSandboxStatus } from './views';

/**
 * As containerd: the image by its first tag when it has one (the kubelet asks by id), and as its reference the
 * repo digest it was pulled by, else its id. One lookup in the image store for both.
 */
export function containerStatusOf(ctx: RuntimeContext, c: ContainerRecord): ContainerStatus {
  const img = ctx.images.list(c.imageId)[0];
  const st = toContainerStatus(c, img?.repoDigests[0] ?? c.imageId);
  const tag = img?.repoTags[0];
  if (tag && st.image) st.image = { ...st.image, image: tag };
  return st;
}

export function containerStatus(ctx: RuntimeContext, req: ContainerStatusRequest): ContainerStatusResponse {
  const c = ctx.containers.get(req.containerId);
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({ sandboxID: c.sandboxId, pid: c.pid, runtime: c.runtime, bundle: c.bundle, imageId: c.imageId, config: c.config, user: c.user });
  }
  return { status: containerStatusOf(ctx, c), info };
}

export function listContainers(ctx: RuntimeContext, req: ListContainersRequest): ListContainersResponse {
  const f = req.filter;
  const items = ctx.containers.all()
    .filter((c) => c.state !== 'creating')
    .filter((c) => matchesId(c.id, f?.id) && matchesId(c.sandboxId, f?.podSandboxId) && (!f?.state || containerState(c) === f.state.state) && matchesLabels(c.config.labels, f?.labelSelector))
    .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
  return { containers: items.map(toContainer) };
}

/** What GetContainerEvents carries with each event: the pod's status and its containers' after the change. */
export function containerEventStatuses(ctx: RuntimeContext, c: ContainerRecord): Omit<ContainerEventResponse, 'containerId' | 'containerEventType'> {
  const s = ctx.sandboxes.find(c.sandboxId);
  return {
    createdAt: nowNs(),
    podSandboxStatus: s ? toPodSandboxStatus(s) : null,
    containersStatuses: s ? ctx.containers.ofSandbox(s.id).filter((x) => x.state !== 'creating').map((x) => containerStatusOf(ctx, x)) : [containerStatusOf(ctx, c)],
  };
}
