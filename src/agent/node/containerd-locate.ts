/**
 * Which containerd serves kubelet on this node, and where its files are: the process listening on kubelet's
 * socket (its inode in /proc/net/unix, then the containerd process holding it), else the one containerd
 * process whose config the agent finds under the host root. Its `--config` names the main config; without a process
 * (containerd down) or a `--config`, it is containerd's default `/etc/containerd/config.toml`. The binary
 * for `--version` is the running process's own (/proc/<pid>/exe), else the first containerd on the host's PATH.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isExecutable } from '../../common/files';
import type { HostExec } from './host-exec';

export const SEARCH_DIRS: readonly string[] = ['/usr/local/bin', '/usr/local/sbin', '/usr/bin', '/usr/sbin', '/bin', '/sbin'];
export const DEFAULT_CONFIG = '/etc/containerd/config.toml';
/** __SO_ACCEPTCON in /proc/net/unix's Flags: a listening socket. */
const LISTENING = 0x10000;

export interface ContainerdLocation {
  /** The main config as the agent sees it. */
  readonly configPath: string;
  /** The main config as containerd sees it. */
  readonly hostConfigPath: string;
  /** A containerd binary the agent can run for `--version`; undefined when there is none. */
  readonly binary?: string;
  /** The process found, if any. */
  readonly pid?: number;
}

/** argv of a process, or undefined when it is gone or not readable. */
function argvOf(proc: string, pid: number): string[] | undefined {
  try {
    const raw = fs.readFileSync(path.join(proc, String(pid), 'cmdline'), 'utf8');
    const argv = raw.split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    return argv.length ? argv : undefined;
  } catch {
    return undefined;
  }
}

/** The pids whose program is containerd (the daemon, not its shims). */
function containerdPids(proc: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(proc);
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    const argv = argvOf(proc, pid);
    return argv !== undefined && path.basename(argv[0]) === 'containerd';
  });
}

/** The inodes of listening unix sockets bound at one of `paths`. */
function listeningInodes(proc: string, paths: readonly string[]): Set<string> {
  const out = new Set<string>();
  let text: string;
  try {
    text = fs.readFileSync(path.join(proc, 'net', 'unix'), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode Path
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    if ((parseInt(f[3], 16) & LISTENING) === 0) continue;
    if (paths.includes(f.slice(7).join(' '))) out.add(f[6]);
  }
  return out;
}

function holdsSocket(proc: string, pid: number, inodes: Set<string>): boolean {
  const dir = path.join(proc, String(pid), 'fd');
  let fds: string[];
  try {
    fds = fs.readdirSync(dir);
  } catch {
    return false;
  }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(path.join(dir, fd)));
      return m !== null && inodes.has(m[1]);
    } catch {
      return false;
    }
  });
}

/** `--config`/`-c` of a containerd command line (before any subcommand it is the daemon's own), made absolute. */
export function configFlagOf(argv: readonly string[], cwd = '/'): string | undefined {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    let v: string | undefined;
    if (a === '--config' || a === '-c' || a === '-config') v = argv[i + 1];
    else if (a.startsWith('--config=')) v = a.slice('--config='.length);
    else if (a.startsWith('-c=')) v = a.slice(3);
    if (v !== undefined && v !== '') return path.resolve(cwd, v);
  }
  return undefined;
}

export interface LocateOptions {
  host: HostExec;
  /** kubelet's socket, as kubelet's files name it and as the agent sees it. */
  socketPaths: readonly string[];
  /** Default /proc (the agent shares the host's PID namespace in the DaemonSet). */
  proc?: string;
}

/** Finds containerd (never throws: what is missing is for the caller to judge). */
export function locateContainerd(o: LocateOptions): ContainerdLocation {
  const proc = o.proc ?? '/proc';
  const pids = containerdPids(proc);
  const inodes = listeningInodes(proc, o.socketPaths);
  let pid = inodes.size ? pids.find((p) => holdsSocket(proc, p, inodes)) : undefined;
  const configOf = (p: number): string | undefined => {
    const argv = argvOf(proc, p);
    if (!argv) return undefined;
    let cwd = '/';
    try {
      cwd = fs.readlinkSync(path.join(proc, String(p), 'cwd'));
    } catch {
      // containerd's cwd is / under systemd anyway
    }
    return configFlagOf(argv, cwd);
  };
  if (pid === undefined) {
    // A containerd of this host is one whose config the agent finds under the host root (not, say, another
    // node's when several host roots share one machine).
    const under = pids.filter((p) => {
      const c = configOf(p);
      return c !== undefined && fs.existsSync(o.host.fromHostFile(c));
    });
    if (under.length === 1) pid = under[0];
  }
  const flag = pid !== undefined ? configOf(pid) : undefined;
  const hostConfigPath = flag ?? o.host.onHost(DEFAULT_CONFIG);
  const configPath = flag !== undefined ? o.host.fromHostFile(flag) : o.host.inAgent(DEFAULT_CONFIG);
  const exe = pid !== undefined ? path.join(proc, String(pid), 'exe') : undefined;
  const binary = exe && isExecutable(exe) ? exe : SEARCH_DIRS.map((d) => o.host.inAgent(path.join(d, 'containerd'))).find(isExecutable);
  return { configPath, hostConfigPath, ...(binary ? { binary } : {}), ...(pid !== undefined ? { pid } : {}) };
}
