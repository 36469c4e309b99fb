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

/**
 * A pod whose infra container died has lost its shared PID namespace (and pause's reaping): not ready, as
 * containerd reports it, so that the kubelet stops it and makes a new one.
 */
function infraExited(ctx: RuntimeContext, id: string): void {
  const s = ctx.sandboxes.all().find((x) => x.infra?.id === id);
  if (!s || s.state !== 'ready') return;
  s.state = 'notready';
  ctx.sandboxes.put(s);
  ctx.log.warn('infra container exited: pod sandbox not ready', { sandboxId: s.id, containerId: id });
}

/** The shim's events → records. Returns the function that stops listening. */
export function followShimEvents(ctx: RuntimeContext, subscribe: (fn: (e: TaskEvent) => void, replay: boolean) => () => void): () => void {
  return subscribe((e) => {
    if (e.type !== 'exit' || e.execId) return;
    const c = ctx.containers.find(e.id);
    if (!c || c.id !== e.id) {
      infraExited(ctx, e.id);
      return;
    }
    recordExit(ctx, c, { exitCode: e.exitCode, exitedAt: e.timestamp, oomKilled: e.oomKilled });
  }, true);
}
