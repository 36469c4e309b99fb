import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { parseMountInfo, type MountInfoEntry } from '../../common/mountinfo';

export { parseMountInfo, type MountInfoEntry };

/**
 * Which cgroup hierarchies this host has and where they are mounted, read from /proc/self/mountinfo (never from
 * hardcoded paths: containers, test namespaces and odd distributions mount them elsewhere).
 *
 *  - v1:     only cgroup (v1) hierarchies with controllers;
 *  - hybrid: v1 hierarchies plus a cgroup2 mount (usually /sys/fs/cgroup/unified) holding whatever controllers
 *            are not bound to v1 — on some hosts that is hugetlb, which then must be limited there;
 *  - v2:     a cgroup2 mount and no v1 hierarchy with a real controller.
 */
export type CgroupMode = 'v1' | 'hybrid' | 'v2';

export interface Hierarchy {
  readonly kind: 'v1' | 'v2';
  /** Where it is mounted in our mount namespace. */
  readonly mountPoint: string;
  /** The cgroup, inside the hierarchy, that the mount shows at mountPoint (mountinfo field 4; "/" normally). */
  readonly root: string;
  /** v1: controllers from the super options (named hierarchies as "name=systemd"); v2: cgroup.controllers. */
  readonly controllers: readonly string[];
  /** This process's own cgroup in the hierarchy, from /proc/self/cgroup ("/" when unknown). */
  readonly ownCgroup: string;
}

export interface CgroupLayout {
  readonly mode: CgroupMode;
  readonly v1: readonly Hierarchy[];
  readonly unified?: Hierarchy;
}


/** /proc/<pid>/cgroup: controller list (or "" for the v2 line) → cgroup path. */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const controllers = line.slice(a + 1, b);
    const cgPath = line.slice(b + 1);
    if (controllers === '') out.set('', cgPath);
    for (const c of controllers.split(',')) if (c !== '') out.set(c, cgPath);
  }
  return out;
}

/** Controllers known to the kernel (first column of /proc/cgroups), used to tell them apart from mount options. */
export function parseProcCgroups(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    out.add(line.split(/\s+/)[0]);
  }
  return out;
}

const FALLBACK_CONTROLLERS = ['cpuset', 'cpu', 'cpuacct', 'blkio', 'memory', 'devices', 'freezer', 'net_cls', 'perf_event', 'net_prio', 'hugetlb', 'pids', 'rdma', 'misc'];

export interface LayoutSources {
  mountInfo: string;
  selfCgroup: string;
  /** /proc/cgroups; optional (the fallback list covers every controller Linux has). */
  procCgroups?: string;
  /** Reads <mountPoint>/cgroup.controllers of a cgroup2 mount; injectable for tests of the parser. */
  readControllers?: (mountPoint: string) => string;
}

/**
 * When a hierarchy is mounted several times (bind mounts, nested containers), prefer the mount showing the
 * hierarchy's root, then the first one listed — the kernel lists mounts in creation order.
 */
function pick<T extends { root: string }>(candidates: T[]): T | undefined {
  return candidates.find((c) => c.root === '/') ?? candidates[0];
}

export function buildLayout(src: LayoutSources): CgroupLayout {
  const known = src.procCgroups ? parseProcCgroups(src.procCgroups) : new Set(FALLBACK_CONTROLLERS);
  const own = parseProcCgroup(src.selfCgroup);
  const mounts = parseMountInfo(src.mountInfo);
  const readControllers = src.readControllers ?? ((mp: string) => fs.readFileSync(path.join(mp, 'cgroup.controllers'), 'utf8'));

  // Group v1 mounts by their controller set: the same hierarchy can be mounted more than once.
  const v1ByKey = new Map<string, (MountInfoEntry & { controllers: string[] })[]>();
  for (const m of mounts) {
    if (m.fsType !== 'cgroup') continue;
    const controllers = m.superOptions.filter((o) => known.has(o) || o.startsWith('name='));
    if (controllers.length === 0) continue;
    const key = [...controllers].sort().join(',');
    const list = v1ByKey.get(key) ?? [];
    list.push({ ...m, controllers });
    v1ByKey.set(key, list);
  }
  const v1: Hierarchy[] = [];
  for (const list of v1ByKey.values()) {
    const m = pick(list);
    if (!m) continue;
    v1.push({ kind: 'v1', mountPoint: m.mountPoint, root: m.root, controllers: m.controllers, ownCgroup: own.get(m.controllers[0]) ?? '/' });
  }

  const v2Mount = pick(mounts.filter((m) => m.fsType === 'cgroup2'));
  let unified: Hierarchy | undefined;
  if (v2Mount) {
    let controllers: string[] = [];
    try {
      controllers = readControllers(v2Mount.mountPoint).trim().split(/\s+/).filter((c) => c !== '');
    } catch {
      // An unreadable cgroup.controllers leaves the mount usable for the core files (procs, freeze, kill).
    }
    unified = { kind: 'v2', mountPoint: v2Mount.mountPoint, root: v2Mount.root, controllers, ownCgroup: own.get('') ?? '/' };
  }

  // Named-only v1 hierarchies (name=systemd kept for old tools on a v2 host) do not make a host v1.
  const realV1 = v1.some((h) => h.controllers.some((c) => !c.startsWith('name=')));
  if (realV1) return { mode: unified ? 'hybrid' : 'v1', v1, unified };
  if (unified) return { mode: 'v2', v1: [], unified };
  if (v1.length > 0) return { mode: 'v1', v1 };
  throw new BerthError('Unavailable', 'no cgroup filesystem is mounted (checked /proc/self/mountinfo)');
}

function readOr(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The layout of this host, as seen by this process. */
export function hostLayout(): CgroupLayout {
  return buildLayout({
    mountInfo: fs.readFileSync('/proc/self/mountinfo', 'utf8'),
    selfCgroup: readOr('/proc/self/cgroup') ?? '',
    procCgroups: readOr('/proc/cgroups'),
  });
}

export function detectCgroupMode(): CgroupMode {
  return hostLayout().mode;
}

/**
 * The host's cgroup2 mount viewed as if the host were pure v2. Lets hybrid hosts (and their tests) drive the
 * v2 code path on a real cgroup2 hierarchy, limited to the controllers that hierarchy actually has.
 */
export function unifiedOnly(layout: CgroupLayout): CgroupLayout {
  if (!layout.unified) throw new BerthError('FailedPrecondition', 'this host has no cgroup2 mount');
  return { mode: 'v2', v1: [], unified: layout.unified };
}

/** Hugepage sizes this kernel supports, in the kernel's cgroup file naming ("2MB", "1GB", "64KB"). */
export function hugePageSizes(sysDir = '/sys/kernel/mm/hugepages'): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(sysDir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const m = /^hugepages-(\d+)kB$/.exec(n);
    if (!m) continue;
    // Same rendering as the kernel's hugetlb_cgroup mem_fmt(): whole GB, else whole MB, else KB.
    const kb = Number(m[1]);
    out.push(kb >= 1024 * 1024 ? `${Math.floor(kb / (1024 * 1024))}GB` : kb >= 1024 ? `${Math.floor(kb / 1024)}MB` : `${kb}KB`);
  }
  return out.sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
}
