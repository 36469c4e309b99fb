/**
 * Shared test material for the OCI runtime suites: the busybox rootfs fixture, bundles, and a way to run the
 * same bundle under berth-run and its peers (runc, crun). Everything a test creates is registered for cleanup.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultSpec } from '../../src/oci/spec/default';
import type { Spec } from '../../src/oci/spec/types';
import { entriesBelow, removeTempDirs, trackTempDir } from './cleanup';

export const REPO = path.resolve(__dirname, '..', '..');
export const BERTH_RUN = path.join(REPO, 'build', 'bin', 'berth-run');

let rootfsPath: string | undefined;

/** The busybox rootfs from hack/fixtures (built on first use). */
export function fixtureRootfs(): string {
  if (!rootfsPath) {
    const out = execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim();
    rootfsPath = path.join(out, 'rootfs');
  }
  return rootfsPath;
}

/** Fails loudly when something a suite needs is missing: tests never skip silently. */
export function requireTools(...tools: string[]): void {
  if (process.getuid?.() !== 0) throw new Error('these tests need root (namespaces, cgroups, mounts)');
  for (const t of tools) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`]);
    if (r.status !== 0) throw new Error(`${t} is missing: install it (hack/deps does)`);
  }
  if (!fs.existsSync(BERTH_RUN)) throw new Error('build/bin/berth-run is missing: run `npm run build`');
}

const tempDirs: string[] = [];

/** A fresh directory under the temp dir; gone after cleanupTempDirs(), or at the latest when the test file ends. */
export function tempDir(prefix = 'berth-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  trackTempDir(d);
  return d;
}

let counter = 0;
export function uniqueId(prefix = 't'): string {
  return `${prefix}-${process.pid}-${++counter}`;
}

/** A bundle whose config.json is runc's default spec on the fixture rootfs, changed by `mutate`. */
export function makeBundle(mutate: (spec: Spec) => void = () => undefined, options: { ociVersion?: string } = {}): string {
  const dir = tempDir('berth-bundle-');
  const spec = defaultSpec({ ociVersion: options.ociVersion ?? '1.0.2' });
  spec.root = { path: fixtureRootfs(), readonly: true };
  spec.process!.terminal = false;
  mutate(spec);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

export type Peer = 'berth-run' | 'runc' | 'crun';

export const PEER_BINARY: Record<Peer, string> = { 'berth-run': BERTH_RUN, runc: '/usr/sbin/runc', crun: '/usr/bin/crun' };

export interface Invocation {
  status: number;
  stdout: string;
  stderr: string;
}

/** A runtime under test with its own --root; remembers every id it created, for cleanup. */
export class RuntimeCli {
  readonly root: string;
  private readonly ids = new Set<string>();

  constructor(readonly peer: Peer = 'berth-run') {
    this.root = tempDir(`berth-root-${peer}-`);
  }

  run(args: string[], options: { input?: string; timeoutMs?: number; cwd?: string } = {}): Invocation {
    const id = idArgument(args);
    if (id) this.ids.add(id);
    // Output goes through files, not pipes: a detached container keeps its stdio open long after we return.
    const outFile = path.join(this.root, `.out-${++counter}`);
    const errFile = `${outFile}.err`;
    const out = fs.openSync(outFile, 'w+');
    const err = fs.openSync(errFile, 'w+');
    try {
      const [cmd, argv] = peerCommand(this.peer, ['--root', this.root, ...args]);
      const r: SpawnSyncReturns<Buffer> = spawnSync(cmd, argv, {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', out, err], input: options.input,
        timeout: options.timeoutMs ?? 30000, cwd: options.cwd,
      });
      if (r.error) throw r.error;
      return {
        status: r.status ?? 128 + (r.signal ? os.constants.signals[r.signal] : 0),
        stdout: fs.readFileSync(outFile, 'utf8'),
        stderr: fs.readFileSync(errFile, 'utf8'),
      };
    } finally {
      fs.closeSync(out);
      fs.closeSync(err);
      fs.rmSync(outFile, { force: true });
      fs.rmSync(errFile, { force: true });
    }
  }

  /** Runs and expects success; the error shows what the runtime said. */
  ok(args: string[], options: { input?: string; timeoutMs?: number } = {}): Invocation {
    const r = this.run(args, options);
    if (r.status !== 0) throw new Error(`${this.peer} ${args.join(' ')} → ${r.status}\n${r.stderr}${r.stdout}`);
    return r;
  }

  state(id: string): { status: string; pid: number; bundle: string; id: string; annotations?: Record<string, string> } {
    return JSON.parse(this.ok(['state', id]).stdout);
  }

  cleanup(): void {
    for (const id of this.ids) this.run(['delete', '--force', id]);
    this.ids.clear();
  }
}

/**
 * crun 1.8 refuses a hybrid host whose cgroup2 mount holds a controller; it runs in a private mount namespace
 * where that mount's cgroup.controllers reads empty. Nothing changes for the host.
 */
export function peerCommand(peer: Peer, args: string[]): [string, string[]] {
  if (peer !== 'crun' || !fs.existsSync('/sys/fs/cgroup/unified/cgroup.controllers')) return [PEER_BINARY[peer], args];
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount --bind /dev/null /sys/fs/cgroup/unified/cgroup.controllers && exec "$0" "$@"', PEER_BINARY.crun, ...args]];
}

function idArgument(args: string[]): string | undefined {
  const cmd = args[0];
  if (!['create', 'run'].includes(cmd)) return undefined;
  return args[args.length - 1];
}

/** Removes this helper's temp dirs; one with a mount still below it is kept and reported (rm -rf would empty the mount). */
export function cleanupTempDirs(): void {
  removeTempDirs(tempDirs.splice(0));
}

/** Polls `check` until it returns true, at most `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every cgroup directory under any hierarchy whose name contains `needle`: used to prove nothing leaked. */
export function cgroupDirsMatching(needle: string): string[] {
  return entriesBelow('/sys/fs/cgroup', 7).filter((e) => e.dir && path.basename(e.path).includes(needle)).map((e) => e.path);
}

/**
 * Removes the cgroup directories whose name contains `needle`, with everything below them, deepest first, in
 * every hierarchy. A directory still in use stays (rmdir fails): the leak check names it.
 */
export function removeCgroupDirs(needle: string): void {
  const below = (d: string): string[] => {
    try {
      return [...fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => below(path.join(d, e.name))), d];
    } catch {
      return [d];
    }
  };
  for (const d of cgroupDirsMatching(needle).flatMap(below).sort((a, b) => b.length - a.length)) {
    try {
      fs.rmdirSync(d);
    } catch {
      // in use or gone already
    }
  }
}

export function mountsMatching(needle: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(needle));
}

/** Processes whose command line mentions `needle`. */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle) && Number(name) !== process.pid) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** Gone, or a zombie waiting for a reaper that is not ours: either way the process no longer runs. */
export function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return true;
  }
}

/**
 * Processes whose environment (as they were started) contains `needle`, e.g. a marker variable set in the test
 * process before running berth-run: berth-init and the container's init inherit it until they exec the user's
 * program, and hooks run by berth-run inherit it too. Used to find leftovers of one test among concurrent runs.
 */
export function processesWithEnv(needle: string): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(needle) && !processGone(Number(name))) out.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** SIGKILL each pid (by pid only); ignores the ones already gone. */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A private copy of the fixture rootfs (cp -a), for tests that plant files in it; removed with the temp dirs. */
export function copyRootfs(): string {
  const dir = path.join(tempDir('berth-rootfs-'), 'rootfs');
  execFileSync('cp', ['-a', fixtureRootfs(), dir]);
  return dir;
}
