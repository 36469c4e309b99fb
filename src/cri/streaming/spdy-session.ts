/**
 * A SPDY/3.1 session over an upgraded socket, as Kubernetes' streaming protocols use it (moby/spdystream is
 * the peer): many streams, each a Node Duplex carrying bytes, opened with SYN_STREAM headers, half-closed
 * with a FIN, aborted with RST_STREAM; PING echoed; GOAWAY to end. The peer does no flow control (it neither
 * sends nor honours WINDOW_UPDATE), so neither do we: a stream whose reader falls behind pauses the socket.
 * Serves both roles: the server side for berthd, the client side for tests.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { silentLogger, type Logger } from '../../common/log';
import {
  decodeGoAway, decodeHeaderBlock, decodePing, decodeRstStream, decodeStreamHeaders, decodeSynStream, encodeDataHeader, encodeGoAway,
  encodeHeaderBlock, encodePing, encodeRstStream, encodeSynReply, encodeSynStream, FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameReader, FrameType,
  GoAwayStatus, headerValue, MAX_DATA_CHUNK, RstStatus, SPDY_VERSION, SpdyProtocolError, type SpdyHeaders,
} from './spdy-frames';
import { HeaderCompressor, HeaderDecompressor } from './spdy-zlib';

export interface SpdySessionOptions {
  /** Server: the peer opens odd-numbered streams. Client: we do. */
  server: boolean;
  log?: Logger;
  /** After close(), how long the peer gets to close the socket before we cut it (default 5 s). */
  closeGraceMs?: number;
}

type HeadersInit = Record<string, string | string[]>;

export class SpdySession extends EventEmitter {
  readonly server: boolean;
  private readonly log: Logger;
  private readonly streams = new Map<number, SpdyStream>();
  private readonly reader: FrameReader;
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly pausedBy = new Set<SpdyStream>();
  private nextStreamId: number;
  private lastPeerStreamId = 0;
  private sentGoAway = false;
  /** Set once the peer said GOAWAY. */
  peerGoneAway = false;
  /** Set once the socket has closed: every stream is gone. */
  closed = false;
  private closing = false;
  private readonly closeGraceMs: number;

  constructor(readonly socket: Socket, options: SpdySessionOptions) {
    super();
    this.server = options.server;
    this.log = options.log ?? silentLogger;
    this.closeGraceMs = options.closeGraceMs ?? 5000;
    this.nextStreamId = this.server ? 2 : 1;
    this.reader = new FrameReader({
      control: (type, version, flags, payload) => this.onControl(type, version, flags, payload),
      data: (id, flags, piece, last) => this.onData(id, flags, piece, last),
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(err);
      }
    });
    // SPDY peers do not half-close: an end of input is the end of the session.
    socket.on('end', () => this.close());
    socket.on('error', (err) => this.log.debug('spdy: socket error', { error: err.message }));
    socket.on('close', () => this.onSocketClose());
    // An upgraded socket may come paused (the HTTP parser let go of it); frames flow from here on.
    socket.resume();
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Opens a stream (client side, as remotecommand and portforward clients do). */
  createStream(headers: HeadersInit, options: { fin?: boolean } = {}): SpdyStream {
    if (this.closed || this.sentGoAway || this.peerGoneAway) throw new Error('spdy: session is going away');
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const block = encodeHeaderBlock(headers);
    const stream = new SpdyStream(this, id, decodeHeaderBlock(block), { peerInitiated: false, localFin: !!options.fin });
    this.streams.set(id, stream);
    this.write(encodeSynStream(id, options.fin ? FLAG_FIN : 0, this.compressor.compress(block)));
    return stream;
  }

