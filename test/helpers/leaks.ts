/**
 * The leak check around a whole jest run: global-setup.ts snapshots the host, global-teardown.ts snapshots it
 * again and fails the run when the suites left anything behind. Only differences count, so whatever existed
 * before the run (including other people's work on a shared machine) is tolerated; what others create
 * during the run can show up, and the report says where each item comes from to make that easy to judge.
 *
 * Watched: entries of /tmp and os.tmpdir(); mounts (/proc/self/mountinfo); network namespaces (/run/netns,
 * `ip netns`); network links; cgroup directories; firewall rules (iptables-save, ip6tables-save, nft list
 * ruleset, counters ignored); a few state directories (/run, /var/lib/cni, /etc/cni, /opt/cni); processes.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { entriesBelow, RUN_JOURNALS } from './cleanup';

/** Set in the environment of everything the run starts (children inherit it), to recognise our processes. */
export const RUN_MARKER_VAR = 'BERTH_TEST_RUN';

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Clock ticks since boot: with the pid, identifies a process (pids are reused). */
  start: number;
  state: string;
  uid: number;
  comm: string;
  cmdline: string;
}

export interface HostSnapshot {
  tmp: string[];
  mounts: string[];
  netns: string[];
  links: string[];
  cgroups: string[];
  firewall: string[];
  paths: string[];
  procs: ProcInfo[];
  /** cgroup hierarchies: key as /proc/PID/cgroup names them (controllers sorted; '' for v2) → mount point. */
  hierarchies: Array<[string, string]>;
  /** Other jest processes on the machine (other people's runs), for attributing what is named after them. */
  otherJests: number[];
}

const CGROUP_DEPTH = 7;
const WATCHED_DIRS: Array<[string, number]> = [['/run', 2], ['/var/lib/cni', 2], ['/etc/cni', 2], ['/opt/cni', 2]];
/** jest's own cache (made before global setup runs on a fresh machine, but tolerate it anyway). */
const TMP_IGNORED = /^jest_/;

function tmpDirs(): string[] {
  return [...new Set(['/tmp', os.tmpdir()].map((d) => path.resolve(d)))];
}

function listTmp(): string[] {
  const out: string[] = [];
  for (const d of tmpDirs()) {
    try {
      for (const n of fs.readdirSync(d)) if (!TMP_IGNORED.test(n)) out.push(path.join(d, n));
    } catch {
      // no such dir
    }
  }
  return out;
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** "mount point  fstype source (root)": no ids, so a remount of the same thing is not a difference. */
function listMounts(): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ');
    const sep = f.indexOf('-');
    return `${unescapeMount(f[4])}  ${f[sep + 1]} ${unescapeMount(f[sep + 2])} (root ${unescapeMount(f[3])})`;
  });
}

function cmd(file: string, args: string[]): string | undefined {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout : undefined;
}

function listNetns(): string[] {
  const out = new Set<string>();
  try {
    for (const n of fs.readdirSync('/run/netns')) out.add(`/run/netns/${n}`);
  } catch {
    // none
  }
  for (const l of (cmd('ip', ['netns', 'list']) ?? '').split('\n')) if (l.trim()) out.add(`ip netns: ${l.trim().split(' ')[0]}`);
  return [...out];
}

function listLinks(): string[] {
  return (cmd('ip', ['-o', 'link', 'show']) ?? '').split('\n').filter(Boolean).map((l) => {
    const m = /^\d+:\s+([^:@\s]+)/.exec(l);
    return m ? m[1] : l;
  });
}

function listDirs(root: string, depth: number): string[] {
  return entriesBelow(root, depth).filter((e) => e.dir).map((e) => e.path);
}

function listPaths(): string[] {
  const out: string[] = [];
  // /run/netns has a section of its own; /run/mount is util-linux's (mount(8) makes it on first use, for everyone).
  const watched = (p: string) => p !== '/run/netns' && p !== '/run/mount' && !p.startsWith('/run/mount/');
  for (const [dir, depth] of WATCHED_DIRS) {
    if (!fs.existsSync(dir)) continue;
    out.push(dir, ...entriesBelow(dir, depth, watched).map((e) => e.path).filter(watched));
  }
  return out;
}

/** iptables-save output as "<tool> <table>: <line>", without comments and counters. */
function iptablesLines(tool: string): string[] {
  const text = cmd(tool, []);
  if (text === undefined) return [];
  let table = '?';
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const l = raw.replace(/\[\d+:\d+\]/g, '').trim();
    if (!l || l.startsWith('#') || l === 'COMMIT') continue;
    if (l.startsWith('*')) {
      table = l.slice(1);
      continue;
    }
    out.push(`${tool} ${table}: ${l}`);
  }
  return out;
}

