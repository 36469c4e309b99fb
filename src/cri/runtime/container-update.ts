/** UpdateContainerResources and ReopenContainerLog: changes to a container while it runs. */
import { precondition } from '../../common/errors';
import { stringifyJson } from '../../common/json';
import { ociResources } from '../container/resources';
import type { ReopenContainerLogRequest, ReopenContainerLogResponse, UpdateContainerResourcesRequest, UpdateContainerResourcesResponse } from '../types';
import type { RuntimeContext } from './context';

export async function updateContainerResources(ctx: RuntimeContext, req: UpdateContainerResourcesRequest): Promise<UpdateContainerResourcesResponse> {
  const c = ctx.containers.get(req.containerId);
  await ctx.locks.run(c.id, async () => {
    if (c.state !== 'running' && c.state !== 'created') throw precondition(`container ${c.id} is ${c.state}: its resources cannot change`);
    if (!req.linux) return;
    const { resources, warnings } = ociResources(req.linux, ctx.minOomScoreAdj);
    for (const w of warnings) ctx.log.warn(w, { containerId: c.id });
    await (await ctx.shim()).update({ id: c.id, resourcesJson: stringifyJson(resources) });
    c.resources = req.linux;
    ctx.containers.put(c);
  });
  return {};
}

export async function reopenContainerLog(ctx: RuntimeContext, req: ReopenContainerLogRequest): Promise<ReopenContainerLogResponse> {
  const c = ctx.containers.get(req.containerId);
  if (c.state !== 'running') throw precondition(`container ${c.id} is not running: there is no log to reopen`);
  await (await ctx.shim()).reopenLog({ id: c.id });
  return {};
}
