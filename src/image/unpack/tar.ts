/**
 * A streaming tar reader for image layers: ustar, pax (path, linkpath, size, uid, gid, mtime, uname, gname,
 * SCHILY.xattr.*; global headers apply to every later entry) and GNU long names/links. Entries are yielded one
 * at a time with their body as an async iterable; a body left unread is skipped. Truncated archives, bad
 * checksums, bad numbers and unknown entry types are errors.
 */
import { ChunkReader } from './chunks';
import { BLOCK, decodeName, isZeroBlock, parseHeader, parsePax, paxNumber, tarError, type RawHeader } from './tar-header';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntry {
  /** As written in the archive (not yet normalised or checked: the applier does that). */
  path: string;
  type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, fractional with pax. */
  mtime: number;
  /** Symlink target or hardlink target. */
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
  /** Offset of the entry's header in the uncompressed stream (for error messages). */
  offset: number;
}

export interface TarItem {
  entry: TarEntry;
  body: AsyncIterable<Buffer>;
}

/** Largest pax / GNU long-name body accepted: bigger ones are abuse, not metadata. */
const MAX_META = 1 << 20;

const pad = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarItem> {
  const r = new ChunkReader(source[Symbol.asyncIterator]());
  const global = new Map<string, Buffer>();
  let pax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const offset = r.offset;
    const block = await r.read(BLOCK);
    if (block.length === 0) throw tarError(offset, 'archive ends without its end-of-archive blocks');
    if (block.length < BLOCK) throw tarError(offset, 'truncated header');
    if (isZeroBlock(block)) {
      const second = await r.read(BLOCK);
      if (second.length > 0 && !isZeroBlock(second)) throw tarError(offset, 'a lone zero block inside the archive');
      if (pax || longName !== undefined || longLink !== undefined) throw tarError(offset, 'extended header without an entry after it');
      await r.drain(); // trailing padding: still part of the layer's bytes (diffID)
      return;
    }
    const h = parseHeader(block, offset);
    if (h.type === 'pax' || h.type === 'paxGlobal' || h.type === 'gnuLongName' || h.type === 'gnuLongLink') {
      if (h.size > MAX_META) throw tarError(offset, `${h.type} header of ${h.size} bytes is too large`);
      const data = await r.read(h.size);
      if (data.length < h.size) throw tarError(offset, 'truncated extended header');
      if ((await r.skip(pad(h.size))) < pad(h.size)) throw tarError(offset, 'truncated extended header');
      if (h.type === 'pax') pax = new Map([...(pax ?? []), ...parsePax(data, offset)]);
      else if (h.type === 'paxGlobal') for (const [k, v] of parsePax(data, offset)) global.set(k, v);
      else {
        const nul = data.indexOf(0);
        const name = decodeName(nul < 0 ? data : data.subarray(0, nul), h.type === 'gnuLongName' ? 'GNU long name' : 'GNU long link', offset);
        if (h.type === 'gnuLongName') longName = name;
        else longLink = name;
      }
      continue;
    }
    const entry = toEntry(h, new Map([...global, ...(pax ?? [])]), longName, longLink, offset);
    pax = undefined;
    longName = longLink = undefined;
    const size = entry.type === 'file' ? entry.size : 0;
    let consumed = 0;
    const body = (async function* () {
      for await (const c of r.take(size - consumed)) {
        consumed += c.length;
        yield c;
      }
      if (consumed < size) throw tarError(offset, `truncated body of ${entry.path} (${consumed} of ${size} bytes)`);
    })();
    yield { entry, body };
    if (consumed < size) {
      const got = await r.skip(size - consumed);
      if (got < size - consumed) throw tarError(offset, `truncated body of ${entry.path}`);
      consumed = size;
    }
    if ((await r.skip(pad(size))) < pad(size)) throw tarError(offset, `truncated padding after ${entry.path}`);
  }
}

function toEntry(h: RawHeader, pax: Map<string, Buffer>, longName: string | undefined, longLink: string | undefined, offset: number): TarEntry {
  const type = h.type as EntryType;
  const text = (key: string) => {
    const v = pax.get(key);
    return v === undefined ? undefined : decodeName(v, `pax ${key}`, offset);
  };
  const num = (key: string, fallback: number, fractional = false) => {
    const v = pax.get(key);
    return v === undefined ? fallback : paxNumber(v, key, offset, fractional);
  };
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
  // Only regular files carry a body; the size of header-only types is ignored, as Go's archive/tar does.
  const size = num('size', h.size);
  return {
    path: text('path') ?? longName ?? h.name,
    type,
    mode: h.mode & 0o7777,
    uid: num('uid', h.uid),
    gid: num('gid', h.gid),
    size: type === 'file' ? size : 0,
    mtime: num('mtime', h.mtime, true),
    linkpath: text('linkpath') ?? longLink ?? h.linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    xattrs,
    offset,
  };
}
