import * as path from 'node:path';
import { BerthError, invalid } from '../../common/errors';
import type { CgroupLayout, Hierarchy } from './detect';

/** Key of the cgroup2 directory in Cgroup.paths (v1 hierarchies are keyed by controller name). */
export const UNIFIED = 'unified';

const FIELD = 'linux.cgroupsPath';

export interface InnerPath {
  /** Normalised path components below the hierarchy root (absolute) or below our own cgroup (relative). */
  readonly segments: readonly string[];
  readonly absolute: boolean;
}

/**
 * Validates `linux.cgroupsPath` the way runc's cgroupfs driver reads it, but refuses instead of silently
 * clamping what runc's CleanPath would clamp: a `..` that climbs out of the starting point is an error.
 *  - "/a/b"  → /a/b below each hierarchy's mount;
 *  - "a/b"   → a/b below this process's own cgroup in each hierarchy;
 *  - empty   → "<containerId>" relative, which is what runc 1.1 does (it sets Name=id, Path="").
 */
export function parseCgroupsPath(cgroupsPath: string | undefined, containerId: string): InnerPath {
  if (cgroupsPath === undefined || cgroupsPath === '') {
    if (containerId === '' || containerId === '.' || containerId === '..' || containerId.includes('/') || containerId.includes('\0')) {
      throw invalid('id', `container id ${JSON.stringify(containerId)} cannot name a cgroup`);
    }
    return { segments: [containerId], absolute: false };
  }
  if (cgroupsPath.includes('\0')) throw invalid(FIELD, 'must not contain NUL characters');
  // "slice:prefix:name" is the systemd driver's syntax (runc --systemd-cgroup); with cgroupfs it would become a
  // literal directory name, which is never what the caller meant.
  if (/^[^/:]*:[^/:]*:[^/:]*$/.test(cgroupsPath)) {
    throw invalid(FIELD, `${JSON.stringify(cgroupsPath)} is a systemd-style "slice:prefix:name" path; use it with the systemd cgroup driver (--systemd-cgroup), or a cgroupfs path`);
  }
  const absolute = cgroupsPath.startsWith('/');
  const segments: string[] = [];
  for (const part of cgroupsPath.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (segments.length === 0) throw invalid(FIELD, `${JSON.stringify(cgroupsPath)} escapes ${absolute ? 'the cgroup root' : 'the runtime\'s own cgroup'} with ".."`);
      segments.pop();
      continue;
    }
    segments.push(part);
  }
  if (segments.length === 0) {
    throw invalid(FIELD, `${JSON.stringify(cgroupsPath)} names ${absolute ? 'the root cgroup' : 'the runtime\'s own cgroup'}, not a cgroup of its own`);
  }
  return { segments, absolute };
}

/**
 * Maps our own cgroup (as /proc/self/cgroup names it) to a directory below the mount, through the mount's root:
 * inside a container the hierarchy is often mounted from /docker/<id> while /proc/self/cgroup still says
 * /docker/<id>/..., and the directory is then mountPoint + the remainder.
 */
function ownDir(h: Hierarchy, cgroup: string): string {
  const rel = path.posix.relative(h.root, cgroup);
  if (rel === '..' || rel.startsWith('../')) {
    throw new BerthError('FailedPrecondition', `own cgroup ${cgroup} is outside the mounted part (${h.root}) of ${h.mountPoint}; use an absolute linux.cgroupsPath`, { field: FIELD });
  }
  return path.posix.join(h.mountPoint, rel);
}

/**
 * cgroup.procs of this process's own cgroup in one hierarchy (the first v1 one, else cgroup2), as the layout
 * recorded it; undefined when it lies outside what is mounted here.
 */
export function ownProcsFile(layout: CgroupLayout): string | undefined {
  const h = layout.v1[0] ?? layout.unified;
  if (!h) return undefined;
  try {
    return path.posix.join(ownDir(h, h.ownCgroup), 'cgroup.procs');
  } catch {
    return undefined;
  }
}

/** cgroup.procs of this process's own cgroup in every hierarchy: where a process returns to leave a container's. */
export function ownProcsFiles(layout: CgroupLayout): string[] {
  const out: string[] = [];
  for (const h of [...layout.v1, ...(layout.unified ? [layout.unified] : [])]) {
    try {
      out.push(path.posix.join(ownDir(h, h.ownCgroup), 'cgroup.procs'));
    } catch {
      // A hierarchy we cannot place ourselves in is one we never joined either.
    }
  }
  return out;
}

function dirIn(h: Hierarchy, inner: InnerPath, parentOfOwn: boolean): string {
  if (inner.absolute) return path.posix.join(h.mountPoint, ...inner.segments);
  // On a pure v2 host runc starts from the parent of its own cgroup: its own cgroup has processes (at least
  // runc itself), and the no-internal-processes rule would then forbid enabling controllers for a child.
  const base = parentOfOwn ? path.posix.dirname(h.ownCgroup) : h.ownCgroup;
  return path.posix.join(ownDir(h, base), ...inner.segments);
}

/** controller name (or UNIFIED) → absolute directory of the container's cgroup in that hierarchy. */
export function resolvePaths(layout: CgroupLayout, inner: InnerPath): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of layout.v1) {
    const dir = dirIn(h, inner, false);
    for (const c of h.controllers) out[c] = dir;
  }
  if (layout.unified) out[UNIFIED] = dirIn(layout.unified, inner, layout.mode === 'v2');
  return out;
}
