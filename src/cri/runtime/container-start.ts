/** StartContainer: the created task starts; the record says running, with the time it started. */
import { precondition } from '../../common/errors';
import type { StartContainerRequest, StartContainerResponse } from '../types';
import { nowNs, type RuntimeContext } from './context';
import { containerEventStatuses } from './container-status';

export async function startContainer(ctx: RuntimeContext, req: StartContainerRequest): Promise<StartContainerResponse> {
  const c = ctx.containers.get(req.containerId);
  await ctx.locks.run(c.id, async () => {
    if (c.state !== 'created') throw precondition(`container ${c.id} is ${c.state}, not created: it cannot be started`);
    const sandbox = ctx.sandboxes.find(c.sandboxId);
    if (!sandbox || sandbox.state !== 'ready') throw precondition(`container ${c.id}: its pod sandbox ${c.sandboxId} is not ready`);
    const shim = await ctx.shim();
    // Taken before the start: the process may exit (and be recorded) before the call returns.
    const startedAt = nowNs();
    try {
      await shim.start({ id: c.id });
    } catch (err) {
      // As containerd: a container that failed to start is exited, with the reason kept for the kubelet.
      if (c.state === 'created') {
        c.state = 'exited';
        c.exitCode = 128;
        c.finishedAt = nowNs();
        c.reason = 'StartError';
        c.message = (err as Error).message;
        ctx.containers.put(c);
      }
      throw err;
    }
    // The exit may already have been recorded by the event stream (a container that exits at once).
    if (c.state === 'created') c.state = 'running';
    c.startedAt = startedAt;
    ctx.containers.put(c);
    ctx.log.info('container started', { containerId: c.id, name: c.name });
    ctx.events.publish(c.id, 'CONTAINER_STARTED_EVENT', () => containerEventStatuses(ctx, c));
  });
  return {};
}
