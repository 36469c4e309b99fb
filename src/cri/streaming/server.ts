/**
 * berthd's streaming server: the URLs that the CRI's Exec, Attach and PortForward answer with, and the HTTP
 * server behind them. A URL is http://HOST:PORT/<kind>/<token>; the token stands for the request (container,
 * command, streams) for a minute and for one use. The client then upgrades the request to SPDY/3.1 or
 * WebSocket, and the matching protocol layer runs it on the backend.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import { WebSocketServer, type WebSocket } from 'ws';
import { BerthError, invalid, precondition } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { AttachStreamRequest, ExecStreamRequest, PortForwardStreamRequest, StreamingBackend } from './backend';
import {
  HEADER_PROTOCOL_VERSION, negotiateSpdy, negotiateWs, PORTFORWARD_SPDY_PROTOCOLS, PORTFORWARD_WS_PROTOCOLS, REMOTECOMMAND_SPDY_PROTOCOLS,
  REMOTECOMMAND_WS_PROTOCOLS, type WsProtocol,
} from './negotiate';
import { servePortForwardSpdy } from './portforward-spdy';
import { servePortForwardWs } from './portforward-ws';
import { serveRemoteCommandSpdy } from './remotecommand-spdy';
import { serveRemoteCommandWs } from './remotecommand-ws';
import { SpdySession } from './spdy-session';
import { TokenCache } from './token-cache';

export type StreamKind = 'exec' | 'attach' | 'portforward';

type Job =
  | { kind: 'exec'; request: ExecStreamRequest }
  | { kind: 'attach'; request: AttachStreamRequest }
  | { kind: 'portforward'; request: PortForwardStreamRequest };

export interface StreamingServerOptions {
  /** host:port to listen on (config streaming.address; port 0 picks a free one). */
  address: string;
  backend: StreamingBackend;
  log: Logger;
  /** The host put in URLs when address is a wildcard (0.0.0.0, ::); default: this node's first external IPv4. */
  advertiseHost?: string;
  /** A connection with no traffic for this long is closed (the kubelet's default: 4 h). */
  streamIdleTimeoutMs?: number;
  /** How long a SPDY client has to open its streams (the kubelet's default: 30 s). */
  streamCreationTimeoutMs?: number;
  /** Token lifetime and bound (defaults: 1 minute, 1000). */
  tokenTtlMs?: number;
  maxInFlight?: number;
}

const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/;
const IDLE_TIMEOUT_MS = 4 * 3600_000;
const CREATION_TIMEOUT_MS = 30_000;
/** How long close() waits for running sessions to finish their cleanup (an exec killed and removed). */
const CLOSE_WAIT_MS = 15_000;

