/**
 * Client of berth-spawner (src/native/spawner.c): a small process that forks for us, so that a long-lived
 * Node process (berth-shim, berthd, a library user) does not fork(2) itself once per container — a fork
 * copies Node's page tables, milliseconds on every start that grow with Node's memory. The processes it
 * starts reach us back over a unix socket in the runtime's root-only directory, which becomes their fd 3.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';

/** A process started by the spawner (or directly): what Helper needs of it. */
export interface StartedProcess {
  readonly pid: number;
  /** fd 3 of the process. */
  readonly sync: net.Socket;
  /** Exit status, 128+N for a signal. */
  readonly exited: Promise<number>;
  kill(signal: NodeJS.Signals): void;
}

type StdioEntry = StdioOptions[number];

interface Pending {
  pid?: number;
  sync?: net.Socket;
  resolveExit: (code: number) => void;
  ready: (p: StartedProcess) => void;
  fail: (err: Error) => void;
  exited: Promise<number>;
}

/** fd spec for the spawner: "-" for /dev/null, or the number of our own fd; undefined when unsupported. */
function fdSpec(entry: StdioEntry, index: number): string | undefined {
  if (entry === 'ignore') return '-';
  if (entry === 'inherit') return String(index);
  if (typeof entry === 'number' && Number.isInteger(entry) && entry >= 0) return String(entry);
  return undefined;
}

export class Spawner {
  private readonly child: ChildProcess;
  private readonly control: net.Socket;
  private readonly server: net.Server;
  private readonly pending = new Map<string, Pending>();
  private buffered = '';
  private dead?: Error;
  private counter = 0;
  private closed = false;

  private constructor(binary: string, readonly socketPath: string) {
    this.server = net.createServer((sock) => this.onConnection(sock));
    this.server.listen(socketPath);
    this.server.unref();
    this.child = spawn(binary, [], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    this.child.unref();
    this.control = this.child.stdio[3] as net.Socket;
    this.control.unref();
    this.control.on('data', (chunk: Buffer) => this.onControl(chunk));
    const onDeath = (err: Error) => this.onDeath(err);
    this.control.on('close', () => onDeath(new BerthError('Unavailable', 'berth-spawner exited')));
    this.control.on('error', (err) => onDeath(new BerthError('Unavailable', `berth-spawner: ${err.message}`)));
    this.child.on('exit', () => onDeath(new BerthError('Unavailable', 'berth-spawner exited')));
    this.child.on('error', onDeath);
  }

  /**
   * A spawner whose socket lives in `dir` (root-only: only root can connect), or undefined when the path would
   * not fit a unix socket address.
   */
  static start(binary: string, dir: string): Spawner | undefined {
    // Unique, not secret: the directory's permissions keep others out (node:crypto would cost the CLI ~3 ms to load).
    const socketPath = path.join(dir, `.spawner-${process.pid}-${Math.random().toString(36).slice(2, 10)}.sock`);
    if (Buffer.byteLength(socketPath) >= 100) return undefined;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    removeStaleSockets(dir);
    const spawner = new Spawner(binary, socketPath);
    process.once('exit', () => spawner.close());
    return spawner;
  }

  get alive(): boolean {
    return this.dead === undefined;
  }

  /** Whether `stdio` and the extra fds can be handed over by fd number. */
  static supports(stdio: StdioEntry[]): boolean {
    return stdio.every((s, i) => fdSpec(s, i) !== undefined);
  }

  /** Takes the cgroup migration lock early (see spawner.c); fire and forget. */
  prime(procsFile: string): void {
    if (this.dead) return;
    this.send(['prime', procsFile]);
  }

  /** Starts `file args` with `stdio` as fds 0–2, its connection to us as fd 3 and `extraFds` as 4, 5, … */
  spawn(file: string, args: string[], stdio: StdioEntry[], extraFds: number[] = []): Promise<StartedProcess> {
    if (this.dead) return Promise.reject(this.dead);
    const tag = `${process.pid}.${++this.counter}`;
    const fds = [...stdio.map((s, i) => fdSpec(s, i) ?? '-'), 'sync', ...extraFds.map(String)];
    let resolveExit!: (code: number) => void;
    const exited = new Promise<number>((r) => (resolveExit = r));
    return new Promise<StartedProcess>((ready, fail) => {
      this.track(tag, { resolveExit, ready, fail, exited });
      this.send(['spawn', tag, this.socketPath, String(fds.length), ...fds, String(args.length + 1), file, ...args]);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dead ??= new BerthError('Unavailable', 'berth-spawner closed');
    this.control.destroy();
    this.server.close();
    try {
      fs.unlinkSync(this.socketPath);
    } catch {
      // Already gone.
    }
  }

  /** While a process is pending or running, our handles keep Node alive (its exit is still to come). */
  private track(tag: string, p: Pending): void {
    if (this.pending.size === 0) {
      this.control.ref();
      this.server.ref();
    }
    this.pending.set(tag, p);
  }

  private untrack(tag: string): void {
    this.pending.delete(tag);
    if (this.pending.size === 0) {
      this.control.unref();
      this.server.unref();
    }
  }

  private send(fields: string[]): void {
    const body = Buffer.from(fields.join('\0') + '\0');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(body.length, 0);
    this.control.write(Buffer.concat([head, body]));
  }

  private onConnection(sock: net.Socket): void {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > 64) sock.destroy();
        return;
      }
      sock.off('data', onData);
      sock.pause();
      const p = this.pending.get(buf.subarray(0, nl).toString());
      if (!p || p.sync) {
        sock.destroy();
        return;
      }
      if (nl + 1 < buf.length) sock.unshift(buf.subarray(nl + 1));
      p.sync = sock;
      this.settle(buf.subarray(0, nl).toString(), p);
    };
    sock.on('data', onData);
    sock.on('error', () => sock.destroy());
  }

  private onControl(chunk: Buffer): void {
    this.buffered += chunk.toString();
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const [word, tag, value] = this.buffered.slice(0, nl).split(' ');
      this.buffered = this.buffered.slice(nl + 1);
      const p = this.pending.get(tag);
      if (!p) continue;
      if (word === 'pid') {
        p.pid = Number(value);
        this.settle(tag, p);
      } else if (word === 'exit') {
        this.untrack(tag);
        p.resolveExit(Number(value));
        // Exited before it connected: it could not be started (its reason went to stderr).
        if (!p.sync) p.fail(new BerthError('Internal', `berth-spawner: ${tag} exited with status ${value} before it started`));
      }
    }
  }

  private settle(tag: string, p: Pending): void {
    if (p.pid === undefined || !p.sync) return;
    const pid = p.pid;
    const sync = p.sync;
    sync.resume();
    p.ready({
      pid, sync, exited: p.exited,
      kill: (signal) => {
        if (this.pending.has(tag)) {
          try { process.kill(pid, signal); } catch { /* already gone */ }
        }
      },
    });
  }

  private onDeath(err: Error): void {
    if (this.dead && this.pending.size === 0) return;
    this.dead ??= err;
    for (const [tag, p] of this.pending) {
      this.untrack(tag);
      p.fail(this.dead);
      p.resolveExit(1);
    }
  }
}

/** Sockets of spawners whose Node process died without closing them (kill -9). */
function removeStaleSockets(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.spawner-(\d+)-[a-z0-9]+\.sock$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}
