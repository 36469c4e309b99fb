/**
 * A minimal D-Bus connection over a unix socket: SASL EXTERNAL authentication with our uid, Hello (on a bus),
 * method calls with replies and errors, signal reception with AddMatch, and — for services (the tests' stand-in
 * for systemd) — incoming method calls, replies, errors and signals. No unix fd passing, no other auth mechanisms.
 */
import * as net from 'node:net';
import { BerthError } from '../errors';
import type { DBusValue } from './marshal';
import { decodeMessage, encodeMessage, type Message, MessageType, messageLength } from './message';

export const BUS_NAME = 'org.freedesktop.DBus';
export const BUS_PATH = '/org/freedesktop/DBus';

/** A D-Bus error reply (or a local failure described the same way). */
export class DBusError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
  ) {
    super(`${errorName}: ${message}`);
    this.name = 'DBusError';
  }
}

export interface ConnectOptions {
  /** Unix socket path, or a D-Bus address "unix:path=…" (the first unix:path entry is used). */
  address: string;
  /**
   * 'bus': a message bus (dbus-daemon, dbus-broker): Hello is sent and calls carry a destination.
   * 'peer': a direct connection such as systemd's /run/systemd/private: no Hello, no bus daemon.
   */
  kind: 'bus' | 'peer';
  /** Gives up connecting + authenticating after this long; default 10 s. */
  timeoutMs?: number;
}

export interface CallOptions {
  destination?: string;
  path: string;
  interface?: string;
  member: string;
  signature?: string;
  body?: DBusValue[];
  flags?: number;
  /** Default 25 s, libdbus's default method call timeout. */
  timeoutMs?: number;
}

export function socketPathOf(address: string): string {
  if (!address.includes('=')) return address;
  for (const part of address.split(';')) {
    const [transport, rest] = [part.slice(0, part.indexOf(':')), part.slice(part.indexOf(':') + 1)];
    if (transport !== 'unix') continue;
    for (const kv of rest.split(',')) {
      const [k, v] = [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)];
      if (k === 'path') return decodeURIComponent(v);
    }
  }
  throw new BerthError('InvalidArgument', `D-Bus address ${JSON.stringify(address)} has no unix:path= entry (only unix sockets are supported)`);
}

