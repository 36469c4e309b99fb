/**
 * D-Bus wire format (https://dbus.freedesktop.org/doc/dbus-specification.html, "Marshaling"), limited to what
 * the systemd cgroup driver needs: y b n q i u x t d s o g a (…) {…} v. Unix fds ('h') are not supported.
 *
 * JS representation of values (the same when encoding and decoding):
 *  - y n q i u d → number;  x t → bigint (encoding also accepts a safe-integer number);  b → boolean
 *  - s o g → string;  v → Variant (signature + value)
 *  - ay → Buffer (encoding also accepts number[]);  other arrays → JS arrays
 *  - (…) struct and {…} dict entry → JS arrays of their members, e.g. a{sv} → [[key, Variant], …]
 *
 * Alignment is relative to the start of the message; callers marshal a body separately from offset 0, which is
 * right because the header is padded to 8 and 8 is the largest alignment.
 */
import { BerthError } from '../errors';

export class Variant {
  constructor(
    readonly signature: string,
    readonly value: DBusValue,
  ) {
    parseSignature(signature, true);
  }
}

export type DBusValue = number | bigint | boolean | string | Buffer | Variant | DBusValue[];

/** A parsed single complete type. */
export type TypeNode =
  | { kind: 'basic'; code: string }
  | { kind: 'array'; elem: TypeNode }
  | { kind: 'struct'; fields: TypeNode[] }
  | { kind: 'dict'; key: TypeNode; value: TypeNode }
  | { kind: 'variant' };

const BASIC = 'ybnqiuxtdsog';
const ALIGN: Record<string, number> = { y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, v: 1, a: 4, '(': 8, '{': 8 };
const MAX_ARRAY = 64 * 1024 * 1024;
const MAX_DEPTH = 32;

export const protocolError = (message: string): BerthError => new BerthError('Internal', `D-Bus protocol: ${message}`);

/** Parses a signature into its complete types; `single` demands exactly one (variants). */
export function parseSignature(sig: string, single = false): TypeNode[] {
  if (sig.length > 255) throw protocolError(`signature longer than 255: ${sig}`);
  let pos = 0;
  const one = (depth: number): TypeNode => {
    if (depth > MAX_DEPTH) throw protocolError(`signature nested too deeply: ${sig}`);
    const c = sig[pos++];
    if (c === undefined) throw protocolError(`truncated signature ${JSON.stringify(sig)}`);
    if (BASIC.includes(c)) return { kind: 'basic', code: c };
    if (c === 'v') return { kind: 'variant' };
    if (c === 'a') {
      if (sig[pos] === '{') {
        pos++;
        const key = one(depth + 1);
        if (key.kind !== 'basic') throw protocolError(`dict key must be a basic type in ${JSON.stringify(sig)}`);
        const value = one(depth + 1);
        if (sig[pos++] !== '}') throw protocolError(`dict entry must have exactly two types in ${JSON.stringify(sig)}`);
        return { kind: 'array', elem: { kind: 'dict', key, value } };
      }
      return { kind: 'array', elem: one(depth + 1) };
    }
    if (c === '(') {
      const fields: TypeNode[] = [];
      while (sig[pos] !== ')') {
        if (pos >= sig.length) throw protocolError(`unclosed struct in ${JSON.stringify(sig)}`);
        fields.push(one(depth + 1));
      }
      pos++;
      if (fields.length === 0) throw protocolError(`empty struct in ${JSON.stringify(sig)}`);
      return { kind: 'struct', fields };
    }
    throw protocolError(`unknown type code ${JSON.stringify(c)} in signature ${JSON.stringify(sig)}`);
  };
  const out: TypeNode[] = [];
  while (pos < sig.length) out.push(one(0));
  if (single && out.length !== 1) throw protocolError(`a variant needs exactly one complete type, got ${JSON.stringify(sig)}`);
  return out;
}

function alignOf(t: TypeNode): number {
  switch (t.kind) {
    case 'basic':
      return ALIGN[t.code];
    case 'array':
      return 4;
    case 'variant':
      return 1;
    default:
      return 8;
  }
}

export function signatureOf(t: TypeNode): string {
  switch (t.kind) {
    case 'basic':
      return t.code;
    case 'variant':
      return 'v';
    case 'array':
      return `a${signatureOf(t.elem)}`;
    case 'struct':
      return `(${t.fields.map(signatureOf).join('')})`;
    case 'dict':
      return `{${signatureOf(t.key)}${signatureOf(t.value)}}`;
  }
}

const LIMITS: Record<string, [number, number]> = { y: [0, 0xff], n: [-0x8000, 0x7fff], q: [0, 0xffff], i: [-0x80000000, 0x7fffffff], u: [0, 0xffffffff] };
const BIG_LIMITS: Record<string, [bigint, bigint]> = { x: [-(1n << 63n), (1n << 63n) - 1n], t: [0n, (1n << 64n) - 1n] };