  /** Says GOAWAY (no new streams) and ends the socket once written; cuts it if the peer lingers. */
  close(): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.goAway(GoAwayStatus.OK);
    if (!this.socket.writableEnded) this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), this.closeGraceMs);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private goAway(status: number): void {
    if (this.sentGoAway || this.closed) return;
    this.sentGoAway = true;
    this.write(encodeGoAway(this.lastPeerStreamId, status));
  }

  /** A protocol violation: the compression state or framing is lost, so the whole session goes. */
  private fail(err: unknown): void {
    this.log.debug('spdy: protocol error, closing the session', { error: (err as Error).message });
    this.reader.stop();
    this.goAway(GoAwayStatus.PROTOCOL_ERROR);
    this.close();
  }

  // ---- used by SpdyStream ----

  /** @internal */
  write(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.socket.destroyed || this.socket.writableEnded) {
      if (cb) process.nextTick(cb, new Error('spdy: session closed'));
      return;
    }
    this.socket.write(frame, cb);
  }

  /** @internal DATA frames of at most MAX_DATA_CHUNK bytes; FIN (when asked) on the last. */
  writeData(id: number, data: Buffer, fin: boolean, cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed || this.socket.writableEnded) {
      process.nextTick(cb, new Error('spdy: session closed'));
      return;
    }
    this.socket.cork();
    let off = 0;
    do {
      const piece = data.subarray(off, off + MAX_DATA_CHUNK);
      off += piece.length;
      const last = off >= data.length;
      this.socket.write(encodeDataHeader(id, last && fin ? FLAG_FIN : 0, piece.length));
      if (last) this.socket.write(piece, cb);
      else this.socket.write(piece);
    } while (off < data.length);
    this.socket.uncork();
  }

  /** @internal */
  sendReply(id: number, headers: HeadersInit): void {
    this.write(encodeSynReply(id, 0, this.compressor.compress(encodeHeaderBlock(headers))));
  }

  /** @internal */
  sendReset(id: number, status: number): void {
    this.write(encodeRstStream(id, status));
  }

  /** @internal A stream's reader is full: stop reading the socket until it drains. */
  pauseFor(stream: SpdyStream): void {
    this.pausedBy.add(stream);
    this.socket.pause();
  }

  /** @internal */
  resumeFor(stream: SpdyStream): void {
    if (this.pausedBy.delete(stream) && this.pausedBy.size === 0 && !this.closed) this.socket.resume();
  }

  /** @internal */
  forget(stream: SpdyStream): void {
    this.streams.delete(stream.id);
    this.resumeFor(stream);
  }

  // ---- incoming frames ----

  private onControl(type: number, version: number, flags: number, payload: Buffer): void {
    if (version !== SPDY_VERSION) throw new SpdyProtocolError(`SPDY version ${version} (want ${SPDY_VERSION})`);
    switch (type) {
      case FrameType.SYN_STREAM: {
        const f = decodeSynStream(payload);
        const headers = decodeHeaderBlock(this.decompressor.decompress(f.headerBlock));
        this.onSynStream(f.streamId, flags, headers);
        return;
      }
      case FrameType.SYN_REPLY: {
        const f = decodeStreamHeaders(payload, 'SYN_REPLY');
        const headers = decodeHeaderBlock(this.decompressor.decompress(f.headerBlock));
        this.streams.get(f.streamId)?.onReply(headers, (flags & FLAG_FIN) !== 0);
        return;
      }
      case FrameType.HEADERS: {
        // Decompressed even though unused: the zlib stream must stay in step.
        const f = decodeStreamHeaders(payload, 'HEADERS');
        this.decompressor.decompress(f.headerBlock);
        if (flags & FLAG_FIN) this.streams.get(f.streamId)?.onRemoteFin();
        return;
      }
      case FrameType.RST_STREAM: {
        const f = decodeRstStream(payload);
        this.streams.get(f.streamId)?.onReset(f.status);
        return;
      }
      case FrameType.PING: {
        const id = decodePing(payload);
        // The peer's pings have the peer's parity (clients odd): echo those; ours come back and are done.
        const peers = this.server ? id % 2 === 1 : id % 2 === 0;
        if (peers) this.write(encodePing(id));
        return;
      }
      case FrameType.GOAWAY: {
        decodeGoAway(payload);
        this.peerGoneAway = true;
        this.emit('goaway');
        return;
      }
      default:
        // SETTINGS, WINDOW_UPDATE (no flow control, see above), NOOP, unknown types: nothing to do.
        return;
    }
  }

  private onSynStream(id: number, flags: number, headers: SpdyHeaders): void {
    const peerParity = this.server ? 1 : 0;
    if (id === 0 || id % 2 !== peerParity || id <= this.lastPeerStreamId) {
      this.sendReset(id, RstStatus.PROTOCOL_ERROR);
      return;
    }
    this.lastPeerStreamId = id;
    if (this.sentGoAway || this.closed || this.listenerCount('stream') === 0) {
      this.sendReset(id, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = new SpdyStream(this, id, headers, { peerInitiated: true, localFin: (flags & FLAG_UNIDIRECTIONAL) !== 0 });
    this.streams.set(id, stream);
    if (flags & FLAG_FIN) stream.onRemoteFin();
    this.emit('stream', stream);
  }

  private onData(id: number, flags: number, piece: Buffer, last: boolean): void {
    // Frames for a stream already reset or finished may still be in flight: dropped, as spdystream does.
    const stream = this.streams.get(id);
    if (!stream) return;
    if (piece.length > 0) stream.onData(piece);
    if (last && flags & FLAG_FIN) stream.onRemoteFin();
  }

  private onSocketClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.stop();
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.emit('close');
  }
}

