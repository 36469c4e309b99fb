/**
 * Host features the suites depend on, each probed at most once per test file, and the one way suites react:
 *
 *  - a feature a Debian machine of this kind can legitimately lack (i386 syscalls, time or user namespaces,
 *    IPv6, a cgroup v1 or v2 layout, a controller): `itIf(feature)('name', fn)` registers the test normally
 *    when present, and with it.skip and the reason in its name when absent. jest counts it as skipped
 *    (numPendingTests; hack/test prints "N skipped"), so it is never a silent pass.
 *  - a hard requirement (root, overlayfs, nftables, a pty): `requireHost(feature)` throws an error naming
 *    what is missing, so the suite fails.
 *
 * Two switches, read when a file loads:
 *  BERTH_TEST_HOST_DENY=ia32,timens  probes with these names report "missing" (to exercise the skip path on a
 *                                    host that has the feature): each feature's `name`, or its part before ':'
 *                                    (cgroup-v1 for cgroup-v1:memory,pids)
 *  BERTH_TEST_NO_SKIP=1              a missing feature fails its tests instead of skipping them (for a CI host
 *                                    known to have everything, where a skip would only hide a broken host)
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeTree, trackTempDir } from './cleanup';

export interface HostFeature {
  /** Short key, as BERTH_TEST_HOST_DENY names it. */
  readonly name: string;
  readonly present: boolean;
  /** What is missing and why, for a skipped test's name or a failing suite's error; '' when present. */
  readonly missing: string;
}

const denied = new Set((process.env.BERTH_TEST_HOST_DENY ?? '').split(',').map((s) => s.trim()).filter(Boolean));
const noSkip = !!process.env.BERTH_TEST_NO_SKIP;
const cache = new Map<string, HostFeature>();

/** Runs `check` once per file for `name`; it returns undefined when the feature works, else what is wrong. */
export function probe(name: string, check: () => string | undefined): HostFeature {
  const known = cache.get(name);
  if (known) return known;
  let missing: string | undefined;
  if (denied.has(name) || denied.has(name.split(':')[0])) missing = `${name} forced missing by BERTH_TEST_HOST_DENY`;
  else {
    try {
      missing = check();
    } catch (err) {
      missing = `${name}: probe failed: ${(err as Error).message}`;
    }
  }
  const f: HostFeature = { name, present: missing === undefined, missing: missing ?? '' };
  cache.set(name, f);
  return f;
}

type Condition = boolean | HostFeature | HostFeature[];

function verdict(cond: Condition, reason?: string): string | undefined {
  if (typeof cond === 'boolean') return cond ? undefined : (reason ?? 'a host feature is missing');
  const absent = (Array.isArray(cond) ? cond : [cond]).filter((f) => !f.present);
  if (absent.length === 0) return undefined;
  return reason ?? absent.map((f) => f.missing).join('; ');
}

type TestFn = (name: string, fn: jest.ProvidesCallback, timeout?: number) => void;
type DescribeFn = (name: string, fn: () => void) => void;

/** `it` when the condition holds; otherwise it.skip with "[skipped: reason]" in the name (or a failure under BERTH_TEST_NO_SKIP). */
export function itIf(cond: Condition, reason?: string): TestFn {
  const why = verdict(cond, reason);
  if (why === undefined) return it;
  if (noSkip) {
    return (name, _fn, timeout) => it(name, () => {
      throw new Error(`this host lacks what the test needs: ${why} (BERTH_TEST_NO_SKIP is set, so this fails instead of skipping)`);
    }, timeout);
  }
  return (name, fn, timeout) => it.skip(`${name} [skipped: ${why}]`, fn, timeout);
}

export const testIf = itIf;

/**
 * `describe` when the condition holds; otherwise describe.skip with the reason in the name. The body still
 * runs (jest collects the skipped tests from it), so it must not touch the missing feature at collection time.
 */
export function describeIf(cond: Condition, reason?: string): DescribeFn {
  const why = verdict(cond, reason);
  if (why === undefined) return describe;
  if (noSkip) {
    return (name) => describe(name, () => it('has what this block needs on this host', () => {
      throw new Error(`this host lacks ${why} (BERTH_TEST_NO_SKIP is set)`);
    }));
  }
  return (name, fn) => describe.skip(`${name} [skipped: ${why}]`, fn);
}

/**
 * A block that cannot run without the condition (a hard requirement): the block itself, or in its place one
 * failing test that names what is missing (the body is not run: it may rely on the feature while collecting).
 */
export function describeRequiring(cond: Condition, reason?: string): DescribeFn {
  const why = verdict(cond, reason);
  if (why === undefined) return describe;
  return (name) => describe(name, () => it('has what this block needs on this host', () => {
    throw new Error(`this host lacks ${why}, which this block cannot do without`);
  }));
}

