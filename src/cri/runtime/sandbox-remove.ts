/**
 * RemovePodSandbox: stops the sandbox if it is still ready (as containerd does), removes its containers and
 * its directory, then forgets it. Idempotent: a sandbox that does not exist is removed without error.
 */
import type { RemovePodSandboxRequest, RemovePodSandboxResponse } from '../types';
import type { RuntimeContext } from './context';
import { removeContainerRecord } from './container-remove';
import { removeSandboxDir } from './sandbox-teardown';
import { stopPodSandbox } from './sandbox-stop';

export async function removePodSandbox(ctx: RuntimeContext, req: RemovePodSandboxRequest): Promise<RemovePodSandboxResponse> {
  const s = ctx.sandboxes.find(req.podSandboxId);
  if (!s) return {};
  await stopPodSandbox(ctx, { podSandboxId: s.id });
  for (const c of ctx.containers.ofSandbox(s.id)) await ctx.locks.run(c.id, () => removeContainerRecord(ctx, c));
  await ctx.locks.run(s.id, async () => {
    removeSandboxDir(s);
    ctx.sandboxes.delete(s);
    ctx.log.info('pod sandbox removed', { sandboxId: s.id, name: s.name });
  });
  return {};
}