type Pending = { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class Connection {
  private serial = 0;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, Pending>();
  private readonly signalHandlers = new Set<(m: Message) => void>();
  private methodHandler?: (m: Message) => void;
  private closedError?: Error;
  /** Our unique name on a bus (from Hello); undefined on a peer connection. */
  uniqueName?: string;

  private constructor(
    private readonly sock: net.Socket,
    readonly kind: 'bus' | 'peer',
  ) {
    sock.on('data', (d) => this.onData(d));
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new DBusError('org.freedesktop.DBus.Error.Disconnected', 'connection closed')));
  }

  /**
   * Wraps a socket whose SASL handshake is already done — the accepting side of a peer connection, as a
   * stand-in for systemd's private socket in tests. `initial`: bytes received after the handshake.
   */
  static fromAuthenticated(sock: net.Socket, kind: 'bus' | 'peer', initial?: Buffer): Connection {
    const conn = new Connection(sock, kind);
    // After the caller had the chance to install its handlers, before any later data event.
    if (initial && initial.length > 0) queueMicrotask(() => conn.onData(initial));
    return conn;
  }

  static async connect(opts: ConnectOptions): Promise<Connection> {
    const path = socketPathOf(opts.address);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const sock = net.createConnection({ path });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        authenticate(sock),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DBusError('org.freedesktop.DBus.Error.Timeout', `connecting to ${path} took over ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const conn = new Connection(sock, opts.kind);
    if (opts.kind === 'bus') {
      try {
        const reply = await conn.call({ destination: BUS_NAME, path: BUS_PATH, interface: BUS_NAME, member: 'Hello', timeoutMs });
        conn.uniqueName = String(reply.body?.[0]);
      } catch (err) {
        conn.close();
        throw err;
      }
    }
    return conn;
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.sock.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    try {
      for (;;) {
        const len = messageLength(this.buf);
        if (len === undefined || this.buf.length < len) return;
        const m = decodeMessage(this.buf.subarray(0, len));
        this.buf = this.buf.subarray(len);
        this.dispatch(m);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private dispatch(m: Message): void {
    if (m.type === MessageType.MethodReturn || m.type === MessageType.Error) {
      const p = m.replySerial === undefined ? undefined : this.pending.get(m.replySerial);
      if (!p) return;
      this.pending.delete(m.replySerial as number);
      clearTimeout(p.timer);
      if (m.type === MessageType.Error) {
        const text = typeof m.body?.[0] === 'string' ? (m.body[0] as string) : '';
        p.reject(new DBusError(m.errorName ?? 'org.freedesktop.DBus.Error.Failed', text));
      } else p.resolve(m);
    } else if (m.type === MessageType.Signal) {
      for (const h of [...this.signalHandlers]) h(m);
    } else if (this.methodHandler) {
      this.methodHandler(m);
    } else if (!((m.flags ?? 0) & 1)) {
      this.sendError(m, 'org.freedesktop.DBus.Error.UnknownMethod', `no handler for ${m.interface}.${m.member}`);
    }
  }

  private send(m: Omit<Message, 'serial'>): number {
    if (this.closedError) throw this.closedError;
    const serial = ++this.serial;
    const out = { ...m, serial };
    if (this.kind === 'peer') delete out.destination;
    this.sock.write(encodeMessage(out));
    return serial;
  }

  /** Calls a method and resolves with the reply; an error reply rejects with a DBusError. */
  call(c: CallOptions): Promise<Message> {
    return new Promise<Message>((resolve, reject) => {
      let serial: number;
      try {
        serial = this.send({ type: MessageType.MethodCall, flags: c.flags, destination: c.destination, path: c.path, interface: c.interface, member: c.member, signature: c.signature, body: c.body });
      } catch (err) {
        reject(err);
        return;
      }
      const timeoutMs = c.timeoutMs ?? 25_000;
      const timer = setTimeout(() => {
        this.pending.delete(serial);
        reject(new DBusError('org.freedesktop.DBus.Error.NoReply', `no reply to ${c.interface ?? ''}.${c.member} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(serial, { resolve, reject, timer });
    });
  }

  /** Every signal received goes to `handler`; returns the function that removes it. */
  onSignal(handler: (m: Message) => void): () => void {
    this.signalHandlers.add(handler);
    return () => this.signalHandlers.delete(handler);
  }

  /** On a bus, asks the daemon to route the signals matching `rule` to us (org.freedesktop.DBus.AddMatch). */
  async addMatch(rule: string): Promise<void> {
    if (this.kind !== 'bus') return;
    await this.call({ destination: BUS_NAME, path: BUS_PATH, interface: BUS_NAME, member: 'AddMatch', signature: 's', body: [rule] });
  }

  // --- service side -----------------------------------------------------------------------------------------

  /** Incoming method calls go to `handler`, which must answer each with reply() or sendError(). */
  onMethodCall(handler: (m: Message) => void): void {
    this.methodHandler = handler;
  }

  /** org.freedesktop.DBus.RequestName with DO_NOT_QUEUE; fails unless we become the primary owner. */
  async requestName(name: string): Promise<void> {
    const r = await this.call({ destination: BUS_NAME, path: BUS_PATH, interface: BUS_NAME, member: 'RequestName', signature: 'su', body: [name, 4] });
    if (r.body?.[0] !== 1) throw new DBusError('org.freedesktop.DBus.Error.Failed', `could not own ${name} (RequestName returned ${String(r.body?.[0])})`);
  }

  reply(to: Message, signature = '', body: DBusValue[] = []): void {
    if ((to.flags ?? 0) & 1) return;
    this.send({ type: MessageType.MethodReturn, flags: 1, replySerial: to.serial, destination: to.sender, signature, body });
  }

  sendError(to: Message, errorName: string, text: string): void {
    if ((to.flags ?? 0) & 1) return;
    this.send({ type: MessageType.Error, flags: 1, replySerial: to.serial, destination: to.sender, errorName, signature: 's', body: [text] });
  }

  emitSignal(s: { path: string; interface: string; member: string; signature?: string; body?: DBusValue[]; destination?: string }): void {
    this.send({ type: MessageType.Signal, flags: 1, ...s });
  }

  close(): void {
    this.fail(new DBusError('org.freedesktop.DBus.Error.Disconnected', 'connection closed'));
  }
}

/**
 * SASL EXTERNAL: a NUL byte, then "AUTH EXTERNAL <hex of the decimal uid>", expecting "OK <server guid>", then
 * BEGIN. The server checks the uid against SO_PEERCRED.
 */
async function authenticate(sock: net.Socket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const uid = process.getuid ? process.getuid() : 0;
  const line = await new Promise<string>((resolve, reject) => {
    let acc = '';
    const onData = (d: Buffer): void => {
      acc += d.toString('latin1');
      const i = acc.indexOf('\r\n');
      if (i < 0) return;
      cleanup();
      if (i + 2 !== acc.length) reject(new DBusError('org.freedesktop.DBus.Error.AuthFailed', 'unexpected data after the authentication reply'));
      else resolve(acc.slice(0, i));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const onClose = (): void => {
      cleanup();
      reject(new DBusError('org.freedesktop.DBus.Error.AuthFailed', 'connection closed during authentication'));
    };
    const cleanup = (): void => {
      sock.off('data', onData);
      sock.off('error', onError);
      sock.off('close', onClose);
    };
    sock.on('data', onData);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.write(Buffer.concat([Buffer.from([0]), Buffer.from(`AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\n`, 'latin1')]));
  });
  if (!/^OK [0-9a-fA-F]+$/.test(line)) throw new DBusError('org.freedesktop.DBus.Error.AuthFailed', `EXTERNAL authentication as uid ${uid} refused: ${JSON.stringify(line)}`);
  sock.write('BEGIN\r\n');
}