export class StreamingServer {
  private readonly http: http.Server;
  /** The subprotocol chosen for each WebSocket upgrade, for ws's handleProtocols to answer with. */
  private readonly chosen = new WeakMap<http.IncomingMessage, WsProtocol>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 << 20,
    handleProtocols: (_offered, req) => this.chosen.get(req)?.name || false,
  });
  private readonly tokens: TokenCache<Job>;
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Promise<void>>();
  private readonly shutdown = new AbortController();
  private bound?: { host: string; port: number };
  private closing?: Promise<void>;

  constructor(private readonly o: StreamingServerOptions) {
    this.tokens = new TokenCache({ ttlMs: o.tokenTtlMs, maxInFlight: o.maxInFlight });
    this.http = http.createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.http.on('clientError', (_err, socket: Socket) => socket.destroy());
  }

  /** The address listened on, once started. */
  get address(): { host: string; port: number } {
    if (!this.bound) throw precondition('the streaming server has not been started');
    return this.bound;
  }

  async start(): Promise<void> {
    const { host, port } = parseAddress(this.o.address);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const a = this.http.address() as AddressInfo;
    this.bound = { host: a.address, port: a.port };
    this.o.log.info('streaming server listening', { address: `${formatHost(a.address)}:${a.port}` });
  }

  /** The URL to answer a CRI Exec, Attach or PortForward with; valid for one use within a minute. */
  urlFor(kind: 'exec', request: ExecStreamRequest): string;
  urlFor(kind: 'attach', request: AttachStreamRequest): string;
  urlFor(kind: 'portforward', request: PortForwardStreamRequest): string;
  urlFor(kind: StreamKind, request: ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest): string {
    if (!this.bound || this.closing) throw new BerthError('Unavailable', 'the streaming server is not running');
    validate(kind, request);
    const token = this.tokens.insert({ kind, request } as Job);
    return `http://${formatHost(this.urlHost())}:${this.bound.port}/${kind}/${token}`;
  }

  /** Stops listening, ends every session (execs are killed and removed), and resolves once all is closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.tokens.clear();
      const stopped = new Promise<void>((resolve) => (this.bound ? this.http.close(() => resolve()) : resolve()));
      this.shutdown.abort();
      for (const ws of this.wss.clients) ws.terminate();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.sessions]),
        new Promise((r) => { timer = setTimeout(r, CLOSE_WAIT_MS); }),
      ]);
      clearTimeout(timer);
      for (const s of this.sockets) s.destroy();
      this.wss.close();
      await stopped;
    })();
    return this.closing;
  }

  private urlHost(): string {
    const host = this.bound!.host;
    if (host !== '0.0.0.0' && host !== '::') return host;
    if (this.o.advertiseHost) return this.o.advertiseHost;
    for (const list of Object.values(os.networkInterfaces())) {
      for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
    }
    return host === '::' ? '::1' : '127.0.0.1';
  }

  /** A plain request: not a stream. A valid token is used up all the same (the kubelet's order). */
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const job = this.take(req);
    const [status, body] = job ? [400, 'unable to upgrade: missing upgrade headers in request\n'] : [404, '404 page not found\n'];
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', (err) => this.o.log.debug('streaming: socket error', { error: err.message }));
    if (this.closing) {
      socket.destroy();
      return;
    }
    const job = this.take(req);
    if (!job) {
      rawResponse(socket, 404, '404 page not found\n');
      return;
    }
    socket.setTimeout(this.o.streamIdleTimeoutMs ?? IDLE_TIMEOUT_MS, () => socket.destroy());
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') this.upgradeWebSocket(req, socket, head, job);
    else if (upgrade.includes('spdy/3.1')) this.upgradeSpdy(req, socket, head, job);
    else rawResponse(socket, 400, 'unable to upgrade: missing upgrade headers in request\n');
  }

  private take(req: http.IncomingMessage): Job | undefined {
    const m = PATH.exec(new URL(req.url ?? '/', 'http://streaming').pathname);
    if (!m) return undefined;
    const job = this.tokens.consume(m[2]);
    return job && job.kind === m[1] ? job : undefined;
  }

  private upgradeSpdy(req: http.IncomingMessage, socket: Socket, head: Buffer, job: Job): void {
    const n = negotiateSpdy(req.headers[HEADER_PROTOCOL_VERSION], job.kind === 'portforward' ? PORTFORWARD_SPDY_PROTOCOLS : REMOTECOMMAND_SPDY_PROTOCOLS);
    if (!n.ok) {
      rawResponse(socket, n.status, `${n.message}\n`, n.headers);
      return;
    }
    socket.setNoDelay(true);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${n.protocol}\r\n\r\n`);
    // Bytes the client sent behind its request are the first frames.
    if (head.length) socket.unshift(head);
    const session = new SpdySession(socket, { server: true, log: this.o.log });
    const ctx = { backend: this.o.backend, log: this.o.log, signal: this.shutdown.signal, streamCreationTimeoutMs: this.o.streamCreationTimeoutMs ?? CREATION_TIMEOUT_MS };
    this.track(job.kind === 'portforward' ? servePortForwardSpdy(session, job.request, ctx) : serveRemoteCommandSpdy(session, n.protocol, job, ctx), () => session.destroy());
  }

  private upgradeWebSocket(req: http.IncomingMessage, socket: Socket, head: Buffer, job: Job): void {
    const n = negotiateWs(req.headers['sec-websocket-protocol'], job.kind === 'portforward' ? PORTFORWARD_WS_PROTOCOLS : REMOTECOMMAND_WS_PROTOCOLS);
    if (!n.ok) {
      rawResponse(socket, n.status, `${n.message}\n`);
      return;
    }
    if (job.kind === 'portforward' && job.request.ports.length === 0) {
      rawResponse(socket, 400, 'port forwarding over WebSocket needs the ports in the PortForward request\n');
      return;
    }
    const protocol: WsProtocol = n.protocol;
    // '' (the client offered none) answers without a subprotocol.
    this.chosen.set(req, protocol);
    this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const ctx = { backend: this.o.backend, log: this.o.log, signal: this.shutdown.signal };
      this.track(job.kind === 'portforward' ? servePortForwardWs(ws, protocol, job.request, ctx) : serveRemoteCommandWs(ws, protocol, job, ctx), () => ws.terminate());
    });
  }

  private track(session: Promise<void>, abort: () => void): void {
    const p = session.catch((err) => {
      this.o.log.warn('streaming: session failed', { error: (err as Error).message });
      abort();
    });
    this.sessions.add(p);
    void p.finally(() => this.sessions.delete(p));
  }
}

/** The kubelet's clients are plain HTTP/1.1 on the upgraded socket until the 101: errors are written raw. */
function rawResponse(socket: Socket, status: number, body: string, headers: Record<string, string[]> = {}): void {
  const extra = Object.entries(headers).flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}\r\n`)).join('');
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
      `${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  if (!m || Number(m[3]) > 65535) throw invalid('streaming.address', `"${address}": must be "host:port" with a port 0-65535`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

const formatHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

function validate(kind: StreamKind, r: ExecStreamRequest | AttachStreamRequest | PortForwardStreamRequest): void {
  if (kind === 'portforward') {
    const p = r as PortForwardStreamRequest;
    if (!p.podSandboxId) throw invalid('pod_sandbox_id', 'is required');
    for (const port of p.ports) if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('port', `${port} is not a port between 1 and 65535`);
    return;
  }
  const c = r as ExecStreamRequest;
  if (!c.containerId) throw invalid('container_id', 'is required');
  if (kind === 'exec' && (!Array.isArray(c.cmd) || c.cmd.length === 0)) throw invalid('cmd', 'must name the program to run');
  if (!c.stdin && !c.stdout && !c.stderr) throw invalid('stdin', 'one of stdin, stdout, and stderr must be set');
}
