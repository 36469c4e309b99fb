/**
 * SPDY/3.1 frames (draft 3.1, section 2.2–2.6): the 8-byte frame header, the control frames berthd's
 * streaming server meets, and the name/value header block before compression. Pure byte work, no I/O.
 */

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** The largest DATA payload we send in one frame: small enough that streams interleave fairly. */
export const MAX_DATA_CHUNK = 32 * 1024;
/** Control frames are small; a longer one is an attack or garbage, not a header block. */
export const MAX_CONTROL_FRAME = 1 << 20;
const MAX_HEADERS = 1024;

/** Header names are lowercase on the wire; a name can carry several values (NUL-separated there). */
export type SpdyHeaders = Map<string, string[]>;

export class SpdyProtocolError extends Error {
  constructor(message: string, readonly streamId = 0) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

export interface FrameHandler {
  control(type: number, version: number, flags: number, payload: Buffer): void;
  /** DATA frames come in pieces as bytes arrive; `last` marks the frame's final piece (FIN is then meaningful). */
  data(streamId: number, flags: number, piece: Buffer, last: boolean): void;
}

interface Pending {
  control: boolean;
  version: number;
  type: number;
  streamId: number;
  flags: number;
  remaining: number;
}

/** Splits the byte stream into frames. DATA payloads are passed on as they arrive, never buffered whole. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private current?: Pending;
  private stopped = false;

  constructor(private readonly handler: FrameHandler) {}

  /** No more frames are delivered (the session is going away). */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.length = 0;
  }

  push(chunk: Buffer): void {
    if (this.stopped || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (!this.stopped) {
      if (!this.current) {
        if (this.length < 8) return;
        const h = this.take(8);
        const control = (h[0] & 0x80) !== 0;
        const remaining = h.readUIntBE(5, 3);
        this.current = control
          ? { control, version: h.readUInt16BE(0) & 0x7fff, type: h.readUInt16BE(2), streamId: 0, flags: h[4], remaining }
          : { control, version: 0, type: 0, streamId: h.readUInt32BE(0) & 0x7fffffff, flags: h[4], remaining };
        if (control && remaining > MAX_CONTROL_FRAME) throw new SpdyProtocolError(`control frame of ${remaining} bytes`);
        if (!control && remaining === 0) {
          this.current = undefined;
          this.handler.data(h.readUInt32BE(0) & 0x7fffffff, h[4], Buffer.alloc(0), true);
          continue;
        }
      }
      const c = this.current;
      if (c.control) {
        if (this.length < c.remaining) return;
        const payload = this.take(c.remaining);
        this.current = undefined;
        this.handler.control(c.type, c.version, c.flags, payload);
      } else {
        if (this.length === 0) return;
        const piece = this.take(Math.min(this.length, c.remaining));
        c.remaining -= piece.length;
        const last = c.remaining === 0;
        if (last) this.current = undefined;
        this.handler.data(c.streamId, c.flags, piece, last);
      }
    }
  }

  /** The first n buffered bytes (n ≤ length), copied only when they span chunks. */
  private take(n: number): Buffer {
    this.length -= n;
    const first = this.chunks[0];
    if (first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

// ---- encoding ----

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const f = Buffer.allocUnsafe(8 + payload.length);
  f.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  f.writeUInt16BE(type, 2);
  f[4] = flags;
  f.writeUIntBE(payload.length, 5, 3);
  payload.copy(f, 8);
  return f;
}

/** SYN_STREAM: priority 0–7 (0 highest); the header block already compressed. */
export function encodeSynStream(streamId: number, flags: number, compressedHeaders: Buffer, priority = 0, associatedId = 0): Buffer {
  const p = Buffer.alloc(10 + compressedHeaders.length);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(associatedId & 0x7fffffff, 4);
  p[8] = (priority & 7) << 5;
  compressedHeaders.copy(p, 10);
  return controlFrame(FrameType.SYN_STREAM, flags, p);
}

export function encodeSynReply(streamId: number, flags: number, compressedHeaders: Buffer): Buffer {
  const p = Buffer.alloc(4 + compressedHeaders.length);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  compressedHeaders.copy(p, 4);
  return controlFrame(FrameType.SYN_REPLY, flags, p);
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FrameType.RST_STREAM, 0, p);
}

export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return controlFrame(FrameType.PING, 0, p);
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FrameType.GOAWAY, 0, p);
}

/** The 8-byte header of a DATA frame; the payload follows it on the wire. */
export function encodeDataHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > 0xffffff) throw new RangeError(`DATA payload of ${length} bytes`);
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h[4] = flags;
  h.writeUIntBE(length, 5, 3);
  return h;
}

// ---- decoding control frame payloads ----

function need(p: Buffer, n: number, what: string, exact = false): void {
  if (exact ? p.length !== n : p.length < n) throw new SpdyProtocolError(`${what} frame of ${p.length} bytes`);
}

export function decodeSynStream(p: Buffer): { streamId: number; associatedId: number; priority: number; headerBlock: Buffer } {
  need(p, 10, 'SYN_STREAM');
  return { streamId: p.readUInt32BE(0) & 0x7fffffff, associatedId: p.readUInt32BE(4) & 0x7fffffff, priority: p[8] >> 5, headerBlock: p.subarray(10) };
}

/** SYN_REPLY and HEADERS share this layout. */
export function decodeStreamHeaders(p: Buffer, what: string): { streamId: number; headerBlock: Buffer } {
  need(p, 4, what);
  return { streamId: p.readUInt32BE(0) & 0x7fffffff, headerBlock: p.subarray(4) };
}

export function decodeRstStream(p: Buffer): { streamId: number; status: number } {
  need(p, 8, 'RST_STREAM', true);
  return { streamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
}

export function decodePing(p: Buffer): number {
  need(p, 4, 'PING', true);
  return p.readUInt32BE(0);
}

export function decodeGoAway(p: Buffer): { lastGoodStreamId: number; status: number } {
  need(p, 8, 'GOAWAY', true);
  return { lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
}

// ---- header blocks (uncompressed) ----

/** Names are sent lowercase (the peer may reject others); several values of a name are joined by NUL. */
export function encodeHeaderBlock(headers: Record<string, string | string[]> | SpdyHeaders): Buffer {
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers);
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  parts.push(u32(entries.length));
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(Array.isArray(value) ? value.join('\0') : value, 'utf8');
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = new Map();
  let off = 0;
  const u32 = (): number => {
    if (off + 4 > b.length) throw new SpdyProtocolError('header block cut short');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (): string => {
    const len = u32();
    if (off + len > b.length) throw new SpdyProtocolError('header block cut short');
    const s = b.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  const count = u32();
  if (count > MAX_HEADERS) throw new SpdyProtocolError(`header block with ${count} headers`);
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const values = str().split('\0');
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/** The first value of a header, case-insensitively; '' when absent (as Go's http.Header.Get). */
export function headerValue(headers: SpdyHeaders, name: string): string {
  return headers.get(name.toLowerCase())?.[0] ?? '';
}
