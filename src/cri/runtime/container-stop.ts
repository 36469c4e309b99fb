/**
 * StopContainer: the image's stop signal (SIGTERM by default), then SIGKILL once `timeout` seconds have
 * passed. Idempotent: an exited container, or one that does not exist, stops without error.
 */
import * as os from 'node:os';
import type { ContainerRecord } from '../store';
import type { StopContainerRequest, StopContainerResponse } from '../types';
import type { RuntimeContext } from './context';
import { recordExit } from './exits';

export function signalNumber(name: string): number {
  if (name === '') return os.constants.signals.SIGTERM;
  if (/^[0-9]+$/.test(name)) return Number(name);
  const key = (name.toUpperCase().startsWith('SIG') ? name.toUpperCase() : `SIG${name.toUpperCase()}`) as keyof typeof os.constants.signals;
  return os.constants.signals[key] ?? os.constants.signals.SIGTERM;
}

export async function stopContainer(ctx: RuntimeContext, req: StopContainerRequest): Promise<StopContainerResponse> {
  const c = ctx.containers.find(req.containerId);
  if (!c) return {};
  await ctx.locks.run(c.id, () => stopContainerRecord(ctx, c, Number(req.timeout)));
  return {};
}

/** Under the container's lock. */
export async function stopContainerRecord(ctx: RuntimeContext, c: ContainerRecord, timeoutSec: number): Promise<void> {
  if (c.state === 'exited' || c.state === 'creating') return;
  const shim = await ctx.shim();
  const exited = shim.wait({ id: c.id });
  // A created container never ran: kill it at once (its process is only the runtime's init waiting to exec).
  const graceful = c.state === 'running' && timeoutSec > 0;
  const kill = (signal: number) => shim.kill({ id: c.id, signal, all: true }).catch((err: Error & { kind?: string }) => {
    if (err.kind !== 'NotFound' && err.kind !== 'FailedPrecondition') throw err;
  });
  let exit;
  if (graceful) {
    await kill(signalNumber(c.stopSignal));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutSec * 1000); });
    exit = await Promise.race([exited.catch(() => undefined), timeout]);
    clearTimeout(timer);
  }
  if (!exit) {
    await kill(os.constants.signals.SIGKILL);
    exit = await exited.catch((err: Error & { kind?: string }) => {
      if (err.kind === 'NotFound') return { exitCode: 255, exitedAt: Date.now(), oomKilled: false };
      throw err;
    });
  }
  recordExit(ctx, c, exit);
}
