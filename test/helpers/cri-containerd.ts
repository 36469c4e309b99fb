/**
 * A containerd with its CRI on, as a node runs it, for the agent's containerd suites: a plain process of the
 * suite whose config, root, state and socket are under one temp dir, started, stopped and restarted (counted)
 * by PID, asked over CRI (crictl from hack/peers) what it really loaded. Unlike PrivateContainerd
 * (containerd.ts: ctr, no CRI, one namespace), its config is the node admin's, which the agent edits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mountPointsUnder } from './cleanup';
import { stopChild } from './stop-child';
import { processes } from './containerd';

const REPO = path.resolve(__dirname, '..', '..');
/** The runc both configs name as their own runc handler's BinaryName (hack/deps installs it). */
export const RUNC = '/usr/sbin/runc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * hack/peers' binaries, without building anything (a CI run builds them): `need(name)` is the file of one,
 * and throws, naming hack/peers, when it is missing.
 */
export function peerFiles(): (name: string) => string {
  const r = spawnSync(path.join(REPO, 'hack', 'peers'), ['--list'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`hack/peers --list failed: ${r.stderr}`);
  const listed = new Map(r.stdout.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)).map(([name, , file]) => [name, file]));
  return (name) => {
    const f = listed.get(name);
    if (!f || !fs.existsSync(f)) throw new Error(`${name} from hack/peers is missing (${f ?? 'not listed'}): run hack/peers`);
    return f;
  };
}

export interface CriContainerdBinaries {
  containerd: string;
  /** The directory holding containerd-shim-runc-v2 (first on containerd's PATH). */
  shimDir: string;
  crictl: string;
}

/** Where things go under the temp dir (relative paths); the default is a flat one. */
export interface CriContainerdLayout {
  socket: string;
  config: string;
  root: string;
  state: string;
}

const FLAT: CriContainerdLayout = { socket: 'containerd.sock', config: 'etc/config.toml', root: 'root', state: 'state' };

export interface CriRuntime {
  runtimeType?: string;
  options?: { BinaryName?: string; Root?: string; SystemdCgroup?: boolean };
}

export class CriContainerd {
  readonly socket: string;
  readonly configPath: string;
  readonly log: string;
  private readonly layout: CriContainerdLayout;
  private proc?: ChildProcess;
  /** How many times restart() ran. */
  restarts = 0;
  /** Extra arguments for the next start only (to make one start fail). */
  nextStartArgs: string[] = [];

  constructor(readonly bin: CriContainerdBinaries, readonly dir: string, layout: Partial<CriContainerdLayout> = {}) {
    this.layout = { ...FLAT, ...layout };
    this.socket = path.join(dir, this.layout.socket);
    this.configPath = path.join(dir, this.layout.config);
    this.log = path.join(dir, 'containerd.log');
  }

