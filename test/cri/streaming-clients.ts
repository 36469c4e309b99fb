/**
 * Clients of berthd's streaming server for the tests, speaking as k8s.io/client-go does: remote commands and
 * port forwarding over SPDY/3.1 (our framer's client side) and over WebSocket (the ws library).
 */
import * as net from 'node:net';
import { WebSocket } from 'ws';
import { SpdySession, type SpdyStream } from '../../src/cri/streaming/spdy-session';

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends a raw HTTP/1.1 request; resolves with the response head (and body for a non-101). */
async function rawRequest(url: string, headers: Record<string, string>): Promise<{ answer: HttpAnswer; socket: net.Socket; rest: Buffer }> {
  const u = new URL(url);
  const socket = net.connect(Number(u.port), u.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const lines = [`POST ${u.pathname}${u.search} HTTP/1.1`, `Host: ${u.host}`, 'Content-Length: 0', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString().split('\r\n');
      const status = Number(head[0].split(' ')[1]);
      const hs: Record<string, string> = {};
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        const k = l.slice(0, i).toLowerCase();
        hs[k] = hs[k] ? `${hs[k]}, ${l.slice(i + 1).trim()}` : l.slice(i + 1).trim();
      }
      const rest = buf.subarray(end + 4);
      if (status === 101) {
        socket.off('data', onData);
        socket.pause();
        resolve({ answer: { status, headers: hs, body: '' }, socket, rest });
        return;
      }
      const len = Number(hs['content-length'] ?? 0);
      if (rest.length >= len) {
        socket.destroy();
        resolve({ answer: { status, headers: hs, body: rest.subarray(0, len).toString() }, socket, rest: Buffer.alloc(0) });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed before an answer: ${buf.toString()}`)));
  });
}

/** What a plain request or a SPDY upgrade attempt is answered (404 for a bad token, 403 for protocols, …). */
export async function answerTo(url: string, upgrade: 'none' | 'spdy' | 'websocket', protocols = 'v4.channel.k8s.io'): Promise<HttpAnswer> {
  const headers: Record<string, string> = upgrade === 'spdy'
    ? { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols }
    : upgrade === 'websocket'
      ? { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Protocol': protocols }
      : {};
  const r = await rawRequest(url, headers);
  if (r.answer.status === 101) r.socket.destroy();
  return r.answer;
}

export async function spdyConnect(url: string, protocols: string[]): Promise<{ session: SpdySession; protocol: string }> {
  const r = await rawRequest(url, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols.join(', ') });
  if (r.answer.status !== 101) throw new Error(`upgrade refused: ${r.answer.status} ${r.answer.body}`);
  if (r.rest.length) r.socket.unshift(r.rest);
  return { session: new SpdySession(r.socket, { server: false }), protocol: r.answer.headers['x-stream-protocol-version'] };
}

const gather = (s: NodeJS.ReadableStream | undefined): Promise<string> => new Promise((resolve) => {
  if (!s) {
    resolve('');
    return;
  }
  let text = '';
  s.on('data', (d: Buffer) => { text += d.toString(); });
  s.on('end', () => resolve(text));
  s.on('close', () => resolve(text));
});

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** The error stream's bytes: a JSON status from v4 on. */
  error: string;
}

export interface SpdyCommand {
  protocol: string;
  stdin?: SpdyStream;
  resize?: SpdyStream;
  stdout?: SpdyStream;
  done: Promise<CommandResult>;
  session: SpdySession;
}

/** Opens the streams of a remote command as client-go's v4 executor does: error first, then the others. */
export async function spdyCommand(url: string, o: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean; protocols?: string[] }): Promise<SpdyCommand> {
  const { session, protocol } = await spdyConnect(url, o.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']);
  const open = (type: string): SpdyStream => session.createStream({ streamType: type });
  const error = open('error');
  const stdin = o.stdin ? open('stdin') : undefined;
  const stdout = o.stdout !== false ? open('stdout') : undefined;
  const stderr = o.stderr ? open('stderr') : undefined;
  const resize = o.tty && protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io' ? open('resize') : undefined;
  const all = [error, stdin, stdout, stderr, resize].filter((s): s is SpdyStream => !!s);
  const done = Promise.all([gather(stdout), gather(stderr), gather(error)]).then(([out, err, e]) => ({ stdout: out, stderr: err, error: e }));
  await Promise.all(all.map((s) => s.waitReply()));
  return { protocol, stdin, resize, stdout, done, session };
}

export function resizeMessage(width: number, height: number): string {
  return `${JSON.stringify({ Width: width, Height: height })}\n`;
}

export interface WsCommand {
  ws: WebSocket;
  protocol: string;
  send(channel: number, data: string | Buffer): void;
  /** Every message, in order, as [channel, payload]. */
  messages: Array<[number, Buffer]>;
  done: Promise<CommandResult & { closeCode: number }>;
}

/** Opens a WebSocket; onMessage is attached before the handshake ends (the server speaks first). */
export async function wsConnect(url: string, protocols: string[], onMessage?: (raw: Buffer) => void): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, { perMessageDeflate: false });
  if (onMessage) ws.on('message', onMessage);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`websocket refused: ${res.statusCode}`)));
  });
  return ws;
}

export async function wsCommand(url: string, protocol: string): Promise<WsCommand> {
  const base64 = protocol.includes('base64');
  const messages: Array<[number, Buffer]> = [];
  const ws = await wsConnect(url, [protocol], (raw) => {
    if (base64) messages.push([raw[0] - 48, Buffer.from(raw.subarray(1).toString(), 'base64')]);
    else messages.push([raw[0], raw.subarray(1)]);
  });
  const done = new Promise<CommandResult & { closeCode: number }>((resolve) => {
    ws.once('close', (code: number) => {
      const text = (ch: number): string => Buffer.concat(messages.filter(([c]) => c === ch).map(([, d]) => d)).toString();
      resolve({ stdout: text(1), stderr: text(2), error: text(3), closeCode: code });
    });
  });
  const send = (channel: number, data: string | Buffer): void => {
    const bytes = Buffer.from(data);
    if (base64) ws.send(String.fromCharCode(48 + channel) + bytes.toString('base64'));
    else ws.send(Buffer.concat([Buffer.from([channel]), bytes]));
  };
  return { ws, protocol: ws.protocol, send, messages, done };
}

/** One forwarded connection over a SPDY port-forward session: payload out (then our FIN), all that comes back. */
export async function spdyForward(session: SpdySession, port: number, requestId: string | undefined, payload: Buffer): Promise<{ data: Buffer; error: string }> {
  const id: Record<string, string> = requestId === undefined ? {} : { requestID: requestId };
  const error = session.createStream({ streamType: 'error', port: String(port), ...id });
  // As client-go: we never write to the error stream.
  error.end();
  const data = session.createStream({ streamType: 'data', port: String(port), ...id });
  // Listening at once: a failure can reset the data stream before the replies are even awaited.
  const parts: Buffer[] = [];
  const got = new Promise<Buffer>((resolve) => {
    data.on('data', (d: Buffer) => parts.push(d));
    data.on('end', () => resolve(Buffer.concat(parts)));
    data.on('close', () => resolve(Buffer.concat(parts)));
  });
  const err = gather(error);
  await Promise.all([error.waitReply(), data.waitReply()]);
  data.end(payload);
  return { data: await got, error: await err };
}
