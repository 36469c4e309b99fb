/**
 * Rewrites the `:authority` values in a client's HPACK header blocks (RFC 7541) so that an HTTP/2 server that
 * validates them accepts them: every octet an authority may not hold becomes `_`. gRPC clients that dial a
 * unix socket by path send the path as the authority (`/run/berth/berthd.sock`), which Node's HTTP/2 server
 * resets as a protocol error.
 *
 * The rewriter follows the client's dynamic table (names and entry sizes; values are not needed), so it knows
 * which name an indexed literal refers to. A rewritten value keeps its decoded length, and so its table entry
 * keeps its size: the server's table evicts exactly when the client's encoder expects it to.
 */
import { huffmanDecode } from './huffman';

/** Names of the static table (RFC 7541 Appendix A), index 1 to 61. */
const STATIC_NAMES = [
  ':authority', ':method', ':method', ':path', ':path', ':scheme', ':scheme', ':status', ':status', ':status', ':status',
  ':status', ':status', ':status', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'accept',
  'access-control-allow-origin', 'age', 'allow', 'authorization', 'cache-control', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range', 'content-type', 'cookie', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'link', 'location', 'max-forwards', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'refresh', 'retry-after', 'server', 'set-cookie', 'strict-transport-security', 'transfer-encoding', 'user-agent', 'vary',
  'via', 'www-authenticate',
];
/** SETTINGS_HEADER_TABLE_SIZE's initial value, which Node's HTTP/2 server keeps. */
const DEFAULT_TABLE_SIZE = 4096;
/** RFC 7541 §4.1: an entry's size is its name's and value's length plus 32. */
const ENTRY_OVERHEAD = 32;
/** Larger integers than this in a header block are nonsense (and would lose precision). */
const MAX_INTEGER = 2 ** 31;

export class HpackError extends Error {}

/**
 * Octets an authority may hold (RFC 3986 §3.2: unreserved, pct-encoded, sub-delims, ":", "@" and the brackets
 * of IP literals), as nghttp2 checks them.
 */
const AUTHORITY_OCTET = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]$/;

export function isValidAuthority(value: Uint8Array): boolean {
  for (const o of value) if (o > 0x7e || !AUTHORITY_OCTET.test(String.fromCharCode(o))) return false;
  return true;
}

/** `value` with each octet an authority may not hold replaced by `_`; undefined when it is valid already. */
export function fixAuthority(value: Uint8Array): Buffer | undefined {
  if (isValidAuthority(value)) return undefined;
  return Buffer.from(Array.from(value, (o) => (o <= 0x7e && AUTHORITY_OCTET.test(String.fromCharCode(o)) ? o : 0x5f)));
}

function readInteger(block: Buffer, pos: number, prefixBits: number): [number, number] {
  if (pos >= block.length) throw new HpackError('truncated integer');
  const mask = 2 ** prefixBits - 1;
  let value = block[pos++] & mask;
  if (value < mask) return [value, pos];
  for (let shift = 0; ; shift += 7) {
    if (pos >= block.length) throw new HpackError('truncated integer');
    const b = block[pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new HpackError('integer too large');
    if ((b & 0x80) === 0) return [value, pos];
  }
}

/** A string literal at `pos`: its decoded octets and the position after it. */
function readString(block: Buffer, pos: number): [Buffer, number] {
  if (pos >= block.length) throw new HpackError('truncated string');
  const huffman = (block[pos] & 0x80) !== 0;
  const [length, start] = readInteger(block, pos, 7);
  const end = start + length;
  if (end > block.length) throw new HpackError('truncated string');
  const raw = block.subarray(start, end);
  return [huffman ? huffmanDecode(raw) : raw, end];
}

/** A plain (not Huffman-coded) string literal. */
function encodeString(value: Buffer): Buffer {
  const prefix: number[] = [];
  if (value.length < 0x7f) prefix.push(value.length);
  else {
    prefix.push(0x7f);
    let rest = value.length - 0x7f;
    while (rest >= 0x80) {
      prefix.push((rest % 0x80) | 0x80);
      rest = Math.floor(rest / 0x80);
    }
    prefix.push(rest);
  }
  return Buffer.concat([Buffer.from(prefix), value]);
}

interface Entry {
  name: string;
  size: number;
}

export interface RewrittenBlock {
  /** The block to send on: `block` itself when nothing changed. */
  block: Buffer;
  /** The `:authority` literals the block carried, as the client sent them. */
  authorities: string[];
  changed: boolean;
}

/** One per connection: header blocks must be given in the order the client sent them. */
export class AuthorityRewriter {
  private readonly table: Entry[] = []; // newest first
  private size = 0;
  private maxSize = DEFAULT_TABLE_SIZE;

  rewrite(block: Buffer): RewrittenBlock {
    const pieces: Buffer[] = [];
    const authorities: string[] = [];
    let copied = 0;
    let pos = 0;
    while (pos < block.length) {
      const first = block[pos];
      if (first & 0x80) {
        const [index, next] = readInteger(block, pos, 7);
        this.nameAt(index);
        pos = next;
        continue;
      }
      if ((first & 0xe0) === 0x20) {
        const [size, next] = readInteger(block, pos, 5);
        if (size > DEFAULT_TABLE_SIZE) throw new HpackError(`dynamic table size ${size} above the server's ${DEFAULT_TABLE_SIZE}`);
        this.maxSize = size;
        this.evict(0);
        pos = next;
        continue;
      }
      const indexing = (first & 0xc0) === 0x40;
      const [nameIndex, afterIndex] = readInteger(block, pos, indexing ? 6 : 4);
      let name: string;
      let valueStart = afterIndex;
      if (nameIndex === 0) {
        const [n, next] = readString(block, afterIndex);
        name = n.toString('latin1');
        valueStart = next;
      } else {
        name = this.nameAt(nameIndex);
      }
      const [value, end] = readString(block, valueStart);
      if (name === ':authority') {
        authorities.push(value.toString('latin1'));
        const fixed = fixAuthority(value);
        if (fixed) {
          pieces.push(block.subarray(copied, valueStart), encodeString(fixed));
          copied = end;
        }
      }
      if (indexing) this.add({ name, size: name.length + value.length + ENTRY_OVERHEAD });
      pos = end;
    }
    if (copied === 0) return { block, authorities, changed: false };
    pieces.push(block.subarray(copied));
    return { block: Buffer.concat(pieces), authorities, changed: true };
  }

  private nameAt(index: number): string {
    if (index === 0) throw new HpackError('index 0');
    if (index <= STATIC_NAMES.length) return STATIC_NAMES[index - 1];
    const entry = this.table[index - STATIC_NAMES.length - 1];
    if (!entry) throw new HpackError(`index ${index} is not in the dynamic table`);
    return entry.name;
  }

  /** Evicts the oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.maxSize) this.size -= this.table.pop()!.size;
  }

  private add(entry: Entry): void {
    if (entry.size > this.maxSize) {
      this.table.length = 0; // §4.4: an entry larger than the table empties it and is not added
      this.size = 0;
      return;
    }
    this.evict(entry.size);
    this.table.unshift(entry);
    this.size += entry.size;
  }
}
