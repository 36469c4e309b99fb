/**
 * A small tar writer for tests: ustar headers, pax records (long names, xattrs, anything given) and GNU long
 * names, so that tests can build exactly the layers they need, hostile ones included. GNU tar (used by
 * buildLayer in helpers.ts) makes the ordinary ones.
 */
export type TarType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarSpec {
  path: string;
  type?: TarType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  content?: string | Buffer;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string | Buffer>;
  /** Extra pax records for this entry. */
  pax?: Record<string, string>;
  /** Long names as GNU 'L'/'K' headers instead of pax. */
  gnuLong?: boolean;
}

const FLAG: Record<TarType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

export function header(o: { name: string; mode: number; uid: number; gid: number; size: number; mtime: number; flag: string; linkname?: string; devmajor?: number; devminor?: number }): Buffer {
  const b = Buffer.alloc(512);
  b.write(o.name, 0, 100, 'utf8');
  b.write(octal(o.mode, 8), 100, 'latin1');
  b.write(octal(o.uid, 8), 108, 'latin1');
  b.write(octal(o.gid, 8), 116, 'latin1');
  b.write(octal(o.size, 12), 124, 'latin1');
  b.write(octal(o.mtime, 12), 136, 'latin1');
  b.write(o.flag, 156, 'latin1');
  b.write(o.linkname ?? '', 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 'latin1');
  b.write(octal(o.devmajor ?? 0, 8), 329, 'latin1');
  b.write(octal(o.devminor ?? 0, 8), 337, 'latin1');
  fixChecksum(b);
  return b;
}

export function fixChecksum(b: Buffer): void {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i];
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

const padTo512 = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function block(name: string, flag: string, data: Buffer): Buffer[] {
  return [header({ name, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0, flag }), data, padTo512(data.length)];
}

export function tarEntries(entries: TarSpec[]): Buffer[] {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    const records: Buffer[] = [];
    let name = e.path;
    let linkname = e.linkpath ?? '';
    if (Buffer.byteLength(name) > 99) {
      if (e.gnuLong) out.push(...block('././@LongLink', 'L', Buffer.from(name + '\0')));
      else records.push(paxRecord('path', Buffer.from(name)));
      name = name.slice(0, 99);
    }
    if (Buffer.byteLength(linkname) > 99) {
      if (e.gnuLong) out.push(...block('././@LongLink', 'K', Buffer.from(linkname + '\0')));
      else records.push(paxRecord('linkpath', Buffer.from(linkname)));
      linkname = linkname.slice(0, 99);
    }
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, Buffer.from(v)));
    for (const [k, v] of Object.entries(e.pax ?? {})) records.push(paxRecord(k, Buffer.from(v)));
    if (records.length) out.push(...block('PaxHeader', 'x', Buffer.concat(records)));
    out.push(header({
      name, mode: e.mode ?? (type === 'dir' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, size: data.length,
      mtime: e.mtime ?? 1_600_000_000, flag: FLAG[type], linkname, devmajor: e.devmajor, devminor: e.devminor,
    }));
    out.push(data, padTo512(data.length));
  }
  return out;
}

/** A complete archive (with the two zero blocks at the end). */
export function writeTar(entries: TarSpec[]): Buffer {
  return Buffer.concat([...tarEntries(entries), Buffer.alloc(1024)]);
}
