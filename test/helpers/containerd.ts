/**
 * A private containerd for tests: its own temp dir (config, --root, --state, sockets, FIFOs, the runc shim's
 * runtime roots), its own namespace, started by the suite and stopped by PID. `stop()` removes everything the
 * daemon and its shims made — tasks, shim processes, container processes, mounts, cgroups, shim sockets, dirs —
 * even when tests failed half-way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stopChild } from './stop-child';

/** One containerd installation: the daemon, its ctr, and the directory holding containerd-shim-runc-v2. */
export interface ContainerdBinaries {
  label: string;
  containerd: string;
  ctr: string;
  shimDir: string;
}

// The installations are defined once, with the benchmarks (hack/bench/common.js).
const installations = require('../../hack/bench/common') as {
  DEBIAN_CONTAINERD: ContainerdBinaries;
  peerContainerd(): ContainerdBinaries;
};

/** Debian's containerd 1.6 (hack/deps installs it). */
export const DEBIAN_CONTAINERD: ContainerdBinaries = installations.DEBIAN_CONTAINERD;

/**
 * containerd 2.x as hack/peers builds it (pinned, cached outside the repo): built here when missing, so that the
 * suite never skips for want of it; a build that fails fails the suite, naming hack/peers.
 */
export function peerContainerd(): ContainerdBinaries {
  return installations.peerContainerd();
}

/** ctr 2.x's own notices (cgroup v1 deprecation; logfmt, or logrus' short form on a tty), which say nothing about the runtime under test. */
function withoutNotices(text: string): string {
  return text.split(/(?<=\n)/).filter((l) => !/^(time="[^"]*" level=warning msg="|WARN\[\d+\] )DEPRECATION: /.test(l.replace(/\x1b\[[0-9;]*m/g, ''))).join('');
}

/** A runtime binary as the runc shim sees it: `flags` go to `ctr run`; its state lives in `stateDir`/<id>. */
export interface ShimRuntime {
  name: string;
  binary: string;
  stateDir: string;
  flags: string[];
}

export interface CtrResult {
  status: number;
  stdout: string;
  stderr: string;
}

// Shared with the benchmarks (plain JS there, so `npm run bench` needs no compile step).
const { writeContainerdConfig, removeNamespaceCgroups } = require('../../hack/bench/common') as {
  writeContainerdConfig(dir: string, socket: string): string;
  removeNamespaceCgroups(namespace: string): void;
};

