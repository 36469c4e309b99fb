/**
 * A container without a mount namespace of its own (runtime-spec: it inherits the runtime's) has its mounts in
 * the host's namespace, all below one bind of its rootfs onto itself that berth-init makes first. runc leaves
 * them behind at delete; Berth counts the mounts stacked on the rootfs before the container exists and, at
 * delete (also of a crashed create), lazily unmounts every one above that count, with everything below it.
 */
import * as fs from 'node:fs';
import { parseMountInfo } from '../cgroups';
import { buildDetachPlan } from '../plan/build';
import { runOneShot } from './oneshot';

/** How many mounts sit on exactly this mount point in our namespace. */
export function mountsAt(mountPoint: string, mountinfo = fs.readFileSync('/proc/self/mountinfo', 'utf8')): number {
  return parseMountInfo(mountinfo).filter((m) => m.mountPoint === mountPoint).length;
}

/** Unmounts what the container stacked on its rootfs; a no-op when nothing is left (idempotent). */
export function detachHostMounts(rootfs: string, baseline: number): void {
  const extra = mountsAt(rootfs) - baseline;
  if (extra <= 0) return;
  runOneShot(buildDetachPlan(Array<string>(extra).fill(rootfs)), `unmount the container's mounts under ${rootfs}`);
}
