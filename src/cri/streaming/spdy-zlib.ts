/**
 * SPDY/3 header block compression: one zlib stream per direction for the whole connection, preset with the
 * SPDY dictionary, each header block ending on a sync flush (draft 3, 2.6.10.1).
 *
 * Both halves are synchronous, so frames are written and read strictly in order without queues:
 * - Sending, we emit zlib's own framing with stored (uncompressed) deflate blocks, each header block closed by
 *   the empty stored block a sync flush makes (Go's inflater hands a block's bytes to its reader only there).
 *   That is a valid stream for any inflater, needs no history, and header blocks here are a few dozen bytes,
 *   so compression gains nothing.
 * - Receiving, every block is complete deflate blocks (the peer flushed), so a fresh raw inflate whose preset
 *   window is the last 32 KiB of dictionary + everything inflated so far decodes it exactly as a long-lived
 *   inflater would.
 */
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary';

const WINDOW = 32 * 1024;
/** Decompressed size limit of one header block: a few KiB is normal, this only stops a zlib bomb. */
export const MAX_HEADER_BLOCK = 1 << 20;
const STORED_MAX = 0xffff;
/** An empty stored block: what Z_SYNC_FLUSH ends its output with. */
const SYNC_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

export function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < buf.length; ) {
    // 5552 bytes is the most that can be summed before the modulo without overflowing 32 bits.
    const end = Math.min(buf.length, i + 5552);
    for (; i < end; i++) {
      a += buf[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const DICTIONARY_ID = adler32(SPDY3_DICTIONARY);

export class HeaderCompressor {
  private started = false;

  compress(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF: deflate with a 32 KiB window; FLG: preset dictionary, check bits making CMF·256+FLG a multiple of 31.
      const cmf = 0x78;
      let flg = 0x20;
      flg |= (31 - (((cmf << 8) | flg) % 31)) % 31;
      const head = Buffer.alloc(6);
      head[0] = cmf;
      head[1] = flg;
      head.writeUInt32BE(DICTIONARY_ID, 2);
      parts.push(head);
    }
    let off = 0;
    do {
      const chunk = block.subarray(off, off + STORED_MAX);
      // A stored block, not the last: header bits 000 padded to the byte, then LEN and its complement.
      const head = Buffer.alloc(5);
      head.writeUInt16LE(chunk.length, 1);
      head.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(head, chunk);
      off += chunk.length;
    } while (off < block.length);
    parts.push(SYNC_MARKER);
    return Buffer.concat(parts);
  }
}

export class HeaderDecompressor {
  private started = false;
  private window: Buffer = SPDY3_DICTIONARY;

  /** The header block of one frame, decompressed; throws on a corrupt stream or a wrong dictionary. */
  decompress(data: Buffer): Buffer {
    let body = data;
    if (!this.started) {
      if (data.length < 2) throw new Error('header block too short for a zlib header');
      const cmf = data[0];
      const flg = data[1];
      if ((cmf & 0x0f) !== 8 || cmf >> 4 > 7 || ((cmf << 8) | flg) % 31 !== 0) throw new Error('header block is not a zlib stream');
      if (flg & 0x20) {
        if (data.length < 6) throw new Error('header block too short for its dictionary id');
        if (data.readUInt32BE(2) !== DICTIONARY_ID) throw new Error('header block uses another dictionary than SPDY/3\'s');
        body = data.subarray(6);
      } else {
        this.window = Buffer.alloc(0);
        body = data.subarray(2);
      }
      this.started = true;
    }
    const out = zlib.inflateRawSync(body, {
      finishFlush: zlib.constants.Z_SYNC_FLUSH,
      maxOutputLength: MAX_HEADER_BLOCK,
      ...(this.window.length ? { dictionary: this.window } : {}),
    });
    const all = Buffer.concat([this.window, out]);
    this.window = all.length > WINDOW ? Buffer.from(all.subarray(all.length - WINDOW)) : all;
    return out;
  }
}
