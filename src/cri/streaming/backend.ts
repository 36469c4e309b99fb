/**
 * What the streaming server runs once a client has connected: exec and attach through berth-shim's task API,
 * port forwarding through berth-pod inside the pod's network namespace (or straight to the host's loopback
 * for host-network pods). The protocol layers (SPDY, WebSocket) only move bytes to and from StreamIo.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
import { BerthError } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { AttachInput, AttachOutput, ShimClient } from '../../shim';
import { connectInNetns } from '../sandbox/host';

export interface TerminalSize {
  width: number;
  height: number;
}

export interface StreamIo {
  /** The client's input; undefined when it sends none. Its end is the end of the process's input. */
  stdin?: Readable;
  /** Where the output goes (undefined: the client did not ask for it). The backend writes, never ends. */
  stdout?: Writable;
  stderr?: Writable;
  /** Terminal size changes (tty sessions), the latest one replayed on subscription; returns the unsubscribe. */
  onResize(listener: (size: TerminalSize) => void): () => void;
  /** Aborted when the client goes away or the server shuts down. */
  signal: AbortSignal;
}

export interface ExecStreamRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachStreamRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardStreamRequest {
  podSandboxId: string;
  /** The ports the CRI request named; WebSocket clients get these (SPDY ones name theirs per stream). */
  ports: number[];
}

export interface StreamingBackend {
  /** Runs cmd in the container; resolves with its exit code. */
  exec(r: ExecStreamRequest, io: StreamIo): Promise<number>;
  /** Attaches to the container's main process until it exits or the client goes. */
  attach(r: AttachStreamRequest, io: StreamIo): Promise<void>;
  /**
   * Relays conn to localhost:port in the pod's network; resolves once both directions have ended (the
   * server's end of data ends conn's writable side). Destroying conn aborts it.
   */
  portForward(podSandboxId: string, port: number, conn: Duplex): Promise<void>;
}

export interface ShimStreamingBackendOptions {
  shim: () => Promise<ShimClient>;
  /** The pinned network namespace file of a sandbox; undefined for a host-network pod. */
  netnsOf(podSandboxId: string): string | undefined;
  log: Logger;
}

type Target = { id: string; execId?: string };

/** How long a tty exec waits for the client's first terminal size before it starts without one. */
const FIRST_SIZE_WAIT_MS = 1000;

/** The client's terminal size, as soon as it is known (replayed if it already is), or undefined after `ms`. */
function firstSize(io: StreamIo, ms: number): Promise<TerminalSize | undefined> {
  return new Promise((resolve) => {
    let off: (() => void) | undefined;
    let done = false;
    const finish = (s: TerminalSize | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      io.signal.removeEventListener('abort', onAbort);
      off?.(); // unset while a replayed size calls in during the subscription: undone just below
      resolve(s);
    };
    const onAbort = (): void => finish(undefined);
    const timer = setTimeout(() => finish(undefined), ms);
    io.signal.addEventListener('abort', onAbort, { once: true });
    off = io.onResize((s) => finish(s));
    if (done) off();
  });
}

export class ShimStreamingBackend implements StreamingBackend {
  constructor(private readonly o: ShimStreamingBackendOptions) {}

  async exec(r: ExecStreamRequest, io: StreamIo): Promise<number> {
    const shim = await this.o.shim();
    const execId = `stream-${randomBytes(8).toString('hex')}`;
    const target = { id: r.containerId, execId };
    // attach: the output (and the exit) wait for our Attach, so nothing is lost in between. stdinOnce: an
    // attach stream that goes away closes the process's input, and no exec waits for input forever.
    // A tty starts at the client's size: a command that asks for it at once (stty size, a full-screen
    // program) must not see 0x0. Clients send their size as soon as the streams are up.
    const size = r.tty ? await firstSize(io, FIRST_SIZE_WAIT_MS) : undefined;
    await shim.exec({
      id: r.containerId, execId, process: { args: r.cmd, terminal: r.tty, consoleSize: size && { rows: size.height, cols: size.width } }, stdin: r.stdin, stdinOnce: true, attach: true,
    });
    try {
      const code = await this.relay(shim, target, r.tty, io, true);
      return code ?? (await shim.wait(target)).exitCode;
    } finally {
      await shim.delete({ ...target, force: true }).catch((err) => this.o.log.warn('streaming: removing the exec failed', { id: r.containerId, execId, error: (err as Error).message }));
    }
  }

  async attach(r: AttachStreamRequest, io: StreamIo): Promise<void> {
    const shim = await this.o.shim();
    await this.relay(shim, { id: r.containerId }, r.tty, io, false);
  }

  async portForward(podSandboxId: string, port: number, conn: Duplex): Promise<void> {
    if (conn.destroyed) return;
    const netns = this.o.netnsOf(podSandboxId);
    return netns === undefined ? forwardOnHost(port, conn) : forwardInNetns(netns, port, conn);
  }

