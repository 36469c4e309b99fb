/**
 * RemoveContainer: a running container is killed first (as containerd's force removal), then its task,
 * rootfs mount, writable layer and bundle go, and the record last. Idempotent: a container that does not
 * exist is removed without error.
 */
import type { ContainerRecord } from '../store';
import type { RemoveContainerRequest, RemoveContainerResponse } from '../types';
import type { RuntimeContext } from './context';
import { undoBundle } from './container-create';
import { stopContainerRecord } from './container-stop';

export async function removeContainer(ctx: RuntimeContext, req: RemoveContainerRequest): Promise<RemoveContainerResponse> {
  const c = ctx.containers.find(req.containerId);
  if (!c) return {};
  await ctx.locks.run(c.id, () => removeContainerRecord(ctx, c));
  return {};
}

/** Under the container's lock. */
export async function removeContainerRecord(ctx: RuntimeContext, c: ContainerRecord): Promise<void> {
  if (!ctx.containers.find(c.id)) return;
  await stopContainerRecord(ctx, c, 0);
  const shim = await ctx.shim();
  await shim.delete({ id: c.id, force: true }).catch((err: Error & { kind?: string }) => {
    if (err.kind !== 'NotFound') throw err;
  });
  await undoBundle(ctx, c);
  ctx.containers.delete(c);
  ctx.log.info('container removed', { containerId: c.id, name: c.name });
  ctx.events.publish(c.id, 'CONTAINER_DELETED_EVENT', () => ({ createdAt: String(BigInt(Date.now()) * 1_000_000n), podSandboxStatus: null, containersStatuses: [] }));
}