/** For hard requirements: throws, naming everything missing, so the suite fails with a clear message. */
export function requireHost(...features: HostFeature[]): void {
  const absent = features.filter((f) => !f.present);
  if (absent.length > 0) throw new Error(`this suite cannot run on this host: ${absent.map((f) => f.missing).join('; ')}`);
}

// ------------------------------------------------------------------------------------------- the probes

const run = (cmd: string, args: string[]): SpawnSyncReturns<string> => spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
const said = (r: SpawnSyncReturns<string>): string => (r.error?.message ?? `${r.stderr}${r.stdout}`.trim()) || `exit ${r.status ?? r.signal}`;

export const isRoot = (): HostFeature => probe('root', () => (process.getuid?.() === 0 ? undefined : 'root (the tests use namespaces, cgroups and mounts)'));

/** What the i386 probe's output means (exported for its own test). */
export function ia32Verdict(r: { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }): string | undefined {
  if (r.signal) return `i386 syscalls (int $0x80 is killed by ${r.signal}: this kernel cannot run 32-bit code)`;
  const out = r.stdout.trim();
  if (r.status === 0 && /^ret=[1-9]\d* errno=0$/.test(out)) return undefined;
  return `i386 syscalls (int $0x80 getpid gave ${JSON.stringify(out || r.stderr.trim())}, status ${r.status})`;
}

let loaderDir: string | undefined;
/** test/oci/seccomp-loader.c built once per file (cc required). */
export function seccompLoader(): string {
  if (!loaderDir) {
    loaderDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-probe-'));
    trackTempDir(loaderDir);
  }
  const bin = path.join(loaderDir, 'seccomp-loader');
  if (!fs.existsSync(bin)) {
    const src = path.join(__dirname, '..', 'oci', 'seccomp-loader.c');
    // Static keeps the loader's own startup syscalls small and fixed (the seccomp suite's allowlists rely on it).
    const built = run('cc', ['-O2', '-static', '-o', bin, src]);
    if (built.status !== 0) {
      const dyn = run('cc', ['-O2', '-o', bin, src]);
      if (dyn.status !== 0) throw new Error(`cannot build ${src}: ${said(dyn)}`);
    }
  }
  return bin;
}

/** int $0x80 from a 64-bit process works (IA32 emulation compiled in, enabled, and not broken). */
export const ia32Syscalls = (): HostFeature => probe('ia32', () => {
  if (process.arch !== 'x64') return `i386 syscalls (only probed on x86_64; this is ${process.arch})`;
  const getpid32 = 20;
  const r = spawnSync(seccompLoader(), ['--probe32', String(getpid32)], { encoding: 'utf8', timeout: 10_000 });
  return ia32Verdict(r);
});

export const timeNamespaces = (): HostFeature => probe('timens', () => {
  if (!fs.existsSync('/proc/self/ns/time')) return 'time namespaces (no /proc/self/ns/time: kernel older than 5.6 or CONFIG_TIME_NS off)';
  const r = run('unshare', ['--time', 'true']);
  return r.status === 0 ? undefined : `time namespaces (unshare --time: ${said(r)})`;
});

export const userNamespaces = (): HostFeature => probe('userns', () => {
  const r = run('unshare', ['--user', 'true']);
  if (r.status === 0) return undefined;
  let max = '?';
  try {
    max = fs.readFileSync('/proc/sys/user/max_user_namespaces', 'utf8').trim();
  } catch {
    // no such sysctl: CONFIG_USER_NS off
  }
  return `user namespaces (unshare --user: ${said(r)}; user.max_user_namespaces=${max})`;
});

export const ipv6 = (): HostFeature => probe('ipv6', () => {
  if (!fs.existsSync('/proc/sys/net/ipv6')) return 'IPv6 (no /proc/sys/net/ipv6: booted with ipv6.disable=1 or built without IPv6)';
  for (const scope of ['all', 'default']) {
    const v = fs.readFileSync(`/proc/sys/net/ipv6/conf/${scope}/disable_ipv6`, 'utf8').trim();
    if (v !== '0') return `IPv6 (net.ipv6.conf.${scope}.disable_ipv6=${v})`;
  }
  return undefined;
});

export interface CgroupMounts {
  /** controller (or name=...) → mount point, for every cgroup v1 hierarchy. */
  v1: Map<string, string>;
  v2?: { mountPoint: string; controllers: string[] };
}

const NOT_CONTROLLERS = /^(rw|ro|xattr|clone_children|noprefix|cpuset_v2_mode|favordynmods|release_agent=.*)$/;