const CGROUP_TOP = '/sys/fs/cgroup';
/** Where containerd 1.x and 2.x shims put their sockets, whatever --state says (sha256 of address/ns/id). */
const SHIM_SOCKET_DIR = '/run/containerd/s';
/** The runc shim's --runc-root unless a container's options give one. */
const DEFAULT_RUNC_ROOT = '/run/containerd/runc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** POSIX sh single-quoting, for command lines handed to `script -c`. */
export function shellQuote(args: string[]): string {
  return args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

export class PrivateContainerd {
  readonly socket: string;
  readonly fifoDir: string;
  private readonly log: string;
  private daemon?: ChildProcess;
  /** Container ids the tests made (track()): their shim sockets outside the temp dir go in cleanup. */
  private readonly ids = new Set<string>();
  /** --runc-root → binary, so cleanup can ask each runtime to delete what it left. */
  private readonly runtimes = new Map<string, string>();

  private constructor(readonly bin: ContainerdBinaries, readonly dir: string, readonly namespace: string) {
    this.socket = path.join(dir, 'containerd.sock');
    this.fifoDir = path.join(dir, 'fifo');
    this.log = path.join(dir, 'containerd.log');
  }

  /** Starts a daemon under a new temp dir; `namespace` must be unique on the host (it names cgroups). */
  static async start(bin: ContainerdBinaries, namespace: string): Promise<PrivateContainerd> {
    for (const f of [bin.containerd, bin.ctr, path.join(bin.shimDir, 'containerd-shim-runc-v2')]) {
      if (!fs.existsSync(f)) throw new Error(`${f} is missing: hack/deps installs containerd`);
    }
    const self = new PrivateContainerd(bin, fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctrd-')), namespace);
    try {
      fs.mkdirSync(self.fifoDir);
      fs.mkdirSync(path.join(self.dir, 'tmp'));
      const config = writeContainerdConfig(self.dir, self.socket);
      // The opt plugin would otherwise create /opt/containerd on the host.
      fs.appendFileSync(config, `[plugins."io.containerd.internal.v1.opt"]\n  path = "${self.dir}/opt"\n`);
      const log = fs.openSync(self.log, 'w');
      try {
        // containerd finds the shim by name on PATH: the chosen installation's comes first. TMPDIR is inherited by
        // the shims: their temp files (the runc-process*.json of each exec, containerd-mount* dirs) stay in ours.
        self.daemon = spawn(bin.containerd, ['--config', config], {
          stdio: ['ignore', log, log],
          env: { ...process.env, PATH: `${bin.shimDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, TMPDIR: path.join(self.dir, 'tmp') },
        });
      } finally {
        fs.closeSync(log);
      }
      const deadline = Date.now() + 20000;
      while (self.ctr(['version'], { timeoutMs: 5000 }).status !== 0) {
        if (Date.now() > deadline || self.daemon.exitCode !== null) throw new Error(`containerd did not start: ${self.daemonLog().slice(-2000)}`);
        await sleep(50);
      }
      return self;
    } catch (err) {
      await self.stop().catch(() => undefined);
      throw err;
    }
  }

  daemonLog(): string {
    try {
      return fs.readFileSync(this.log, 'utf8');
    } catch {
      return '';
    }
  }

  /** ctr against this daemon and namespace. Pipes are safe: the shim, not ctr, holds the containers' stdio. */
  ctr(args: string[], options: { timeoutMs?: number } = {}): CtrResult {
    return this.spawn(this.bin.ctr, ['-a', this.socket, '-n', this.namespace, ...args], options.timeoutMs);
  }

  /**
   * ctr with a terminal of its own (script's pty, set to rows×cols), for `-t`. Output has the pty's \r\n.
   * script's stdin stays open and silent until ctr exits: at EOF script would type an end-of-file character
   * into the pty, which ctr would forward.
   */
  async ctrTty(args: string[], options: { timeoutMs?: number; rows?: number; cols?: number } = {}): Promise<CtrResult> {
    const cmd = shellQuote([this.bin.ctr, '-a', this.socket, '-n', this.namespace, ...args]);
    const size = `stty rows ${options.rows ?? 24} cols ${options.cols ?? 80} 2>/dev/null;`;
    // -e: script exits with ctr's status.
    const child = spawn('script', ['-qec', `${size} exec ${cmd}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: this.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30000);
    try {
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
        child.once('error', reject);
        child.once('close', (c, s) => resolve([c, s]));
      });
      return { status: code ?? 128 + (signal ? os.constants.signals[signal] : 0), stdout: withoutNotices(stdout), stderr: withoutNotices(stderr) };
    } finally {
      clearTimeout(timer);
      child.stdin.destroy();
    }
  }

  /** ctr too mounts snapshots in TMPDIR at times (to read /etc/passwd for --user NAME): ours, not /tmp. */
  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, TMPDIR: path.join(this.dir, 'tmp') };
  }

  private spawn(file: string, args: string[], timeoutMs = 30000): CtrResult {
    const r = spawnSync(file, args, { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    if (r.error) throw new Error(`${file} ${args.join(' ')}: ${r.error.message}`);
    return { status: r.status ?? 128 + (r.signal ? os.constants.signals[r.signal] : 0), stdout: r.stdout, stderr: withoutNotices(r.stderr) };
  }

  /** Like ctr(), but throws with what ctr said unless it exits 0. */
  ctrOk(args: string[], options: { timeoutMs?: number } = {}): CtrResult {
    const r = this.ctr(args, options);
    if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} → ${r.status}\n${r.stderr}${r.stdout}`);
    return r;
  }

  /** Registers a container id for cleanup (shim socket, task, container) before ctr is asked to make it. */
  track(id: string): string {
    this.ids.add(id);
    return id;
  }

  /** Imports an OCI image layout directory (as hack/fixtures writes it) as `<baseName>:<tag>`. */
  importLayout(layout: string, baseName: string): void {
    const tar = path.join(this.dir, 'image.tar');
    const t = spawnSync('tar', ['-C', layout, '--exclude=./.complete', '-cf', tar, '.'], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar of ${layout}: ${t.stderr}`);
    this.ctrOk(['images', 'import', '--base-name', baseName, tar], { timeoutMs: 60000 });
    fs.rmSync(tar);
  }

  /** The directory the runc shim uses as bundle: config.json, the rootfs mount, and the runtime's log.json. */
  bundle(id: string): string {
    return path.join(this.dir, 'state', 'io.containerd.runtime.v2.task', this.namespace, id);
  }

  /**
   * A runc-compatible binary for the runc shim, with a --runc-root of its own under the temp dir (the shim adds
   * /<namespace>; without it the state would go to /run/containerd/runc). Pass `flags` to `ctr run`.
   */
  addRuntime(name: string, binary: string): ShimRuntime {
    const root = path.join(this.dir, 'runtime-root', name);
    this.runtimes.set(root, binary);
    return { name, binary, stateDir: path.join(root, this.namespace), flags: ['--runc-binary', binary, '--runc-root', root] };
  }

  /** The cgroup ctr's default spec gives a container: /<namespace>/<id> (cgroup v1 hierarchy or v2 tree). */
  cgroupDir(id: string, controller = 'pids'): string {
    const v1 = path.join(CGROUP_TOP, controller);
    return path.join(fs.existsSync(v1) ? v1 : CGROUP_TOP, this.namespace, id);
  }

  shimSocket(id: string): string {
    const hash = crypto.createHash('sha256').update(path.join(this.socket, this.namespace, id)).digest('hex');
    return path.join(SHIM_SOCKET_DIR, hash);
  }

  /**
   * Removes everything, each step whatever the previous ones did: tasks and containers through the daemon,
   * the daemon (SIGTERM by PID, then SIGKILL), stray shims, the runtimes' state (`delete --force`), stray
   * container processes, mounts under the temp dir, the namespace's cgroups, shim sockets, and the temp dir.
   * Throws at the end if something could not be removed.
   */
  async stop(): Promise<void> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => void | Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    const alive = () => this.daemon !== undefined && this.daemon.exitCode === null && this.daemon.signalCode === null;

    await step('tasks and containers', () => {
      if (!alive()) return;
      // The namespace is this daemon's alone: everything listed is ours.
      for (const id of this.ctr(['containers', 'ls', '-q']).stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
        this.ctr(['task', 'delete', '--force', id], { timeoutMs: 15000 });
        this.ctr(['containers', 'rm', id], { timeoutMs: 15000 });
      }
    });
    await step('containerd', async () => {
      if (this.daemon) await stopChild(this.daemon);
    });
    await step('shims', async () => {
      const shims = processes((argv) => path.basename(argv[0]).startsWith('containerd-shim') && argv.includes(this.socket));
      for (const pid of shims) killQuietly(pid);
      await waitGone(shims);
    });
    await step('runtime state', () => {
      // Each runtime deletes its own leftovers (state dir, cgroups) as a shim's `delete --force` would.
      for (const [top, binary] of this.runtimes) {
        const root = path.join(top, this.namespace);
        if (!fs.existsSync(root)) continue;
        for (const id of fs.readdirSync(root)) spawnSync(binary, ['--root', root, 'delete', '--force', id], { stdio: 'ignore', timeout: 15000 });
      }
    });
    await step('container processes', async () => {
      // A paused container's processes only die once thawed.
      this.thaw();
      const pids = this.cgroupProcs();
      for (const pid of pids) killQuietly(pid);
      await waitGone(pids);
    });
    await step('mounts', () => {
      const left = mountsUnder(this.dir);
      for (const m of left) {
        if (spawnSync('umount', [m], { stdio: 'ignore' }).status !== 0) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
      }
      const still = mountsUnder(this.dir);
      if (still.length) throw new Error(`still mounted: ${still.join(', ')}`);
    });
    await step('cgroups', async () => {
      for (let attempt = 0; ; attempt++) {
        const left = this.cgroupDirs();
        for (const d of left) {
          try {
            fs.rmdirSync(d);
          } catch {
            // busy for a moment after its last process died: retried below
          }
        }
        removeNamespaceCgroups(this.namespace);
        const still = this.cgroupDirs();
        if (!still.length) return;
        if (attempt >= 50) throw new Error(`cgroups left: ${still.join(', ')}`);
        await sleep(50);
      }
    });
    await step('shim sockets', () => {
      for (const id of this.ids) fs.rmSync(this.shimSocket(id), { force: true });
    });
    await step('default runc root', () => {
      // Containers run without addRuntime() keep runc's state in /run/containerd/runc/<namespace>: empty by now.
      try {
        fs.rmdirSync(path.join(DEFAULT_RUNC_ROOT, this.namespace));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    });
    await step('temp dir', () => fs.rmSync(this.dir, { recursive: true, force: true }));
    if (problems.length) throw new Error(`cleaning up the private containerd:\n${problems.join('\n')}`);
  }

  /** The namespace's cgroup dirs, deepest first, in every hierarchy (v1 controllers, named, unified). */
  cgroupDirs(): string[] {
    const tops = [CGROUP_TOP, ...fs.readdirSync(CGROUP_TOP).map((h) => path.join(CGROUP_TOP, h))];
    const out: string[] = [];
    const walk = (d: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
      out.push(d);
    };
    for (const t of tops) {
      const d = path.join(t, this.namespace);
      if (fs.existsSync(d)) walk(d);
    }
    return out;
  }

  private thaw(): void {
    for (const d of this.cgroupDirs()) {
      for (const [file, value] of [['freezer.state', 'THAWED'], ['cgroup.freeze', '0']]) {
        try {
          fs.writeFileSync(path.join(d, file), value);
        } catch {
          // not a freezer dir, or gone
        }
      }
    }
  }

  private cgroupProcs(): number[] {
    const pids = new Set<number>();
    for (const d of this.cgroupDirs()) {
      try {
        for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
      } catch {
        // gone meanwhile
      }
    }
    return [...pids];
  }
}

/** PIDs of processes whose argv matches. */
export function processes(test: (argv: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length && test(argv)) out.push(Number(p));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Mount points in this mount namespace at or under `dir`, deepest first. */
export function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitGone(pids: number[], timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const running = (pid: number) => {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
    } catch {
      return false;
    }
  };
  while (pids.some(running)) {
    if (Date.now() > deadline) throw new Error(`still running: ${pids.filter(running).join(', ')}`);
    await sleep(20);
  }
}