  /**
   * The node's own config, as an admin would have it (containerd `major`'s format): CRI on, a runc handler with
   * Debian's runc, everything under the temp dir; `sandboxImage` pins the pod sandbox image. Returns its text.
   */
  writeConfig(major: number, options: { sandboxImage?: string } = {}): string {
    const d = this.dir;
    const image = options.sandboxImage;
    const common = [
      `root = "${path.join(d, this.layout.root)}"`, `state = "${path.join(d, this.layout.state)}"`,
      'disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]',
      '', '# the node admin\'s settings, which Berth must keep', '[grpc]', `  address = "${this.socket}"`, '[ttrpc]', `  address = "${this.socket}.ttrpc"`,
      '[debug]', '  address = ""', '[metrics]', '  address = ""',
    ];
    const lines = major >= 2 ? [
      'version = 3', `temp = "${d}/tmp"`, ...common,
      ...(image ? ["[plugins.'io.containerd.cri.v1.images'.pinned_images]", `  sandbox = "${image}"`] : []),
      "[plugins.'io.containerd.cri.v1.runtime']", '  restrict_oom_score_adj = true',
      "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]", '  runtime_type = "io.containerd.runc.v2"',
      "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]", `  BinaryName = "${RUNC}"`, `  Root = "${d}/runc-root"`,
      "[plugins.'io.containerd.cri.v1.runtime'.cni]", `  bin_dirs = ["${d}/cni/bin"]`, `  conf_dir = "${d}/cni/net.d"`,
      "[plugins.'io.containerd.grpc.v1.cri']", '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
      "[plugins.'io.containerd.internal.v1.opt']", `  path = "${d}/opt"`,
      "[plugins.'io.containerd.image-verifier.v1.bindir']", `  bin_dir = "${d}/opt/image-verifier/bin"`,
    ] : [
      'version = 2', ...common,
      '[plugins."io.containerd.grpc.v1.cri"]', ...(image ? [`  sandbox_image = "${image}"`] : []), '  restrict_oom_score_adj = true', '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]', `  BinaryName = "${RUNC}"`, `  Root = "${d}/runc-root"`,
      '[plugins."io.containerd.grpc.v1.cri".cni]', `  bin_dir = "${d}/cni/bin"`, `  conf_dir = "${d}/cni/net.d"`,
      '[plugins."io.containerd.internal.v1.opt"]', `  path = "${d}/opt"`,
    ];
    fs.mkdirSync(path.dirname(this.configPath), { recursive: true });
    fs.mkdirSync(path.join(d, 'tmp'), { recursive: true });
    const text = `${lines.join('\n')}\n`;
    fs.writeFileSync(this.configPath, text, { mode: 0o640 });
    return text;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  /** Starts containerd and waits for its socket; throws when it exits first or takes too long. */
  async start(): Promise<void> {
    const args = ['--config', this.configPath, ...this.nextStartArgs];
    this.nextStartArgs = [];
    fs.rmSync(this.socket, { force: true });
    const log = fs.openSync(this.log, 'a');
    try {
      this.proc = spawn(this.bin.containerd, args, {
        stdio: ['ignore', log, log],
        env: { ...process.env, PATH: `${this.bin.shimDir}:${process.env.PATH ?? '/usr/bin:/bin'}`, TMPDIR: path.join(this.dir, 'tmp') },
      });
    } finally {
      fs.closeSync(log);
    }
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(this.socket)) {
      if (!this.running) throw new Error(`containerd exited at start: ${this.logTail()}`);
      if (Date.now() > deadline) throw new Error(`containerd made no socket in 20 s: ${this.logTail()}`);
      await sleep(50);
    }
  }

  /** SIGTERM by PID, SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    await stopChild(p);
  }

  /** Stop by PID and start again, counted: the restart the agent's code is given. */
  readonly restart = async (): Promise<void> => {
    this.restarts++;
    await this.stop();
    await this.start();
  };

  logTail(): string {
    try {
      return fs.readFileSync(this.log, 'utf8').trim().split('\n').slice(-3).join('\n');
    } catch {
      return '';
    }
  }

  crictl(args: string[]): string {
    const r = spawnSync(this.bin.crictl, ['--runtime-endpoint', `unix://${this.socket}`, '--timeout', '30s', ...args], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`crictl ${args.join(' ')} → ${r.status}: ${r.stderr}`);
    return r.stdout;
  }

  /** The CRI config's runtimes, as `crictl info` prints them. */
  runtimes(): Record<string, CriRuntime> {
    const info = JSON.parse(this.crictl(['info'])) as { config?: { containerd?: { runtimes?: Record<string, never> } } };
    return info.config?.containerd?.runtimes ?? {};
  }

  /** SIGKILL to the shims this daemon started (they outlive it). */
  killShims(): void {
    for (const pid of processes((argv) => path.basename(argv[0]).startsWith('containerd-shim') && argv.includes(this.socket))) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Unmounts everything under the temp dir (lazily what will not go); returns what is still mounted. */
  unmountAll(): string[] {
    if (mountPointsUnder(this.dir).length) spawnSync('umount', ['-R', this.dir], { stdio: 'ignore' });
    for (const m of mountPointsUnder(this.dir)) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
    return mountPointsUnder(this.dir);
  }
}

/** Every file under `dir` with its mode and bytes: what "put back as it was" is checked against. */
export function snapshotFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, snapshotFiles(p));
    else out[p] = `${(fs.statSync(p).mode & 0o7777).toString(8)} ${fs.readFileSync(p).toString('base64')}`;
  }
  return out;
}