/** nft list ruleset as one line per statement, each prefixed with its enclosing blocks; counters ignored. */
function nftLines(): string[] {
  const text = cmd('nft', ['list', 'ruleset']);
  if (text === undefined) return [];
  const stack: string[] = [];
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    let l = raw.replace(/#.*$/, '').replace(/counter packets \d+ bytes \d+/g, 'counter').replace(/\s+expires \S+/g, '').trim();
    while (l.startsWith('}')) {
      stack.pop();
      l = l.slice(1).trim();
    }
    if (!l) continue;
    if (l.endsWith('{')) {
      const header = l.slice(0, -1).trim();
      out.push(`nft ${[...stack, header].join(' / ')}`);
      stack.push(header);
      continue;
    }
    out.push(`nft ${stack.join(' / ')}: ${l}`);
  }
  return out;
}

const NOT_CONTROLLERS = /^(rw|ro|xattr|clone_children|noprefix|cpuset_v2_mode|favordynmods|nsdelegate|memory_recursiveprot|release_agent=.*)$/;
const hierarchyKey = (controllers: string): string => controllers.split(',').filter(Boolean).sort().join(',');

function cgroupHierarchies(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0) continue;
    const [fstype, , superOpts] = f.slice(sep + 1);
    const key = fstype === 'cgroup2' ? '' : fstype === 'cgroup' ? hierarchyKey(superOpts.split(',').filter((o) => !NOT_CONTROLLERS.test(o)).join(',')) : undefined;
    if (key !== undefined && !out.has(key)) out.set(key, unescapeMount(f[4]));
  }
  return out;
}

/** A process's cgroup per hierarchy key. */
function procCgroups(pid: number): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const l of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
      const m = /^\d+:([^:]*):(.*)$/.exec(l);
      if (m) out.set(hierarchyKey(m[1]), m[2]);
    }
  } catch {
    // gone
  }
  return out;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? -1);
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
    return { pid, ppid: Number(f[1]), start: Number(f[19]), state: f[0], uid, comm, cmdline };
  } catch {
    return undefined; // exited while we looked
  }
}

function listProcs(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const n of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(n)) continue;
    const p = readProc(Number(n));
    if (p) out.push(p);
  }
  return out;
}

export function snapshot(): HostSnapshot {
  const procs = listProcs();
  return {
    tmp: listTmp(),
    mounts: listMounts(),
    netns: listNetns(),
    links: listLinks(),
    cgroups: listDirs('/sys/fs/cgroup', CGROUP_DEPTH),
    firewall: [...iptablesLines('iptables-save'), ...iptablesLines('ip6tables-save'), ...nftLines()],
    paths: listPaths(),
    procs,
    hierarchies: [...cgroupHierarchies()],
    otherJests: procs.filter((p) => p.pid !== process.pid && /(^|\/)jest(\s|$)/.test(p.cmdline) && /^node/.test(p.comm)).map((p) => p.pid),
  };
}

/** Items of `after` beyond those in `before`, counting duplicates (two identical mounts are two). */
function added(before: string[], after: string[]): string[] {
  const left = new Map<string, number>();
  for (const b of before) left.set(b, (left.get(b) ?? 0) + 1);
  const out: string[] = [];
  for (const a of after) {
    const n = left.get(a) ?? 0;
    if (n > 0) left.set(a, n - 1);
    else out.push(a);
  }
  return out;
}

/** Only the topmost of new directories (a leaked cgroup tree is one item). */
function topmost(dirs: string[]): string[] {
  const set = new Set(dirs);
  return dirs.filter((d) => !set.has(path.dirname(d))).sort();
}

/** Programs these suites start (comm, at most 15 characters), for recognising an orphaned tree as ours. */
const PROC_NAMES = /^(runc|crun|containerd.*|ctr|busybox|sleep|sh|dd|berth.*|dbus-daemon|docker-registry|registry|skopeo|setpriv|unshare|nsenter|ip|conntrack|node)$/;

export interface Leftovers {
  sections: Array<{ title: string; items: string[] }>;
  /** Differences that are someone else's (kept out of the failure, shown for information). */
  notOurs: Array<{ title: string; items: string[] }>;
}

function environHas(pid: number, entry: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry);
  } catch {
    return false;
  }
}

