/**
 * One 512-byte tar header block (POSIX ustar, GNU and v7 forms) and pax extended-header records. Every
 * malformed field is an error naming the field and the archive offset: the layer is refused, never guessed at.
 */
import { BerthError } from '../../common/errors';

export const BLOCK = 512;

/** Type flags as POSIX and GNU tar define them. */
export type RawType =
  | 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo'
  | 'pax' | 'paxGlobal' | 'gnuLongName' | 'gnuLongLink';

const TYPES: Record<string, RawType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
  x: 'pax', g: 'paxGlobal', L: 'gnuLongName', K: 'gnuLongLink',
};

export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: RawType;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export function tarError(offset: number, message: string): BerthError {
  return new BerthError('InvalidArgument', `layer tar: ${message} (header at byte ${offset})`, { field: 'layer' });
}

export function isZeroBlock(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** Decodes a path-like field; names that are not valid UTF-8 are refused rather than mangled. */
export function decodeName(bytes: Buffer, what: string, offset: number): string {
  const s = bytes.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(bytes)) throw tarError(offset, `${what} is not valid UTF-8`);
  return s;
}

function cstring(b: Buffer, start: number, len: number): Buffer {
  const f = b.subarray(start, start + len);
  const nul = f.indexOf(0);
  return nul < 0 ? f : f.subarray(0, nul);
}

/** Octal ASCII (space/NUL terminated, leading spaces allowed) or GNU base-256 (high bit of the first byte). */
function numeric(b: Buffer, start: number, len: number, what: string, offset: number): number {
  const f = b.subarray(start, start + len);
  if (f[0] & 0x80) {
    if (f[0] & 0x40) throw tarError(offset, `${what}: negative base-256 number`);
    let v = f[0] & 0x3f;
    for (let i = 1; i < f.length; i++) {
      v = v * 256 + f[i];
      if (!Number.isSafeInteger(v)) throw tarError(offset, `${what}: base-256 number too large`);
    }
    return v;
  }
  const text = f.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw tarError(offset, `${what}: invalid octal number ${JSON.stringify(f.toString('latin1'))}`);
  const v = parseInt(text, 8);
  if (!Number.isSafeInteger(v)) throw tarError(offset, `${what}: number too large`);
  return v;
}

function checksumOk(b: Buffer, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

export function parseHeader(b: Buffer, offset: number): RawHeader {
  const chk = numeric(b, 148, 8, 'checksum', offset);
  if (!checksumOk(b, chk)) throw tarError(offset, 'bad header checksum');
  const typeflag = String.fromCharCode(b[156]);
  const type = TYPES[typeflag];
  if (!type) throw tarError(offset, `unsupported entry type ${JSON.stringify(typeflag)} (sparse files, volume headers and the like are not accepted in layers)`);
  const magic = b.subarray(257, 263).toString('latin1');
  const ustar = magic === 'ustar\0';
  const gnu = magic === 'ustar ';
  if (!ustar && !gnu && !isZeroBlock(b.subarray(257, 263))) throw tarError(offset, `unknown header magic ${JSON.stringify(magic)}`);
  let nameBytes = cstring(b, 0, 100);
  // Only POSIX ustar has the prefix field; GNU keeps access/change times there.
  if (ustar) {
    const prefix = cstring(b, 345, 155);
    if (prefix.length > 0) nameBytes = Buffer.concat([prefix, Buffer.from('/'), nameBytes]);
  }
  return {
    name: decodeName(nameBytes, 'name', offset),
    mode: numeric(b, 100, 8, 'mode', offset),
    uid: numeric(b, 108, 8, 'uid', offset),
    gid: numeric(b, 116, 8, 'gid', offset),
    size: numeric(b, 124, 12, 'size', offset),
    mtime: numeric(b, 136, 12, 'mtime', offset),
    type,
    linkname: decodeName(cstring(b, 157, 100), 'linkname', offset),
    uname: cstring(b, 265, 32).toString('utf8'),
    gname: cstring(b, 297, 32).toString('utf8'),
    devmajor: ustar || gnu ? numeric(b, 329, 8, 'devmajor', offset) : 0,
    devminor: ustar || gnu ? numeric(b, 337, 8, 'devminor', offset) : 0,
  };
}

/** pax records: `<length> <key>=<value>\n`, the length counting the whole record. Values stay bytes. */
export function parsePax(data: Buffer, offset: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // some writers pad the body with NULs
    const space = data.indexOf(0x20, i);
    if (space < 0 || space - i > 20) throw tarError(offset, 'pax record without a length');
    const lenText = data.subarray(i, space).toString('latin1');
    if (!/^[1-9][0-9]*$/.test(lenText)) throw tarError(offset, `pax record length ${JSON.stringify(lenText)} is not a number`);
    const len = Number(lenText);
    const end = i + len;
    if (end > data.length || data[end - 1] !== 0x0a) throw tarError(offset, 'pax record overruns its header or lacks its newline');
    const rec = data.subarray(space + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw tarError(offset, 'pax record without key=value');
    out.set(rec.subarray(0, eq).toString('utf8'), rec.subarray(eq + 1));
    i = end;
  }
  return out;
}

/** pax numeric values: decimal, times with an optional fraction. */
export function paxNumber(v: Buffer, key: string, offset: number, fractional = false): number {
  const s = v.toString('latin1');
  const re = fractional ? /^-?[0-9]+(\.[0-9]+)?$/ : /^[0-9]+$/;
  if (!re.test(s)) throw tarError(offset, `pax ${key}: invalid number ${JSON.stringify(s)}`);
  const n = Number(s);
  if (!Number.isFinite(n) || (!fractional && !Number.isSafeInteger(n))) throw tarError(offset, `pax ${key}: number out of range`);
  return n;
}
