/**
 * Start-up reconciliation after a restart or a crash at any point: half-made sandboxes and containers are
 * undone, containers whose task ended while berthd was away get their exit recorded, sandboxes whose
 * namespaces are gone (a reboot) become not ready, and per-boot directories and CNI attachments that no
 * record owns are released. Runs before the socket is served.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskState } from '../../shim';
import type { SandboxRecord } from '../store';
import type { RuntimeContext } from './context';
import { undoBundle } from './container-create';
import { recordExit } from './exits';
import { hasMountsBelow, releaseNamespaces, stopPidHolder, unmount } from '../sandbox/host';
import { releaseSandbox, removeSandboxDir } from './sandbox-teardown';

export async function recover(ctx: RuntimeContext): Promise<void> {
  const { log } = ctx;
  const containers = ctx.containers.all();
  let tasks: Map<string, TaskState> | undefined;
  if (containers.length > 0) {
    const shim = await ctx.shim();
    tasks = new Map((await shim.list()).map((t) => [t.id, t]));
  }
  for (const c of containers) {
    if (c.state === 'creating') {
      log.warn('removing a container whose create did not finish', { containerId: c.id });
      if (tasks?.has(c.id)) await (await ctx.shim()).delete({ id: c.id, force: true }).catch(() => undefined);
      await undoBundle(ctx, c).catch((err: unknown) => log.warn('undoing a half-made container', { containerId: c.id, error: String(err) }));
      ctx.containers.delete(c);
      continue;
    }
    if (c.state === 'exited') continue;
    const t = tasks?.get(c.id);
    if (!t) recordExit(ctx, c, { exitCode: 255, exitedAt: 0, oomKilled: false });
    else if (t.status === 'stopped') recordExit(ctx, c, { exitCode: t.exitCode, exitedAt: t.exitedAt, oomKilled: t.oomKilled });
    else if (t.status === 'running' && c.state === 'created') {
      // Started, and berthd died before recording it.
      c.state = 'running';
      c.startedAt = t.startedAt > 0 ? String(BigInt(t.startedAt) * 1_000_000n) : c.createdAt;
      ctx.containers.put(c);
    }
  }
  for (const s of ctx.sandboxes.all()) {
    if (s.state === 'creating') {
      log.warn('tearing down a sandbox whose RunPodSandbox did not finish', { sandboxId: s.id });
      await teardown(ctx, s);
      ctx.sandboxes.delete(s);
    } else if (s.state === 'notready' && (Object.keys(s.namespaces).length > 0 || s.ips.length > 0)) {
      log.warn('finishing the release of a sandbox whose stop did not finish', { sandboxId: s.id });
      await releaseSandbox(ctx, s).catch((err: unknown) => log.warn('sandbox teardown during recovery', { sandboxId: s.id, error: String(err) }));
      s.namespaces = {};
      s.ips = [];
      ctx.sandboxes.put(s);
    } else if (s.state === 'ready' && !namespacesPresent(s)) {
      log.warn('sandbox namespaces are gone (reboot?): marking it not ready', { sandboxId: s.id });
      await teardown(ctx, s);
      s.state = 'notready';
      s.namespaces = {};
      s.ips = [];
      ctx.sandboxes.put(s);
    }
  }
  await removeOrphans(ctx);
  await ctx.network.collect(ctx.sandboxes.all().filter((s) => s.state === 'ready' && !s.hostNetwork).map((s) => s.id))
    .catch((err: unknown) => log.warn('CNI garbage collection failed', { error: String(err) }));
  log.info('runtime state recovered', { sandboxes: ctx.sandboxes.all().length, containers: ctx.containers.all().length });
}

async function teardown(ctx: RuntimeContext, s: SandboxRecord): Promise<void> {
  await releaseSandbox(ctx, s).catch((err: unknown) => ctx.log.warn('sandbox teardown during recovery', { sandboxId: s.id, error: String(err) }));
  removeSandboxDir(s);
}

function namespacesPresent(s: SandboxRecord): boolean {
  return Object.values(s.namespaces).every((p) => p === undefined || fs.existsSync(p));
}

/**
 * Per-boot directories no record owns. Records are written before their directories and removed after them,
 * so these come only from outside interference or an older layout; released all the same.
 */
async function removeOrphans(ctx: RuntimeContext): Promise<void> {
  const orphans = (kind: string, owns: (id: string) => boolean): string[] => {
    try {
      return fs.readdirSync(path.join(ctx.stateDir, kind)).filter((n) => !owns(n)).map((n) => path.join(ctx.stateDir, kind, n));
    } catch {
      return [];
    }
  };
  for (const dir of orphans('sandboxes', (id) => ctx.sandboxes.find(id)?.id === id)) {
    ctx.log.warn('releasing an orphaned sandbox directory', { dir });
    await stopPidHolder(path.join(dir, 'ns')).catch(() => undefined);
    await unmount(path.join(dir, 'infra', 'rootfs')).catch(() => undefined);
    await unmount(path.join(dir, 'shm')).catch(() => undefined);
    await releaseNamespaces(path.join(dir, 'ns')).catch(() => undefined);
    if (!hasMountsBelow(dir)) fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const dir of orphans('containers', (id) => ctx.containers.find(id)?.id === id)) {
    ctx.log.warn('removing an orphaned container bundle', { dir });
    await unmount(path.join(dir, 'rootfs')).catch(() => undefined);
    if (!hasMountsBelow(dir)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