function cgroupOf(pid: number): string {
  return [...procCgroups(pid)].filter(([, p]) => p !== '/').map(([k, p]) => `${k || 'v2'}:${p}`).join(' ');
}

const within = (a: string, b: string): boolean => b === a || b.startsWith(a === '/' ? '/' : `${a}/`);

/**
 * Whose login session a cgroup path is in. On a shared machine every session has its own cgroup (in some
 * hierarchy at least), and what a session starts stays below it unless moved: a path whose deepest cgroup that
 * existed before the run is neither on the way to the jest process's own cgroup nor below it belongs to
 * another session. Returns that foreign cgroup, or undefined.
 */
class Sessions {
  private readonly old: Set<string>;
  private readonly mounts: Map<string, string>;
  private readonly jest: Map<string, string>;

  constructor(before: HostSnapshot, jestPid: number) {
    this.old = new Set(before.cgroups);
    this.mounts = new Map(before.hierarchies);
    this.jest = procCgroups(jestPid);
  }

  /** The deepest pre-existing ancestor (or self, unless `strict`) of `rel` in hierarchy `key`. */
  private oldAncestor(key: string, rel: string, strict: boolean): string {
    const mount = this.mounts.get(key);
    let c = strict ? path.dirname(rel) : rel;
    while (mount && c !== '/' && !this.old.has(path.join(mount, c))) c = path.dirname(c);
    return c;
  }

  foreign(key: string, rel: string, strict = false): string | undefined {
    const a = this.oldAncestor(key, rel, strict);
    const j = this.jest.get(key) ?? '/';
    return a === '/' || within(a, j) || within(j, a) ? undefined : a;
  }

  foreignProcess(pid: number): string | undefined {
    for (const [key, rel] of procCgroups(pid)) {
      const f = this.foreign(key, rel);
      if (f) return `${key || 'v2'}:${f}`;
    }
    return undefined;
  }

  /** A new cgroup directory: its hierarchy key and path inside the hierarchy. */
  locate(dir: string): [string, string] | undefined {
    for (const [key, mount] of this.mounts) if (within(mount, dir) && dir !== mount) return [key, dir.slice(mount.length) || '/'];
    return undefined;
  }
}

/**
 * Processes the run left: new since the snapshot, alive (not zombies), of our uid, not kernel threads, and
 * either below the jest process (jest's own esbuild service aside), or carrying this run's marker variable,
 * or in a new orphan tree (reparented to init) whose top is a program these suites start and which does not
 * live in another login session's cgroup.
 */
function leftoverProcs(before: HostSnapshot, after: HostSnapshot, jestPid: number, marker: string, sessions: Sessions) {
  const known = new Set(before.procs.map((p) => `${p.pid}:${p.start}`));
  const byPid = new Map(after.procs.map((p) => [p.pid, p]));
  const isNew = (p: ProcInfo): boolean => !known.has(`${p.pid}:${p.start}`);
  const uid = process.getuid?.() ?? 0;
  const why = new Map<number, string>();
  const theirs = new Map<number, string>();
  /** New processes below an older process that is neither init nor jest: someone else's running tree. */
  const otherTrees = new Set<number>();
  for (const p of after.procs) {
    if (!isNew(p) || p.pid === jestPid || p.state === 'Z' || p.uid !== uid || p.ppid === 2 || p.pid === 2 || p.cmdline === '') continue;
    // Climb while the ancestors are new too: `top` is the root of the new part of this process tree.
    let top = p;
    let belowJest = false;
    for (let q = byPid.get(p.ppid), hops = 0; q && hops < 64; q = byPid.get(q.ppid), hops++) {
      if (q.pid === jestPid) belowJest = true;
      if (!isNew(q)) break;
      top = q;
    }
    if (!belowJest && top.ppid !== 1 && byPid.has(top.ppid)) otherTrees.add(p.pid);
    if (belowJest) {
      if (p.ppid === jestPid && /esbuild.* --service/.test(p.cmdline)) continue; // jest's transformer/bundler service
      why.set(p.pid, 'started by the jest process');
    } else if (environHas(p.pid, `${RUN_MARKER_VAR}=${marker}`)) {
      why.set(p.pid, 'carries this run\'s marker variable');
    } else if (top.ppid === 1 && PROC_NAMES.test(top.comm)) {
      const session = sessions.foreignProcess(top.pid);
      if (session) theirs.set(p.pid, `tree of pid ${top.pid} (${top.comm}) lives in another session's cgroup ${session}`);
      else why.set(p.pid, top === p ? 'orphan started during the run' : `in the orphaned tree of pid ${top.pid} (${top.comm}) started during the run`);
    }
  }
  return { why, theirs, otherTrees, isNew, byPid };
}

