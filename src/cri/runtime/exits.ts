/**
 * Container exits as the shim reports them (its event stream, replayed after a reconnect, and Wait): the
 * record becomes exited with the code, the time and the kubelet's reason (`OOMKilled`, `Completed`,
 * `Error`). Recording is idempotent: whichever of the event and a StopContainer's wait comes first wins.
 */
import type { ExitStatus, TaskEvent } from '../../shim';
import type { ContainerRecord } from '../store';
import { msToNs, nowNs, type RuntimeContext } from './context';
import { containerEventStatuses } from './container-status';

export function recordExit(ctx: RuntimeContext, c: ContainerRecord, e: Pick<ExitStatus, 'exitCode' | 'exitedAt' | 'oomKilled'>): void {
  if (c.state === 'exited' || c.state === 'creating') return;
  c.state = 'exited';
  c.exitCode = e.exitCode;
  c.finishedAt = e.exitedAt > 0 ? msToNs(e.exitedAt) : nowNs();
  c.reason = e.oomKilled ? 'OOMKilled' : e.exitCode === 0 ? 'Completed' : 'Error';
  ctx.containers.put(c);
  ctx.log.info('container exited', { containerId: c.id, name: c.name, exitCode: c.exitCode, reason: c.reason });
  ctx.events.publish(c.id, 'CONTAINER_STOPPED_EVENT', () => containerEventStatuses(ctx, c));
}

/** The shim's events → records. Returns the function that stops listening. */
export function followShimEvents(ctx: RuntimeContext, subscribe: (fn: (e: TaskEvent) => void, replay: boolean) => () => void): () => void {
  return subscribe((e) => {
    if (e.type !== 'exit' || e.execId) return;
    const c = ctx.containers.find(e.id);
    if (!c || c.id !== e.id) return;
    recordExit(ctx, c, { exitCode: e.exitCode, exitedAt: e.timestamp, oomKilled: e.oomKilled });
  }, true);
}