  /**
   * One Attach stream between io and a process: resolves with the exit code once the process exited (or
   * undefined when the stream ended without telling). An exec's end of input closes its stdin and leaves the
   * stream open (for resizes); an attach's ends our side of the stream, so the shim applies the container's
   * stdinOnce. On abort an exec is killed, an attached container left alone.
   */
  private relay(shim: ShimClient, target: Target, tty: boolean, io: StreamIo, isExec: boolean): Promise<number | undefined> {
    return new Promise((resolve, reject) => {
      const call = shim.attach();
      const cleanups: Array<() => void> = [];
      let exitCode: number | undefined;
      let open = true;
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        for (const c of cleanups.splice(0)) c();
        if (err && exitCode === undefined && !io.signal.aborted) reject(err);
        else resolve(exitCode);
      };
      const send = (m: AttachInput): boolean => (open && !settled ? call.write(m) : true);

      call.on('data', (m: AttachOutput) => {
        if (m.exited) {
          exitCode = m.exitCode;
          return;
        }
        const w = m.stream === 'STDERR' ? io.stderr : io.stdout;
        if (!w || !m.data || m.data.length === 0 || w.destroyed || w.writableEnded) return;
        // The monitor lets the attach client set the pace: stop reading the shim while the client lags.
        if (!w.write(m.data)) {
          call.pause();
          const go = (): void => {
            w.off('drain', go);
            w.off('close', go);
            call.resume();
          };
          w.on('drain', go);
          w.on('close', go);
        }
      });
      call.on('end', () => settle());
      call.on('error', (err: Error) => settle(err));

      send({ target, stdin: !!io.stdin });
      if (io.stdin) {
        const input = io.stdin;
        const onData = (d: Buffer): void => {
          if (!send({ data: Buffer.from(d) })) {
            input.pause();
            call.once('drain', () => input.resume());
          }
        };
        const onEnd = (): void => {
          if (isExec) {
            send({ closeStdin: true });
          } else if (open) {
            open = false;
            call.end();
          }
        };
        input.on('data', onData);
        input.on('end', onEnd);
        cleanups.push(() => {
          input.off('data', onData);
          input.off('end', onEnd);
        });
      }
      if (tty) cleanups.push(io.onResize((s) => send({ resize: { rows: s.height, cols: s.width } })));

      const onAbort = (): void => {
        if (isExec && target.execId) shim.kill({ id: target.id, execId: target.execId, signal: 9 }).catch(() => undefined);
        call.cancel();
      };
      if (io.signal.aborted) onAbort();
      else {
        io.signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => io.signal.removeEventListener('abort', onAbort));
      }
    });
  }
}

/** berth-pod connect inside the pod's network namespace, its stdio spliced to conn. */
function forwardInNetns(netns: string, port: number, conn: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = connectInNetns(netns, port);
    let said = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => {
      if (said.length < 4096) said += d.toString();
    });
    child.stdin.on('error', () => undefined); // EPIPE once the helper has gone: its exit tells why
    conn.pipe(child.stdin);
    child.stdout.pipe(conn);
    // conn gone before both directions ended (the client reset it, the session closed): the helper is stopped.
    // After a normal end the helper exits by itself, and its status is what counts.
    const onClose = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (conn.readableEnded && child.stdout.readableEnded) return;
      killed = true;
      child.kill('SIGKILL');
    };
    conn.on('close', onClose);
    child.on('error', (err) => reject(new BerthError('Internal', `berth-pod connect: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      conn.off('close', onClose);
      conn.unpipe(child.stdin);
      if (code === 0 || killed) {
        resolve();
        return;
      }
      const line = said.split('\n').find((l) => l.startsWith('error ')) ?? `berth-pod connect exited with ${code}`;
      const reason = line.replace(/^error connect(: )?/, '');
      reject(new BerthError('Unavailable', /^relay /.test(reason)
        ? `forwarding to localhost:${port} inside namespace "${netns}": ${reason}`
        : `failed to connect to localhost:${port} inside namespace "${netns}": ${reason}`));
    });
  });
}

/** A host-network pod shares our loopback: a plain connection, IPv4 first, as in the namespace. */
async function forwardOnHost(port: number, conn: Duplex): Promise<void> {
  let sock: net.Socket | undefined;
  let firstError: Error | undefined;
  for (const host of ['127.0.0.1', '::1']) {
    try {
      sock = await new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect({ host, port, allowHalfOpen: true });
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      });
      break;
    } catch (err) {
      firstError ??= err as Error;
    }
  }
  if (!sock) throw new BerthError('Unavailable', `failed to connect to localhost:${port}: ${firstError?.message}`);
  const s = sock;
  if (conn.destroyed) {
    s.destroy();
    return;
  }
  await new Promise<void>((resolve) => {
    s.on('error', () => undefined);
    conn.pipe(s);
    s.pipe(conn);
    const onClose = (): void => {
      s.destroy();
    };
    conn.on('close', onClose);
    s.on('close', () => {
      conn.off('close', onClose);
      conn.unpipe(s);
      resolve();
    });
  });
}
