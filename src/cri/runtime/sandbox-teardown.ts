/**
 * Releasing what a sandbox holds on the host: its infra container (if any), CNI attachment, PID-namespace
 * holder, /dev/shm and pinned namespaces. Every step runs even when an earlier one fails or its object is already gone (a CNI config
 * removed, a netns unmounted by hand), so StopPodSandbox, a failed RunPodSandbox and recovery after a crash
 * all converge on nothing left; the first error is reported after all steps ran.
 */
import * as fs from 'node:fs';
import type { SandboxRecord } from '../store';
import { crashPoint } from '../../common/crash-point';
import { BerthError } from '../../common/errors';
import { hasMountsBelow, releaseNamespaces, stopPidHolder, unmount } from '../sandbox/host';
import type { RuntimeContext } from './context';
import { stopInfra } from './sandbox-infra';
import { sandboxNsDir, sandboxShmDir } from './sandbox-paths';


export async function releaseSandbox(ctx: RuntimeContext, s: SandboxRecord): Promise<void> {
  let first: unknown;
  const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      ctx.log.warn(`sandbox teardown: ${what} failed`, { sandboxId: s.id, error: (err as Error).message });
      first ??= err;
    }
  };
  // First: the infra container is the PID 1 of a shared PID namespace, and holds the pod's namespaces.
  await step('stopping the infra container', () => stopInfra(ctx, s));
  if (!s.hostNetwork) {
    const netns = s.namespaces.network && fs.existsSync(s.namespaces.network) ? s.namespaces.network : '';
    await step('CNI DEL', () => ctx.network.detach(s.id, netns));
    crashPoint('sandbox-teardown:detached');
  }
  await step('stopping the PID namespace holder', () => stopPidHolder(sandboxNsDir(s)));
  await step('unmounting /dev/shm', () => unmount(sandboxShmDir(s)));
  await step('releasing namespaces', () => releaseNamespaces(sandboxNsDir(s)));
  if (first) throw first;
}

/** After release: the per-boot directory itself (hosts, resolv.conf, the emptied mount points). */
export function removeSandboxDir(s: SandboxRecord): void {
  // Never recurse into a mount that is still there (a pinned namespace, a tmpfs): that is a leak to report.
  if (hasMountsBelow(s.dir)) throw new BerthError('Internal', `sandbox ${s.id}: ${s.dir} still holds mounts; not removing it`);
  fs.rmSync(s.dir, { recursive: true, force: true });
}
