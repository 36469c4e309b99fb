/**
 * Connecting to a CRI streaming server (berthd's, containerd's, the kubelet's): the URL an Exec, Attach or
 * PortForward answered with, upgraded to SPDY/3.1 (a POST, as client-go's SPDY executor and dialer) or to a
 * WebSocket (a GET). Plain HTTP only: berthd's streaming server has no TLS.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import { BerthError, invalid, type ErrorKind } from '../../common/errors';
import { flagString, type FlagSpec, type ParsedArgs } from '../../common/args';
import { SpdySession } from '../streaming/spdy-session';

export type Transport = 'spdy' | 'websocket';
const TRANSPORTS: Transport[] = ['spdy', 'websocket'];

/** crictl's default: SPDY (common.TransportSpdy). */
export const DEFAULT_TRANSPORT: Transport = 'spdy';

export const STREAMING_FLAGS: FlagSpec[] = [
  { name: 'transport', short: 'r', kind: 'string', arg: 'PROTOCOL', help: `Transport protocol to use, one of: ${TRANSPORTS.join('|')} (default ${DEFAULT_TRANSPORT})` },
  // Accepted so that crictl command lines work; berthd's streaming server is plain HTTP, so there is nothing to use them for.
  { name: 'tls-sni', kind: 'string', arg: 'NAME', help: 'accepted for crictl compatibility, unused: berthctl speaks plain HTTP to the streaming server, as berthd serves it' },
  { name: 'tls-ca', kind: 'string', arg: 'FILE', help: 'accepted for crictl compatibility, unused (plain HTTP only)' },
  { name: 'tls-cert', kind: 'string', arg: 'FILE', help: 'accepted for crictl compatibility, unused (plain HTTP only)' },
  { name: 'tls-key', kind: 'string', arg: 'FILE', help: 'accepted for crictl compatibility, unused (plain HTTP only)' },
];

export function transportOf(args: ParsedArgs): Transport {
  const v = flagString(args, 'transport') ?? DEFAULT_TRANSPORT;
  if (!(TRANSPORTS as string[]).includes(v)) throw invalid('--transport', `unknown transport "${v}" (one of: ${TRANSPORTS.join(', ')})`);
  return v as Transport;
}

/** The streaming URL as crictl reads it: a relative one is on the kubelet's default address. */
export function streamingUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw, 'http://127.0.0.1:10250');
  } catch {
    throw new BerthError('Internal', `the runtime answered with an invalid streaming URL "${raw}"`);
  }
  if (u.protocol === 'https:') {
    throw new BerthError('Unimplemented', `streaming URL ${raw}: https is not supported (berthctl speaks plain HTTP to the streaming server, as berthd serves it)`);
  }
  if (u.protocol !== 'http:') throw new BerthError('Internal', `streaming URL ${raw}: unsupported scheme ${u.protocol}`);
  return u;
}

const KIND_OF_STATUS: Record<number, ErrorKind> = { 400: 'InvalidArgument', 403: 'PermissionDenied', 404: 'NotFound' };

/** A refused upgrade, worded as client-go words it (the body is the server's reason). */
function refused(status: number, body: string): BerthError {
  return new BerthError(KIND_OF_STATUS[status] ?? 'Internal', `unable to upgrade connection: ${body.trim() || `${status} ${http.STATUS_CODES[status] ?? ''}`.trim()}`);
}

function unreachable(u: URL, err: Error): BerthError {
  return new BerthError('Unavailable', `connecting to the streaming server at ${u.host}: ${err.message}`, { cause: err });
}

/** Reads a (small) refusal body; servers answer upgrades they refuse with a line of text. */
function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      if (body.length < 4096) body += d;
    });
    res.on('end', () => resolve(body));
    res.on('error', () => resolve(body));
    res.on('close', () => resolve(body));
  });
}

/** SPDY/3.1 upgrade offering `protocols` (X-Stream-Protocol-Version); the session and the one the server chose. */
export function dialSpdy(u: URL, protocols: string[]): Promise<{ session: SpdySession; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(u, {
      method: 'POST',
      agent: false,
      // One header line per protocol, as client-go sends them.
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols, 'Content-Length': '0' },
    });
    req.once('upgrade', (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      socket.setNoDelay(true);
      const chosen = res.headers['x-stream-protocol-version'];
      resolve({ session: new SpdySession(socket, { server: false }), protocol: (Array.isArray(chosen) ? chosen[0] : chosen) ?? '' });
    });
    req.once('response', (res: http.IncomingMessage) => {
      void readBody(res).then((body) => reject(refused(res.statusCode ?? 0, body)));
    });
    req.once('error', (err) => reject(unreachable(u, err)));
    req.end();
  });
}

/** WebSocket upgrade offering `protocols` as subprotocols; resolves once open. */
/** A connected WebSocket; `listen` gets every message, also those that came before it was called. */
export interface DialedWebSocket {
  ws: WebSocket;
  listen(fn: (m: Buffer) => void): void;
}

const asBuffer = (raw: Buffer | ArrayBuffer | Buffer[]): Buffer => (Buffer.isBuffer(raw) ? raw : Array.isArray(raw) ? Buffer.concat(raw) : Buffer.from(raw));

export function dialWebSocket(u: URL, protocols: string[]): Promise<DialedWebSocket> {
  return new Promise((resolve, reject) => {
    const target = new URL(u.href);
    target.protocol = 'ws:';
    const ws = new WebSocket(target, protocols, { perMessageDeflate: false });
    // Frames that arrived with the handshake are emitted before the caller's continuation runs (next tick
    // before promise jobs): they wait here, or the first frames (port-forward's port prefixes) would be lost.
    const early: Buffer[] = [];
    let deliver: ((m: Buffer) => void) | undefined;
    ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
      const m = asBuffer(raw);
      if (deliver) deliver(m);
      else early.push(m);
    });
    const listen = (fn: (m: Buffer) => void): void => {
      for (const m of early.splice(0)) fn(m);
      deliver = fn;
    };
    let settled = false;
    const fail = (err: BerthError): void => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    ws.once('open', () => {
      settled = true;
      resolve({ ws, listen });
    });
    ws.once('unexpected-response', (req: http.ClientRequest, res: http.IncomingMessage) => {
      void readBody(res).then((body) => {
        fail(refused(res.statusCode ?? 0, body));
        req.destroy();
      });
    });
    // Also after the handshake: a connection reset then shows as a close, which the callers handle.
    ws.on('error', (err: Error) => fail(unreachable(u, err)));
  });
}
