/**
 * The client side of port-forward, as client-go's portforward package does it: a listener on 127.0.0.1 per
 * forwarded port, and per accepted connection either a data and an error stream on the one SPDY session
 * (headers port, requestID) or, over WebSocket, a session of its own (the kubelet's protocol carries one
 * connection per port per WebSocket: channel 0 data, 1 error, each opened by the port as uint16). A message
 * on an error stream ends the forwarding, as client-go does ("lost connection to pod").
 */
import * as net from 'node:net';
import { BerthError, invalid } from '../../common/errors';
import type { SpdySession, SpdyStream } from '../streaming/spdy-session';
import { dialSpdy, dialWebSocket, type Transport } from './stream-dial';

export interface ForwardedPort {
  local: number;
  remote: number;
}

/** `[LOCAL:]REMOTE` arguments, checked as client-go's parsePorts checks them (`:REMOTE` picks a free local port). */
export function parsePortSpecs(specs: readonly string[]): ForwardedPort[] {
  return specs.map((spec) => {
    const parts = spec.split(':');
    if (parts.length > 2) throw invalid(spec, 'invalid port format (want [LOCAL_PORT:]REMOTE_PORT)');
    const [localText, remoteText] = parts.length === 1 ? [parts[0], parts[0]] : [parts[0] || '0', parts[1]];
    const port = (text: string, which: string): number => {
      if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw invalid(spec, `error parsing ${which} port '${text}': not a number 0-65535`);
      return Number(text);
    };
    const local = port(localText, 'local');
    const remote = port(remoteText, 'remote');
    if (remote === 0) throw invalid(spec, 'remote port must be > 0');
    return { local, remote };
  });
}

export interface PortForwardOptions {
  transport: Transport;
  ports: ForwardedPort[];
  /** The URL of the first PortForward answer; `nextUrl` asks the runtime for another (WebSocket: one per connection). */
  url: URL;
  nextUrl: (remotePort: number) => Promise<URL>;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Aborted on SIGINT/SIGTERM: the listeners close and forwarding ends without an error. */
  signal: AbortSignal;
}

const lostConnection = (): BerthError => new BerthError('Unavailable', 'lost connection to pod');

/** Forwards until the signal (resolves) or until the connection to the pod is lost (rejects). */
export async function forwardPorts(o: PortForwardOptions): Promise<void> {
  const spdy = o.transport === 'spdy' ? await dialSpdy(o.url, ['portforward.k8s.io']) : undefined;
  if (spdy && spdy.protocol !== 'portforward.k8s.io') {
    spdy.session.destroy();
    throw new BerthError('Internal', `unable to negotiate protocol: client supports "portforward.k8s.io", server returned "${spdy.protocol}"`);
  }
  const listeners: net.Server[] = [];
  const conns = new Set<net.Socket>();
  let fail: (err: BerthError) => void = () => undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined);
  const stopped = new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    else o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const onSessionClose = (): void => fail(lostConnection());
  spdy?.session.once('close', onSessionClose);
  let requestId = 0;
  try {
    let listening = 0;
    for (const port of o.ports) {
      try {
        listeners.push(await listen(port, (conn) => {
          o.out(`Handling connection for ${port.local}\n`);
          conns.add(conn);
          conn.once('close', () => conns.delete(conn));
          const forwarding = spdy ? forwardSpdy(spdy.session, conn, port, String(requestId++)) : forwardWebSocket(o, conn, port);
          forwarding.then((message) => {
            if (!message) return;
            o.err(`berthctl: an error occurred forwarding ${port.local} -> ${port.remote}: ${message}\n`);
            fail(lostConnection());
          }, (err: unknown) => {
            o.err(`berthctl: forwarding a connection for ${port.local} -> ${port.remote}: ${(err as Error).message}\n`);
          });
        }));
        o.out(`Forwarding from 127.0.0.1:${port.local} -> ${port.remote}\n`);
        listening++;
      } catch (err) {
        o.err(`Unable to listen on port ${port.local}: ${(err as Error).message}\n`);
      }
    }
    if (listening === 0) throw new BerthError('Unavailable', `unable to listen on any of the requested ports: ${o.ports.map((p) => `${p.local}:${p.remote}`).join(' ')}`);
    await Promise.race([stopped, failed]);
  } finally {
    spdy?.session.off('close', onSessionClose);
    for (const l of listeners) l.close();
    for (const c of conns) c.destroy();
    spdy?.session.close();
  }
}

/** Listens on 127.0.0.1:port.local (0: a free port, written back into port.local). */
function listen(port: ForwardedPort, onConn: (conn: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client's end of input is passed on as such, its connection kept for the answer.
    const server = net.createServer({ allowHalfOpen: true }, onConn);
    server.once('error', reject);
    server.listen(port.local, '127.0.0.1', () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      port.local = (server.address() as net.AddressInfo).port;
      resolve(server);
    });
  });
}

/** Reads a stream to its end (or close) as text. */
function readAll(s: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => {
      if (text.length < 65536) text += d.toString();
    });
    s.once('end', () => resolve(text));
    s.once('close', () => resolve(text));
  });
}

/** One connection over the SPDY session; resolves with what the error stream said ('' for nothing). */
async function forwardSpdy(session: SpdySession, conn: net.Socket, port: ForwardedPort, requestId: string): Promise<string> {
  if (session.closed || session.peerGoneAway) {
    conn.destroy();
    return '';
  }
  const headers = { streamType: 'error', port: String(port.remote), requestID: requestId };
  const error = session.createStream(headers);
  // We never write to the error stream.
  error.end();
  const errorText = readAll(error);
  const data: SpdyStream = session.createStream({ ...headers, streamType: 'data' });
  conn.on('error', () => data.reset());
  const remoteDone = new Promise<void>((resolve) => {
    data.once('end', () => resolve());
    data.once('close', () => resolve());
  });
  data.pipe(conn);
  conn.pipe(data);
  // The local client gone entirely: nothing is left to deliver the answer to.
  conn.once('close', () => data.reset());
  await remoteDone;
  // As client-go: once the remote side is done, whatever is still unsent is dropped.
  data.reset();
  const message = await errorText;
  conn.end();
  return message;
}

const DATA = 0;
const ERROR = 1;

/** One connection over a WebSocket of its own; resolves with what the error channel said. */
async function forwardWebSocket(o: PortForwardOptions, conn: net.Socket, port: ForwardedPort): Promise<string> {
  conn.pause();
  const { ws, listen } = await dialWebSocket(await o.nextUrl(port.remote), ['v4.channel.k8s.io']).catch((err: unknown) => {
    conn.destroy();
    throw err;
  });
  // The first message on each channel is the port (uint16, little-endian), not data.
  const opened = new Set<number>();
  let errorText = '';
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  listen((m) => {
    if (m.length === 0) return;
    const channel = m[0];
    let data = m.subarray(1);
    if (!opened.has(channel)) {
      opened.add(channel);
      data = data.subarray(2);
    }
    if (data.length === 0) return;
    if (channel === DATA && !conn.destroyed) {
      if (!conn.write(data)) {
        ws.pause();
        conn.once('drain', () => ws.resume());
      }
    } else if (channel === ERROR && errorText.length < 65536) errorText += data.toString();
  });
  conn.on('data', (d: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([DATA]), d]), { binary: true });
  });
  conn.on('error', () => ws.terminate());
  // The protocol cannot half-close: a local end of input is kept to ourselves, and the forward ends when
  // either side closes.
  conn.once('close', () => {
    if (ws.readyState === ws.OPEN) ws.close(1000);
  });
  conn.resume();
  await closed;
  conn.end();
  return errorText;
}