/** This host's cgroup mounts, read from mountinfo directly (not through the library under test). */
export function cgroupMounts(): CgroupMounts {
  const out: CgroupMounts = { v1: new Map() };
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (sep < 0) continue;
    const [fstype, , superOpts] = f.slice(sep + 1);
    const mountPoint = f[4].replace(/\\040/g, ' ');
    if (fstype === 'cgroup') {
      for (const o of superOpts.split(',')) if (!NOT_CONTROLLERS.test(o) && !out.v1.has(o)) out.v1.set(o, mountPoint);
    } else if (fstype === 'cgroup2' && !out.v2) {
      let controllers: string[] = [];
      try {
        controllers = fs.readFileSync(path.join(mountPoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
      } catch {
        // not readable: no controllers
      }
      out.v2 = { mountPoint, controllers };
    }
  }
  return out;
}

/** cgroup v1 hierarchies with these controllers (a pure cgroup v2 host has none). */
export const cgroupV1 = (...controllers: string[]): HostFeature => probe(`cgroup-v1:${controllers.join(',')}`, () => {
  const m = cgroupMounts();
  const lacking = controllers.filter((c) => !m.v1.has(c));
  if (lacking.length === 0) return undefined;
  const layout = m.v1.size === 0 ? 'this host has cgroup v2 only' : `mounted v1 controllers: ${[...m.v1.keys()].join(', ')}`;
  return `cgroup v1 hierarchies for ${lacking.join(', ')} (${layout})`;
});

/** A cgroup2 mount (pure v2, or hybrid with /sys/fs/cgroup/unified), optionally with these controllers. */
export const cgroupV2 = (...controllers: string[]): HostFeature => probe(`cgroup2:${controllers.join(',')}`, () => {
  const m = cgroupMounts();
  if (!m.v2) return 'a cgroup2 mount (this host has cgroup v1 only)';
  const lacking = controllers.filter((c) => !m.v2!.controllers.includes(c));
  return lacking.length === 0 ? undefined : `the ${lacking.join(', ')} controller${lacking.length > 1 ? 's' : ''} on the cgroup2 mount ${m.v2.mountPoint} (it has: ${m.v2.controllers.join(' ') || 'none'})`;
});

/** Mounting overlayfs works here (module present, root): a read-only overlay of two lower dirs. */
export const overlayfs = (): HostFeature => probe('overlayfs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-probe-ovl-'));
  try {
    for (const d of ['l1', 'l2', 'm']) fs.mkdirSync(path.join(dir, d));
    const r = run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${dir}/l1:${dir}/l2`, `${dir}/m`]);
    if (r.status !== 0) return `overlayfs (mount -t overlay: ${said(r)})`;
    run('umount', [`${dir}/m`]);
    return undefined;
  } finally {
    const problem = removeTree(dir);
    if (problem) throw new Error(problem);
  }
});

/** user.* extended attributes on the temp dir's file system (tmpfs has them only since Linux 6.6). */
export const userXattrs = (): HostFeature => probe('user-xattrs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-probe-xattr-'));
  try {
    const file = path.join(dir, 'f');
    fs.writeFileSync(file, '');
    const r = run('setfattr', ['-n', 'user.berth.probe', '-v', '1', file]);
    return r.status === 0 ? undefined : `user.* xattrs in ${os.tmpdir()} (setfattr: ${said(r)})`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A pty can be opened: /dev/ptmx and a devpts mount on /dev/pts. */
export const ptys = (): HostFeature => probe('pty', () => {
  const devpts = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => {
    const f = l.split(' ');
    return f[4] === '/dev/pts' && f[f.indexOf('-') + 1] === 'devpts';
  });
  if (!devpts) return 'ptys (no devpts mounted on /dev/pts)';
  try {
    fs.closeSync(fs.openSync('/dev/ptmx', fs.constants.O_RDWR | fs.constants.O_NOCTTY));
  } catch (err) {
    return `ptys (open /dev/ptmx: ${(err as Error).message})`;
  }
  return undefined;
});

/** The kernel's nf_tables through nft (what berth's nftables backend and Debian's iptables-nft use). */
export const nftables = (): HostFeature => probe('nftables', () => {
  const r = run('nft', ['list', 'tables']);
  return r.status === 0 ? undefined : `nftables (nft list tables: ${said(r)})`;
});

/** iptables (and ip6tables where IPv6 is on; Debian's default is the nf_tables flavour) for the nat table. */
export const iptables = (): HostFeature => probe('iptables', () => {
  for (const cmd of ipv6().present ? ['iptables-save', 'ip6tables-save'] : ['iptables-save']) {
    const r = run(cmd, ['-t', 'nat']);
    if (r.status !== 0) return `iptables (${cmd} -t nat: ${said(r)})`;
  }
  return undefined;
});
