/**
 * The client side of exec and attach once the runtime has answered with a URL, as client-go's remotecommand
 * executors do it. SPDY: one stream per role (error first, then stdin, stdout, stderr, and resize with a
 * tty), stdin half-closed at its end, the status read from the error stream once the output has ended.
 * WebSocket (v5, else v4): channels 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; v5 ends stdin with
 * [255, 0]. Resolves with the command's exit code; a failure status throws.
 */
import type { Readable, Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { BerthError } from '../../common/errors';
import type { SpdySession, SpdyStream } from '../streaming/spdy-session';
import { dialSpdy, dialWebSocket, type Transport } from './stream-dial';
import { exitCodeFromStatus, jsonStatusProtocol } from './stream-status';
import type { TerminalSize } from './terminal';

export interface RemoteCommandOptions {
  url: URL;
  transport: Transport;
  /** Sent as the command's input (ended: the remote stdin is closed); undefined: no stdin stream. */
  stdin?: Readable;
  stdout: Writable;
  /** Undefined with a tty: a terminal has one output. */
  stderr?: Writable;
  tty: boolean;
  /** With a tty: subscribes to the local terminal's sizes (the current one first); returns the unsubscribe. */
  sizes?: (listener: (size: TerminalSize) => void) => () => void;
  /** Aborted when the user detaches: the session is closed and 0 returned (the server decides what to do). */
  detach?: AbortSignal;
}

/** client-go's SPDY executor offers these; v5 adds nothing over SPDY. */
const SPDY_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
/** client-go's WebSocket executor offers v5; v4 too, for servers that stop there. */
const WS_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

const lost = (): BerthError => new BerthError('Unavailable', 'lost the connection to the streaming server before the command ended');

const resizeMessage = (s: TerminalSize): string => `${JSON.stringify({ Width: s.width, Height: s.height })}\n`;

export function streamRemoteCommand(o: RemoteCommandOptions): Promise<number> {
  return o.transport === 'spdy' ? overSpdy(o) : overWebSocket(o);
}

/** Resolves once the user detached (never without a signal). */
function detached(signal: AbortSignal | undefined): Promise<'detached'> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve('detached');
    else signal.addEventListener('abort', () => resolve('detached'), { once: true });
  });
}

/** Resolves once `s` has ended (true) or closed without ending (false). */
function ended(s: Readable): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.readableEnded) resolve(true);
    s.once('end', () => resolve(true));
    s.once('close', () => resolve(s.readableEnded));
  });
}

/** Copies `from` into `to` without ending `to` (the user's stdout outlives the session). */
function copyOut(from: Readable, to: Writable): Promise<boolean> {
  from.pipe(to, { end: false });
  return ended(from);
}

async function overSpdy(o: RemoteCommandOptions): Promise<number> {
  const { session, protocol } = await dialSpdy(o.url, SPDY_PROTOCOLS);
  const cleanups: Array<() => void> = [];
  try {
    // A server that names no protocol speaks the first one (channel.k8s.io), as client-go assumes.
    const version = protocol || 'channel.k8s.io';
    const resizable = version !== 'channel.k8s.io' && version !== 'v2.channel.k8s.io';
    const open = (type: string): SpdyStream => session.createStream({ streamType: type });
    const error = open('error');
    const stdin = o.stdin ? open('stdin') : undefined;
    const stdout = open('stdout');
    const stderr = o.stderr && !o.tty ? open('stderr') : undefined;
    const resize = o.tty && resizable ? open('resize') : undefined;
    const streams = [error, stdin, stdout, stderr, resize].filter((s): s is SpdyStream => s !== undefined);

    const errorBytes: Buffer[] = [];
    error.on('data', (d: Buffer) => errorBytes.push(d));
    const errorDone = ended(error);
    const outputs = [copyOut(stdout, o.stdout), ...(stderr ? [copyOut(stderr, o.stderr!)] : [])];
    await waitReplies(session, streams);

    if (resize && o.sizes) {
      cleanups.push(o.sizes((s) => {
        if (!resize.destroyed && !resize.writableEnded) resize.write(resizeMessage(s));
      }));
    }
    if (stdin && o.stdin) {
      // The server never writes on stdin; reading it lets its end (the server done with it) come through.
      stdin.resume();
      o.stdin.pipe(stdin);
      cleanups.push(() => o.stdin!.unpipe(stdin));
    }
    // Streams may end with a FIN (berthd) or with the connection (the kubelet's and containerd's servers close
    // it after the status): either way what came is all there is.
    const outcome = await Promise.race([Promise.all([...outputs, errorDone]), detached(o.detach)]);
    if (outcome === 'detached') return 0;
    // v4 on, a status always comes last: none means the connection went first.
    if (errorBytes.length === 0 && jsonStatusProtocol(version)) throw lost();
    return exitCodeFromStatus(Buffer.concat(errorBytes), jsonStatusProtocol(version));
  } finally {
    for (const c of cleanups) c();
    session.close();
  }
}