/** One SPDY stream as a Duplex: writes become DATA frames, end() a FIN; the peer's FIN ends the readable side. */
export class SpdyStream extends Duplex {
  /** Server side: we sent SYN_REPLY. Client side: the peer's SYN_REPLY came. */
  replied: boolean;
  /** The peer's RST_STREAM status, when it reset the stream. */
  resetStatus?: number;
  private localFin: boolean;
  private remoteFin = false;
  private resetDone = false;
  private waiting: Array<() => void> = [];
  private readonly peerInitiated: boolean;

  constructor(private readonly session: SpdySession, readonly id: number, readonly headers: SpdyHeaders, o: { peerInitiated: boolean; localFin: boolean }) {
    super({ allowHalfOpen: true });
    this.peerInitiated = o.peerInitiated;
    this.localFin = o.localFin;
    this.replied = false;
    if (o.localFin) super.end();
    // Streams nobody listens to for errors must not crash the process when the peer goes away.
    this.on('error', () => undefined);
  }

  /** The first value of a header ('' when absent); names are case-insensitive. */
  header(name: string): string {
    return headerValue(this.headers, name);
  }

  /** Accepts a peer's stream (SYN_REPLY); writes wait for it. */
  reply(headers: HeadersInit = {}): void {
    if (!this.peerInitiated || this.replied || this.resetDone || this.session.closed) return;
    this.replied = true;
    this.session.sendReply(this.id, headers);
    for (const w of this.waiting.splice(0)) w();
  }

  /** Aborts both directions (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.resetDone) return;
    this.resetDone = true;
    if (!(this.localFin && this.remoteFin) && !this.session.closed) this.session.sendReset(this.id, status);
    this.destroy();
  }

  /** Resolves once the peer replied (client side); rejects if the stream is reset or closed first. */
  waitReply(): Promise<void> {
    if (this.replied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onClose = (): void => reject(new Error(`spdy: stream ${this.id} ${this.resetStatus !== undefined ? `reset (${this.resetStatus})` : 'closed'} before its reply`));
      this.once('close', onClose);
      this.once('replied', () => {
        this.off('close', onClose);
        resolve();
      });
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.whenWritable(() => {
      if (this.localFin) cb(new Error(`spdy: stream ${this.id} is closed for writing`));
      else this.session.writeData(this.id, chunk, false, cb);
    });
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localFin) {
      cb();
      return;
    }
    this.whenWritable(() => {
      this.localFin = true;
      this.session.writeData(this.id, Buffer.alloc(0), true, cb);
      this.maybeDone();
    });
  }

  override _read(): void {
    this.session.resumeFor(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.resetDone && !(this.localFin && this.remoteFin) && !this.session.closed) {
      this.resetDone = true;
      this.session.sendReset(this.id, RstStatus.CANCEL);
    }
    this.waiting = [];
    this.session.forget(this);
    cb(err);
  }

  /** @internal */
  onData(piece: Buffer): void {
    if (this.remoteFin || this.resetDone) return;
    if (!this.push(piece)) this.session.pauseFor(this);
  }

  /** @internal */
  onRemoteFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    this.push(null);
    this.maybeDone();
  }

  /** @internal */
  onReply(_headers: SpdyHeaders, fin: boolean): void {
    if (this.peerInitiated || this.replied) return;
    this.replied = true;
    this.emit('replied');
    if (fin) this.onRemoteFin();
  }

  /** @internal */
  onReset(status: number): void {
    this.resetStatus = status;
    this.resetDone = true;
    this.emit('reset', status);
    this.destroy();
  }

  /** Our writes on a peer's stream wait for our reply; on our own streams they may go at once (as spdystream's). */
  private whenWritable(fn: () => void): void {
    if (this.replied || !this.peerInitiated) fn();
    else this.waiting.push(fn);
  }

  /** Both directions finished: the stream is over for the session (the Duplex destroys itself). */
  private maybeDone(): void {
    if (this.localFin && this.remoteFin) this.session.forget(this);
  }
}
