/**
 * The client-to-server half of an HTTP/2 connection (RFC 9113 §3.4, §4, §6.2, §6.10), cut into frames so that
 * each header block (a HEADERS frame and its CONTINUATION frames) can go through an AuthorityRewriter. Every
 * other frame passes unchanged. A rewritten block is sent again as one HEADERS frame and as many CONTINUATION
 * frames as the default maximum frame size needs, without the padding the client may have added.
 */
import { AuthorityRewriter, type RewrittenBlock } from './hpack-authority';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's initial value: what every server accepts. */
const MAX_FRAME = 16384;

export class FrameError extends Error {}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  /** Header and payload. */
  bytes: Buffer;
}

function frameBytes(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream, 5);
  return Buffer.concat([header, payload]);
}

/** A HEADERS frame's header block fragment and its priority fields (padding dropped). */
function headersParts(f: Frame): { fragment: Buffer; priority?: Buffer } {
  const payload = f.bytes.subarray(FRAME_HEADER);
  let start = 0;
  let end = payload.length;
  if (f.flags & PADDED) {
    if (payload.length < 1) throw new FrameError('HEADERS frame too short for its pad length');
    end -= payload[0];
    start = 1;
  }
  let priority: Buffer | undefined;
  if (f.flags & PRIORITY) {
    priority = payload.subarray(start, start + 5);
    start += 5;
  }
  if (start > end) throw new FrameError('HEADERS frame padding exceeds its payload');
  return { fragment: payload.subarray(start, end), priority };
}

export interface ClientFramesOptions {
  /** Told about each header block: what it carried and whether it was rewritten. */
  onBlock?: (result: RewrittenBlock) => void;
  /**
   * Stop looking once the first header block needed no change: a client sends one authority per connection,
   * so the rest passes as it comes, unparsed.
   */
  stopAfterValidFirstBlock?: boolean;
}

/** Feed it the client's bytes in order; it returns the bytes to give the server. */
export class ClientFrames {
  private readonly rewriter = new AuthorityRewriter();
  private pending: Buffer = Buffer.alloc(0);
  private prefaceLeft = PREFACE.length;
  /** HEADERS and CONTINUATION frames of a block that has not ended yet. */
  private block: Frame[] = [];
  private blocks = 0;
  private passThrough = false;

  constructor(private readonly options: ClientFramesOptions = {}) {}

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    if (this.passThrough) {
      this.pending = Buffer.alloc(0);
      return [data];
    }
    if (this.prefaceLeft > 0) {
      const n = Math.min(this.prefaceLeft, data.length);
      const offset = PREFACE.length - this.prefaceLeft;
      if (!data.subarray(0, n).equals(PREFACE.subarray(offset, offset + n))) throw new FrameError('not an HTTP/2 connection preface');
      out.push(data.subarray(0, n));
      this.prefaceLeft -= n;
      data = data.subarray(n);
    }
    let pos = 0;
    while (data.length - pos >= FRAME_HEADER) {
      const length = data.readUIntBE(pos, 3);
      if (data.length - pos < FRAME_HEADER + length) break;
      const frame: Frame = { type: data[pos + 3], flags: data[pos + 4], stream: data.readUInt32BE(pos + 5) & 0x7fffffff, bytes: data.subarray(pos, pos + FRAME_HEADER + length) };
      pos += FRAME_HEADER + length;
      out.push(...this.frame(frame));
    }
    this.pending = Buffer.from(data.subarray(pos));
    return out;
  }

  private frame(f: Frame): Buffer[] {
    if (this.passThrough || (this.block.length === 0 && f.type !== HEADERS)) return [f.bytes];
    if (this.block.length > 0 && (f.type !== CONTINUATION || f.stream !== this.block[0].stream)) {
      throw new FrameError('a header block was interrupted by another frame'); // RFC 9113 §6.10
    }
    this.block.push(f);
    if (!(f.flags & END_HEADERS)) return [];
    const frames = this.block;
    this.block = [];
    const head = headersParts(frames[0]);
    const fragments = [head.fragment, ...frames.slice(1).map((c) => c.bytes.subarray(FRAME_HEADER))];
    const result = this.rewriter.rewrite(fragments.length === 1 ? fragments[0] : Buffer.concat(fragments));
    this.options.onBlock?.(result);
    if (this.blocks++ === 0 && !result.changed && this.options.stopAfterValidFirstBlock) this.passThrough = true;
    if (!result.changed) return frames.map((x) => x.bytes);
    return this.reframe(frames[0], head.priority, result.block);
  }

  private reframe(first: Frame, priority: Buffer | undefined, block: Buffer): Buffer[] {
    const room = MAX_FRAME - (priority ? priority.length : 0);
    const out: Buffer[] = [];
    const headFlags = (first.flags & (END_STREAM | PRIORITY)) | (block.length <= room ? END_HEADERS : 0);
    out.push(frameBytes(HEADERS, headFlags, first.stream, Buffer.concat([priority ?? Buffer.alloc(0), block.subarray(0, room)])));
    for (let pos = room; pos < block.length; pos += MAX_FRAME) {
      const last = pos + MAX_FRAME >= block.length;
      out.push(frameBytes(CONTINUATION, last ? END_HEADERS : 0, first.stream, block.subarray(pos, pos + MAX_FRAME)));
    }
    return out;
  }
}