function describeTmp(p: string): string {
  try {
    const st = fs.lstatSync(p);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
    return `${p}  (${kind}, changed ${st.mtime.toISOString().slice(11, 19)})`;
  } catch {
    return p;
  }
}

/** Processes in a cgroup directory or below it. */
function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string, depth: number): void => {
    try {
      for (const l of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) out.push(Number(l));
    } catch {
      // not a cgroup dir or gone
    }
    if (depth > 8) return;
    try {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name), depth + 1);
    } catch {
      // gone
    }
  };
  walk(dir, 0);
  return out;
}

/** Temp dirs the helpers of each run made (this one's and other runs' going on at the same time), by run. */
function journals(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  try {
    for (const run of fs.readdirSync(RUN_JOURNALS)) out.set(run, new Set(fs.readFileSync(path.join(RUN_JOURNALS, run), 'utf8').split('\n').filter(Boolean)));
  } catch {
    // none yet
  }
  return out;
}

/** Drops this run's journal, and those of runs whose jest is gone. */
export function pruneJournals(marker: string): void {
  for (const run of journals().keys()) {
    const pid = Number(run.split('-')[0]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      // gone
    }
    if (run === marker || !alive) fs.rmSync(path.join(RUN_JOURNALS, run), { force: true });
  }
}

