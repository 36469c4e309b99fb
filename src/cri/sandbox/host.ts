/**
 * The host side of a pod sandbox without a pause process, through the berth-pod helper (src/native/berth-pod.c):
 * the pod's net, IPC and UTS (and user) namespaces pinned by bind mounts under a directory, its mounts (overlay
 * rootfs, tmpfs /dev/shm), and a PID 1 holding a shared PID namespace. Node cannot unshare or mount, so each
 * call is one exec of the helper. Failures are BerthErrors carrying the helper's one-line message.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import { nativeBinary } from '../../common/native';
import { ownMountPoints } from '../../common/mountinfo';

/** One line of a user namespace's uid_map or gid_map (CRI's IDMapping). */
export interface IdMapping {
  containerId: number;
  hostId: number;
  length: number;
}

export interface PinOptions {
  net?: boolean;
  ipc?: boolean;
  uts?: boolean;
  /** Set in the new UTS namespace (needs uts). */
  hostname?: string;
  /** A new user namespace with these mappings, owning the other new namespaces. */
  userns?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

/** Paths of the pinned namespace files, for setns(2) / an OCI spec's namespace paths. */
export interface PinnedNamespaces {
  net?: string;
  ipc?: string;
  uts?: string;
  user?: string;
}

export interface OverlayOptions {
  /** Topmost first, as overlayfs orders them. */
  lowerdirs: string[];
  /** Both or neither: without them the overlay is read-only by nature. */
  upperdir?: string;
  workdir?: string;
  readonly?: boolean;
}

export interface TmpfsOptions {
  /** Default 64 MiB (the kubelet's and containerd's /dev/shm default). */
  sizeBytes?: number;
  /** Default 0o1777. */
  mode?: number;
}

const PID_FILE = 'pidns.pid';
const HOLDER_COMM = 'berth-pidns';
/** Each helper call is a handful of syscalls; this only bounds a wedged kernel or file system. */
const HELPER_TIMEOUT_MS = 60_000;

/** The helper's reasons that describe the host's state rather than a bug of ours (musl's and glibc's wording). */
const PRECONDITION = /File exists|No such file|not permitted|Permission denied|busy|Not a directory|No space left|Too many users/i;

function helperError(message: string): BerthError {
  const kind = PRECONDITION.test(message) ? 'FailedPrecondition' : 'Internal';
  return new BerthError(kind, `berth-pod: ${message}`);
}

/** Runs the helper; resolves with its fact lines (the final "ok" dropped), rejects with its error line. */
function run(args: string[]): Promise<string[]> {
  const bin = nativeBinary('berth-pod', 'BERTH_POD');
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'utf8', timeout: HELPER_TIMEOUT_MS }, (err, stdout, stderr) => {
      const lines = stdout.split('\n').filter(Boolean);
      if (!err && lines[lines.length - 1] === 'ok') {
        resolve(lines.slice(0, -1));
        return;
      }
      const said = lines.find((l) => l.startsWith('error '));
      if (said) reject(helperError(said.slice('error '.length)));
      else if (err && (err as { killed?: boolean }).killed) reject(new BerthError('Internal', `berth-pod: ${args[0]}: no answer within ${HELPER_TIMEOUT_MS} ms`));
      else reject(new BerthError('Internal', `berth-pod: ${args[0]}: ${err?.message ?? 'no "ok"'}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { cause: err }));
    });
  });
}

const mapArgs = (flag: string, maps: IdMapping[]): string[] => maps.flatMap((m) => [flag, `${m.containerId}:${m.hostId}:${m.length}`]);

/** New namespaces pinned on dir/net, dir/ipc, dir/uts (dir/user); nothing is left behind on failure. */
export async function pinNamespaces(dir: string, opts: PinOptions): Promise<PinnedNamespaces> {
  const args = ['pin', dir];
  const out: PinnedNamespaces = {};
  for (const t of ['net', 'ipc', 'uts'] as const) {
    if (!opts[t]) continue;
    args.push(`--${t}`);
    out[t] = path.join(dir, t);
  }
  if (opts.hostname !== undefined) args.push('--hostname', opts.hostname);
  if (opts.userns) {
    args.push('--user', ...mapArgs('--uid-map', opts.userns.uidMappings), ...mapArgs('--gid-map', opts.userns.gidMappings));
    out.user = path.join(dir, 'user');
  }
  await run(args);
  return out;
}

/** Unmounts and removes what pinNamespaces made, then dir when empty; fine when (partly) gone already. */
export async function releaseNamespaces(dir: string): Promise<void> {
  await run(['unpin', dir]);
}

export async function mountOverlay(target: string, opts: OverlayOptions): Promise<void> {
  // ':' separates the layers on the helper's command line: such a path would silently become two.
  const colon = opts.lowerdirs.find((d) => d.includes(':'));
  if (colon !== undefined) throw new BerthError('Internal', `berth-pod: overlay: lower dir '${colon}' contains ':'`);
  const args = ['overlay', target, '--lower', opts.lowerdirs.join(':')];
  if (opts.upperdir !== undefined) args.push('--upper', opts.upperdir);
  if (opts.workdir !== undefined) args.push('--work', opts.workdir);
  if (opts.readonly) args.push('--ro');
  await run(args);
}

export async function mountTmpfs(target: string, opts: TmpfsOptions = {}): Promise<void> {
  const args = ['tmpfs', target];
  if (opts.sizeBytes !== undefined) args.push('--size', String(opts.sizeBytes));
  if (opts.mode !== undefined) args.push('--mode', opts.mode.toString(8));
  await run(args);
}

/** Lazy unmount of each target; one not mounted, or missing, is fine. */
export async function unmount(...targets: string[]): Promise<void> {
  if (targets.length > 0) await run(['umount', ...targets]);
}

/** Starts the PID namespace holder (PID 1 of a new namespace, detached from us); returns its host pid. */
export async function startPidHolder(dir: string): Promise<number> {
  const lines = await run(['pidns', dir]);
  const m = lines.map((l) => /^pid (\d+)$/.exec(l)).find(Boolean);
  if (!m) throw new BerthError('Internal', `berth-pod: pidns: no pid in its output: ${lines.join(' | ')}`);
  return Number(m[1]);
}

/** State and start time of a process, from /proc/PID/stat; undefined once it is gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm may hold spaces and parentheses: the fields proper start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], start: f[19] };
}

/** pid is (still) a holder: our name, and PID 1 of a namespace below ours. Guards against a reused pid. */
function isHolder(pid: number): boolean {
  try {
    if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== HOLDER_COMM) return false;
    const nspid = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].trim().split(/\s+/) ?? [];
    return nspid.length >= 2 && nspid[nspid.length - 1] === '1';
  } catch {
    return false;
  }
}

/**
 * Kills the holder recorded in dir/pidns.pid (its namespace's processes die with it), waits until it has
 * exited, removes the file. Fine when there is no file or the holder is gone already.
 */
export async function stopPidHolder(dir: string, timeoutMs = 5000): Promise<void> {
  const file = path.join(dir, PID_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BerthError('Internal', `read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new BerthError('Internal', `${file}: not a pid: ${JSON.stringify(text)}`);
  const before = procStat(pid);
  if (before && isHolder(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw new BerthError('Internal', `kill ${pid}: ${(err as Error).message}`, { cause: err });
    }
    // Gone: no such process, a zombie (its parent, init or a subreaper, reaps it; it holds nothing), or reused.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = procStat(pid);
      if (!now || now.state === 'Z' || now.state === 'X' || now.start !== before.start) break;
      if (Date.now() > deadline) throw new BerthError('Internal', `PID namespace holder ${pid} still there ${timeoutMs} ms after SIGKILL (state ${now.state})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  fs.rmSync(file, { force: true });
}

/** Whether something is mounted on p in our mount namespace (for recovery after a restart). */
export function isMountPoint(p: string): boolean {
  return ownMountPoints().includes(path.resolve(p));
}

/** Whether anything is mounted at dir or below it (a directory that must not be removed recursively yet). */
export function hasMountsBelow(dir: string): boolean {
  const top = path.resolve(dir);
  const prefix = top.endsWith('/') ? top : `${top}/`;
  return ownMountPoints().some((point) => point === top || point.startsWith(prefix));
}

/**
 * `berth-pod connect NETNS PORT`: a TCP connection to 127.0.0.1:PORT (else [::1]:PORT) inside the network
 * namespace pinned at netns, relayed over the child's stdin (to the server; its end half-closes the
 * connection) and stdout (from the server). It exits 0 once both directions have ended; on failure it says
 * "error connect: <reason>" on stderr (stdout is the data) and exits 1. The caller owns the child.
 */
export function connectInNetns(netns: string, port: number): ChildProcessWithoutNullStreams {
  return spawn(nativeBinary('berth-pod', 'BERTH_POD'), ['connect', netns, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
}