/** Every stream accepted by the server (SYN_REPLY), or the session's end as an error. */
async function waitReplies(session: SpdySession, streams: SpdyStream[]): Promise<void> {
  let onClose: (() => void) | undefined;
  const closed = new Promise<never>((_resolve, reject) => {
    onClose = () => reject(new BerthError('Unavailable', 'the streaming server closed the connection before accepting the streams'));
    session.once('close', onClose);
  });
  try {
    await Promise.race([Promise.all(streams.map((s) => s.waitReply())), closed]);
  } catch (err) {
    throw err instanceof BerthError ? err : new BerthError('Unavailable', `the streaming server refused a stream: ${(err as Error).message}`);
  } finally {
    session.off('close', onClose!);
    closed.catch(() => undefined);
  }
}

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;
/** Stop reading stdin while this much is queued on the socket. */
const WS_HIGH_WATER = 1 << 20;

async function overWebSocket(o: RemoteCommandOptions): Promise<number> {
  const { ws, listen } = await dialWebSocket(o.url, WS_PROTOCOLS);
  const protocol = ws.protocol;
  const cleanups: Array<() => void> = [];
  const send = (channel: number, data: Buffer, cb?: (err?: Error) => void): void => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
  };
  try {
    const errorBytes: Buffer[] = [];
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    listen((m) => {
      // The server's first message, empty, only says that the streams are up.
      if (m.length < 2) return;
      const data = m.subarray(1);
      if (m[0] === STDOUT || (m[0] === STDERR && !o.stderr)) write(ws, o.stdout, data);
      else if (m[0] === STDERR) write(ws, o.stderr!, data);
      else if (m[0] === ERROR) errorBytes.push(data);
    });
    if (o.tty && o.sizes) cleanups.push(o.sizes((s) => send(RESIZE, Buffer.from(resizeMessage(s)))));
    if (o.stdin) {
      const input = o.stdin;
      const onData = (d: Buffer): void => {
        send(STDIN, d);
        if (ws.bufferedAmount > WS_HIGH_WATER) {
          input.pause();
          // Resumed once what was queued so far has gone out.
          send(STDIN, Buffer.alloc(0), () => input.resume());
        }
      };
      // v4 cannot half-close: the command's input stays open until it ends by itself.
      const onEnd = (): void => {
        if (protocol === 'v5.channel.k8s.io') send(CLOSE, Buffer.from([STDIN]));
      };
      input.on('data', onData);
      input.once('end', onEnd);
      cleanups.push(() => {
        input.off('data', onData);
        input.off('end', onEnd);
      });
    }
    const code = await Promise.race([closed, detached(o.detach)]);
    if (code === 'detached') return 0;
    // 1000: the server ended the session after the status; anything else is a lost connection.
    if (code !== 1000 && errorBytes.length === 0) throw lost();
    return exitCodeFromStatus(Buffer.concat(errorBytes), jsonStatusProtocol(protocol));
  } finally {
    for (const c of cleanups) c();
    if (ws.readyState === ws.OPEN) ws.close(1000);
  }
}

/** Output with backpressure: the socket is not read while the local side lags. */
function write(ws: WebSocket, to: Writable, data: Buffer): void {
  if (!to.write(data)) {
    ws.pause();
    to.once('drain', () => ws.resume());
  }
}