export function compare(before: HostSnapshot, after: HostSnapshot, jestPid: number, marker: string): Leftovers {
  const sections: Leftovers['sections'] = [];
  const notOurs: Leftovers['notOurs'] = [];
  const sessions = new Sessions(before, jestPid);
  const procs = leftoverProcs(before, after, jestPid, marker, sessions);

  // Cgroups: theirs when below another session's cgroup, when the same relative path is (another hierarchy
  // of the same container), or when every process in them is older than the run or someone else's (in
  // another session's cgroup, or below a process of another running tree).
  const cgroups: string[] = [];
  const foreignCgroups: string[] = [];
  const newCgroups = topmost(added(before.cgroups, after.cgroups));
  const foreignTails = new Set<string>();
  const located = newCgroups.map((d) => ({ d, at: sessions.locate(d) }));
  for (const { at } of located) {
    if (!at) continue;
    const f = sessions.foreign(at[0], at[1], true);
    // Only distinctive names (container ids): a short one could be anybody's.
    if (f && path.relative(f, at[1]).length >= 8) foreignTails.add(path.relative(f, at[1]));
  }
  for (const { d, at } of located) {
    const inside = cgroupProcs(d);
    const held = inside.length ? `  (holds pids ${inside.slice(0, 8).join(' ')}${inside.length > 8 ? ' …' : ''})` : '';
    const f = at && sessions.foreign(at[0], at[1], true);
    const twin = at && foreignTails.has(at[1].replace(/^\//, ''));
    const othersOnly = inside.length > 0 && inside.every((pid) => {
      const p = procs.byPid.get(pid);
      return !procs.why.has(pid) && (!p || !procs.isNew(p) || procs.theirs.has(pid) || procs.otherTrees.has(pid) || sessions.foreignProcess(pid) !== undefined);
    });
    if (f) foreignCgroups.push(`${d}  (below ${f}, another session's cgroup)`);
    else if (twin) foreignCgroups.push(`${d}  (the same container as another session's cgroup elsewhere)`);
    else if (othersOnly) foreignCgroups.push(`${d}${held}, none of them this run's`);
    else cgroups.push(`${d}${held}`);
  }

  // Temp dirs another run's helpers made are that run's (it is still going: it removes them when done).
  const runs = journals();
  const inFlight: string[] = [];
  const tmpEntries: string[] = [];
  for (const t of added(before.tmp, after.tmp).sort()) {
    const other = [...runs].find(([run, dirs]) => run !== marker && dirs.has(t));
    if (other) inFlight.push(`${describeTmp(t)}  (run ${other[0]})`);
    else tmpEntries.push(runs.get(marker)?.has(t) ? `${describeTmp(t)}  (made by this run's tempDir())` : describeTmp(t));
  }
  if (inFlight.length) notOurs.push({ title: 'temp dirs of another jest run going on at the same time', items: inFlight });

  const all: Array<[string, string[]]> = [
    [`temp entries in ${tmpDirs().join(', ')}`, tmpEntries],
    ['mounts (mount point, type, source)', added(before.mounts, after.mounts)],
    ['network namespaces', added(before.netns, after.netns).sort()],
    ['network links', added(before.links, after.links).sort()],
    ['cgroups', cgroups],
    ['firewall rules and chains (normalised, counters ignored)', added(before.firewall, after.firewall)],
    ['files and directories under /run, /var/lib/cni, /etc/cni, /opt/cni', topmost(added(before.paths, after.paths))],
    ['processes', [...procs.why.keys()].sort((a, b) => a - b).map((pid) => {
      const p = procs.byPid.get(pid)!;
      const cg = cgroupOf(pid);
      return `pid ${pid} (ppid ${p.ppid}) ${p.cmdline.slice(0, 160)}  [${procs.why.get(pid)}${cg ? `; cgroup ${cg}` : ''}]`;
    })],
  ];

  // Named after another jest run's pid (these suites put their own pid in names): that run's, not ours.
  const others = [...new Set([...before.otherJests, ...after.otherJests])].filter((p) => p !== jestPid);
  const namesOther = (item: string): number | undefined => {
    for (const m of item.matchAll(/(?<![0-9])([0-9]{2,7})(?![0-9])/g)) if (others.includes(Number(m[1]))) return Number(m[1]);
    return undefined;
  };
  // Named after a container of another session (its state dir, say): that session's too.
  const containerNames = [...foreignTails].map((t) => path.basename(t)).filter((n) => n.length >= 8);
  const namesForeignContainer = (item: string): string | undefined => containerNames.find((n) => item.split(/[\s/:]+/).includes(n));
  const foreignMounts: string[] = [];
  const byOthers: string[] = [];
  for (const [title, items] of all) {
    const kept: string[] = [];
    for (const i of items) {
      const pid = namesOther(i);
      const container = namesForeignContainer(i);
      if (pid === undefined && container === undefined) {
        kept.push(i);
        continue;
      }
      byOthers.push(pid !== undefined ? `${i}  (names pid ${pid}, another jest run)` : `${i}  (named after ${container}, a container in another session's cgroup)`);
      if (title.startsWith('mounts')) foreignMounts.push(i.split('  ')[0]);
    }
    if (kept.length) sections.push({ title, items: kept });
  }
  // A new temp dir holding another run's mount is that run's.
  const tmp = sections.find((x) => x.title.startsWith('temp entries'));
  if (tmp) {
    const mine = tmp.items.filter((i) => {
      const dir = i.split('  ')[0];
      if (!foreignMounts.some((m) => within(dir, m))) return true;
      byOthers.push(`${i}  (holds another jest run's mounts)`);
      return false;
    });
    if (mine.length) tmp.items = mine;
    else sections.splice(sections.indexOf(tmp), 1);
  }

  if (byOthers.length) notOurs.push({ title: 'named after another jest run or another session\'s container on this machine', items: byOthers });
  if (foreignCgroups.length) notOurs.push({ title: 'new cgroups of other sessions on this machine', items: foreignCgroups });
  if (procs.theirs.size) {
    notOurs.push({
      title: 'new orphaned processes of other sessions on this machine',
      items: [...procs.theirs].map(([pid, why]) => `pid ${pid} ${procs.byPid.get(pid)?.cmdline.slice(0, 100)}  [${why}]`),
    });
  }
  return { sections, notOurs };
}

export function formatReport(l: Leftovers): string {
  const n = countLeftovers(l);
  const lines: string[] = [];
  if (n > 0) {
    lines.push(`berth leak check: the test run left ${n} thing${n === 1 ? '' : 's'} behind (differences from the host before the run):`);
    for (const s of l.sections) {
      lines.push('', `  ${s.title} (${s.items.length}):`);
      for (const i of s.items) lines.push(`    ${i}`);
    }
    lines.push('', '  Each suite must remove what it creates, also when it fails (afterAll, try/finally; temp dirs from the');
    lines.push('  helpers\' tempDir() go by themselves). On a shared machine, others\' concurrent work can appear here too.');
  } else {
    lines.push('berth leak check: nothing left behind.');
  }
  for (const s of l.notOurs) {
    lines.push('', `  not counted, ${s.title} (${s.items.length}):`);
    for (const i of s.items.slice(0, 20)) lines.push(`    ${i}`);
    if (s.items.length > 20) lines.push(`    … and ${s.items.length - 20} more`);
  }
  return lines.join('\n');
}

export const countLeftovers = (l: Leftovers): number => l.sections.reduce((s, x) => s + x.items.length, 0);
