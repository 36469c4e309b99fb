/** PodSandboxStatus (with the record as `info` when verbose, as containerd's) and ListPodSandbox. */
import type { ListPodSandboxRequest, ListPodSandboxResponse, PodSandboxStatusRequest, PodSandboxStatusResponse } from '../types';
import type { RuntimeContext } from './context';
import { matchesId, matchesLabels } from './filters';
import { containerStatusOf } from './container-status';
import { sandboxState, toPodSandbox, toPodSandboxStatus } from './views';

export function podSandboxStatus(ctx: RuntimeContext, req: PodSandboxStatusRequest): PodSandboxStatusResponse {
  const s = ctx.sandboxes.get(req.podSandboxId);
  const info: Record<string, string> = {};
  if (req.verbose) {
    info.info = JSON.stringify({
      pid: s.infra?.pid ?? 0, infraContainerId: s.infra?.id, runtimeHandler: s.runtimeHandler, namespaces: s.namespaces, network: s.network, cgroupParent: s.cgroupParent,
      sandboxDir: s.dir, config: s.config, noPause: !s.infra,
    });
  }
  return {
    status: toPodSandboxStatus(s),
    info,
    containersStatuses: ctx.containers.ofSandbox(s.id).map((c) => containerStatusOf(ctx, c)),
    timestamp: String(BigInt(Date.now()) * 1_000_000n),
  };
}

export function listPodSandbox(ctx: RuntimeContext, req: ListPodSandboxRequest): ListPodSandboxResponse {
  const f = req.filter;
  const items = ctx.sandboxes.all()
    .filter((s) => s.state !== 'creating')
    .filter((s) => matchesId(s.id, f?.id) && (!f?.state || sandboxState(s) === f.state.state) && matchesLabels(s.config.labels, f?.labelSelector))
    .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
  return { items: items.map(toPodSandbox) };
}
