/**
 * StopPodSandbox: every container of the pod is stopped (SIGKILL at once, as containerd does for a sandbox
 * stop), then the pod's network and namespaces are released. Idempotent: a stopped sandbox, or one that does
 * not exist, stops without error (the kubelet retries and relies on it).
 */
import type { StopPodSandboxRequest, StopPodSandboxResponse } from '../types';
import type { RuntimeContext } from './context';
import { stopContainerRecord } from './container-stop';
import { releaseSandbox } from './sandbox-teardown';

export async function stopPodSandbox(ctx: RuntimeContext, req: StopPodSandboxRequest): Promise<StopPodSandboxResponse> {
  const found = ctx.sandboxes.find(req.podSandboxId);
  if (!found) return {};
  const s = found;
  for (const c of ctx.containers.ofSandbox(s.id)) await ctx.locks.run(c.id, () => stopContainerRecord(ctx, c, 0));
  await ctx.locks.run(s.id, async () => {
    if (s.state === 'notready' && Object.keys(s.namespaces).length === 0 && s.ips.length === 0) return;
    // Not ready from the first step on: a crash in the middle leaves a sandbox recovery finishes releasing.
    s.state = 'notready';
    ctx.sandboxes.put(s);
    await releaseSandbox(ctx, s);
    s.namespaces = {};
    s.ips = [];
    ctx.sandboxes.put(s);
    ctx.log.info('pod sandbox stopped', { sandboxId: s.id, name: s.name });
  });
  return {};
}