/** Little-endian writer with message-relative alignment. */
export class Writer {
  private buf: Buffer = Buffer.alloc(256);
  length = 0;

  constructor(private readonly base = 0) {}

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  align(n: number): void {
    const pad = (n - ((this.base + this.length) % n)) % n;
    this.ensure(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.length);
    this.length += b.length;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf.writeUInt8(v, this.length);
    this.length += 1;
  }

  u32At(offset: number, v: number): void {
    this.buf.writeUInt32LE(v, offset);
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  /** Writes one value of type `t`. */
  write(t: TypeNode, v: DBusValue, where = 'value'): void {
    const bad = (want: string): never => {
      throw protocolError(`${where}: expected ${want} for D-Bus type ${signatureOf(t)}, got ${describe(v)}`);
    };
    this.align(alignOf(t));
    switch (t.kind) {
      case 'basic': {
        const c = t.code;
        if (c === 'b') {
          if (typeof v !== 'boolean') bad('a boolean');
          this.ensure(4);
          this.buf.writeUInt32LE(v ? 1 : 0, this.length);
          this.length += 4;
        } else if (c in LIMITS) {
          if (typeof v !== 'number' || !Number.isInteger(v)) return bad('an integer number');
          const [lo, hi] = LIMITS[c];
          if (v < lo || v > hi) bad(`an integer in [${lo}, ${hi}]`);
          const size = c === 'y' ? 1 : c === 'n' || c === 'q' ? 2 : 4;
          this.ensure(size);
          if (c === 'y') this.buf.writeUInt8(v, this.length);
          else if (c === 'n') this.buf.writeInt16LE(v, this.length);
          else if (c === 'q') this.buf.writeUInt16LE(v, this.length);
          else if (c === 'i') this.buf.writeInt32LE(v, this.length);
          else this.buf.writeUInt32LE(v, this.length);
          this.length += size;
        } else if (c === 'x' || c === 't') {
          let n: bigint;
          if (typeof v === 'bigint') n = v;
          else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
          else return bad('a bigint (or a safe integer)');
          const [lo, hi] = BIG_LIMITS[c];
          if (n < lo || n > hi) bad(`an integer in [${lo}, ${hi}]`);
          this.ensure(8);
          if (c === 'x') this.buf.writeBigInt64LE(n, this.length);
          else this.buf.writeBigUInt64LE(n, this.length);
          this.length += 8;
        } else if (c === 'd') {
          if (typeof v !== 'number') bad('a number');
          this.ensure(8);
          this.buf.writeDoubleLE(v as number, this.length);
          this.length += 8;
        } else {
          // s o g
          if (typeof v !== 'string') return bad('a string');
          if (v.includes('\0')) bad('a string without NUL');
          if (c === 'o' && !isObjectPath(v)) bad('a valid object path');
          if (c === 'g') parseSignature(v);
          const b = Buffer.from(v, 'utf8');
          if (c === 'g') {
            if (b.length > 255) bad('a signature of at most 255 bytes');
            this.u8(b.length);
          } else {
            this.ensure(4);
            this.buf.writeUInt32LE(b.length, this.length);
            this.length += 4;
          }
          this.bytes(b);
          this.u8(0);
        }
        return;
      }
      case 'variant': {
        if (!(v instanceof Variant)) return bad('a Variant');
        this.write({ kind: 'basic', code: 'g' }, v.signature, where);
        this.write(parseSignature(v.signature, true)[0], v.value, `${where} (variant ${v.signature})`);
        return;
      }
      case 'array': {
        let items: DBusValue[];
        if (t.elem.kind === 'basic' && t.elem.code === 'y' && Buffer.isBuffer(v)) items = [...v];
        else if (Array.isArray(v)) items = v;
        else return bad('an array');
        this.ensure(4);
        const lenAt = this.length;
        this.length += 4;
        // The padding to the first element's alignment comes after the length and is not counted in it.
        this.align(alignOf(t.elem));
        const start = this.length;
        items.forEach((item, i) => this.write(t.elem, item, `${where}[${i}]`));
        const len = this.length - start;
        if (len > MAX_ARRAY) bad('an array of at most 64 MiB');
        this.u32At(lenAt, len);
        return;
      }
      case 'struct': {
        if (!Array.isArray(v) || v.length !== t.fields.length) return bad(`an array of ${t.fields.length} struct members`);
        t.fields.forEach((f, i) => this.write(f, v[i], `${where}.${i}`));
        return;
      }
      case 'dict': {
        if (!Array.isArray(v) || v.length !== 2) return bad('a [key, value] pair');
        this.write(t.key, v[0], `${where}.key`);
        this.write(t.value, v[1], `${where}.value`);
        return;
      }
    }
  }
}

function describe(v: unknown): string {
  if (v instanceof Variant) return `Variant(${v.signature})`;
  if (Buffer.isBuffer(v)) return 'Buffer';
  if (Array.isArray(v)) return `array(${v.length})`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

export function isObjectPath(p: string): boolean {
  return p === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(p);
}

/** Marshals `values` of signature `sig` starting at message offset `base` (0 for a body). */
export function marshal(sig: string, values: readonly DBusValue[], base = 0): Buffer {
  const types = parseSignature(sig);
  if (types.length !== values.length) throw protocolError(`signature ${JSON.stringify(sig)} has ${types.length} types, got ${values.length} values`);
  const w = new Writer(base);
  types.forEach((t, i) => w.write(t, values[i], `argument ${i}`));
  return w.result();
}

/** Reader over a buffer whose offset 0 is `base` bytes into the message; little- or big-endian. */
export class Reader {
  pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly littleEndian = true,
    private readonly base = 0,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw protocolError(`truncated data (need ${n} bytes at ${this.pos}, have ${this.buf.length - this.pos})`);
  }

  align(n: number): void {
    const pad = (n - ((this.base + this.pos) % n)) % n;
    this.need(pad);
    for (let i = 0; i < pad; i++) if (this.buf[this.pos + i] !== 0) throw protocolError('non-zero alignment padding');
    this.pos += pad;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u32(): number {
    this.need(4);
    const v = this.littleEndian ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private str(len: number): string {
    this.need(len + 1);
    const s = this.buf.toString('utf8', this.pos, this.pos + len);
    if (this.buf[this.pos + len] !== 0) throw protocolError('string not NUL-terminated');
    this.pos += len + 1;
    return s;
  }

  read(t: TypeNode, depth = 0): DBusValue {
    if (depth > MAX_DEPTH * 2) throw protocolError('value nested too deeply');
    this.align(alignOf(t));
    const le = this.littleEndian;
    switch (t.kind) {
      case 'basic': {
        const c = t.code;
        const at = this.pos;
        switch (c) {
          case 'y':
            return this.u8();
          case 'b': {
            const v = this.u32();
            if (v > 1) throw protocolError(`boolean value ${v}`);
            return v === 1;
          }
          case 'n':
            this.need(2);
            this.pos += 2;
            return le ? this.buf.readInt16LE(at) : this.buf.readInt16BE(at);
          case 'q':
            this.need(2);
            this.pos += 2;
            return le ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
          case 'i':
            this.need(4);
            this.pos += 4;
            return le ? this.buf.readInt32LE(at) : this.buf.readInt32BE(at);
          case 'u':
            return this.u32();
          case 'x':
            this.need(8);
            this.pos += 8;
            return le ? this.buf.readBigInt64LE(at) : this.buf.readBigInt64BE(at);
          case 't':
            this.need(8);
            this.pos += 8;
            return le ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at);
          case 'd':
            this.need(8);
            this.pos += 8;
            return le ? this.buf.readDoubleLE(at) : this.buf.readDoubleBE(at);
          case 'g':
            return this.str(this.u8());
          default:
            return this.str(this.u32());
        }
      }
      case 'variant': {
        const sig = this.str(this.u8());
        return new Variant(sig, this.read(parseSignature(sig, true)[0], depth + 1));
      }
      case 'array': {
        const len = this.u32();
        if (len > MAX_ARRAY) throw protocolError(`array of ${len} bytes`);
        this.align(alignOf(t.elem));
        const end = this.pos + len;
        this.need(len);
        if (t.elem.kind === 'basic' && t.elem.code === 'y') {
          const b = Buffer.from(this.buf.subarray(this.pos, end));
          this.pos = end;
          return b;
        }
        const out: DBusValue[] = [];
        while (this.pos < end) out.push(this.read(t.elem, depth + 1));
        if (this.pos !== end) throw protocolError('array elements overrun the array length');
        return out;
      }
      case 'struct':
        return t.fields.map((f) => this.read(f, depth + 1));
      case 'dict':
        return [this.read(t.key, depth + 1), this.read(t.value, depth + 1)];
    }
  }
}

export function unmarshal(sig: string, buf: Buffer, littleEndian = true, base = 0): DBusValue[] {
  const r = new Reader(buf, littleEndian, base);
  const out = parseSignature(sig).map((t) => r.read(t));
  if (r.pos !== buf.length) throw protocolError(`${buf.length - r.pos} bytes left after the values of signature ${JSON.stringify(sig)}`);
  return out;
}
