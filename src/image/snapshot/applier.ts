/**
 * Applies one layer's tar entries into an empty snapshot directory, in overlayfs' format: whiteouts become
 * char devices 0/0, opaque directories get `trusted.overlay.opaque=y`. Files, directories, symlinks,
 * hardlinks, device nodes and fifos keep their mode (setuid included), owner, xattrs and mtime; directories'
 * mtimes are set last, after their contents.
 *
 * Nothing may land outside the snapshot: names are normalised and refused on `..` or `/`, every parent
 * directory is lstat'ed (this layer first, then the merged lower layers) and a symlink or non-directory on
 * the way is refused, hardlink targets must be regular entries of this same layer reached the same way, and
 * final components are never followed (O_NOFOLLOW, unlink before create, lchown/lutimes). Only this process
 * writes into the temp directory while it is applied, so what was checked stays true.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../common/errors';
import type { TarEntry, TarItem } from '../unpack/tar';
import { ancestorsOf, escapeError, normalizeEntryPath, whiteoutOf } from './entry-path';
import { LayerMeta } from './layer-meta';
import { isWhiteout, lookupLower, lstatOrUndefined, type LowerLayer } from './lower-view';

export interface ApplyResult {
  entries: number;
  /** Bytes of regular-file content written. */
  bytes: number;
  /** Directories this layer marked opaque. */
  opaque: string[];
}

const MAX_WRITES_IN_FLIGHT = 4;

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** A layer written into its directory but not yet on disk for sure. */
export interface AppliedLayer {
  result: ApplyResult;
  /** syncfs of the snapshot's filesystem, then the helper ends. */
  sync(): Promise<void>;
  /** The helper ends, without a sync (the snapshotter syncs committed layers in batches). */
  close(): Promise<void>;
  /** Ends the helper without syncing (the snapshot is being thrown away). */
  abort(): void;
}

/** Applies and syncs: the layer is durable when this returns. */
export async function applyLayer(items: AsyncIterable<TarItem>, root: string, lowers: readonly LowerLayer[]): Promise<ApplyResult> {
  const applied = await applyLayerUnsynced(items, root, lowers);
  await applied.sync();
  return applied.result;
}

/**
 * Applies without waiting for the disk: the caller syncs (`sync()`), or closes and leaves the sync to the
 * snapshotter's batched flush; meanwhile it may build the next layer over this one.
 */
export async function applyLayerUnsynced(items: AsyncIterable<TarItem>, root: string, lowers: readonly LowerLayer[]): Promise<AppliedLayer> {
  const a = new Applier(root, lowers);
  try {
    for await (const { entry, body } of items) await a.apply(entry, body);
    a.finishDirectories();
  } catch (err) {
    a.meta.kill();
    throw err;
  }
  return {
    result: { entries: a.entries, bytes: a.bytes, opaque: [...a.opaque] },
    sync: async () => {
      try {
        await a.meta.syncfs();
        await a.meta.close();
      } catch (err) {
        a.meta.kill();
        throw err;
      }
    },
    close: async () => {
      try {
        await a.meta.close();
      } catch (err) {
        a.meta.kill();
        throw err;
      }
    },
    abort: () => a.meta.kill(),
  };
}

class Applier {
  readonly meta: LayerMeta;
  readonly opaque = new Set<string>();
  /** Directories made or listed in this layer → mtime to set at the end. */
  private readonly dirTimes = new Map<string, number>();
  /** Directories known to exist (as real directories) in this layer. */
  private readonly dirs = new Set<string>(['']);
  entries = 0;
  bytes = 0;

  constructor(private readonly root: string, private readonly lowers: readonly LowerLayer[]) {
    this.meta = new LayerMeta(root);
    // overlayfs shows the top layer's root directory: without a `./` entry it keeps the lower one's attributes.
    const below = lowers[0] && fs.lstatSync(lowers[0].dir);
    if (below) {
      fs.chownSync(root, below.uid, below.gid);
      fs.chmodSync(root, below.mode & 0o7777);
      this.dirTimes.set('', below.mtimeMs / 1000);
    }
  }

  private full(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  async apply(e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    const rel = normalizeEntryPath(e.path);
    for (const name of e.xattrs.keys()) {
      if (name.startsWith('trusted.overlay.')) throw escapeError(e.path, `xattr ${name} refused: overlay's own attributes are set by the snapshotter, never by an image`);
    }
    const wh = whiteoutOf(rel, e.path);
    if (wh?.kind === 'opaque') {
      if (wh.dir === '') throw escapeError(e.path, 'an opaque layer root is not supported (overlayfs ignores it on a lower layer)');
      await this.ensureDir(wh.dir, e.path);
      await this.markOpaque(wh.dir);
      return;
    }
    if (wh?.kind === 'whiteout') {
      await this.ensureParents(wh.target, e.path);
      // Something of this same layer already there hides the lower entry by itself (image-spec: a whiteout
      // only applies to lower layers).
      if (lstatOrUndefined(this.full(wh.target))) return;
      await this.meta.mknod(wh.target, S_IFCHR, 0, 0);
      return;
    }
    if (rel === '') {
      if (e.type !== 'dir') throw escapeError(e.path, `the layer root can only be a directory, not a ${e.type}`);
      await this.attributes('', e);
      this.dirTimes.set('', e.mtime);
      return;
    }
    await this.ensureParents(rel, e.path);
    const full = this.full(rel);
    const existing = lstatOrUndefined(full);
    if (e.type === 'dir') {
      if (existing && !existing.isDirectory()) fs.unlinkSync(full);
      if (!existing || !existing.isDirectory()) fs.mkdirSync(full, { mode: 0o700 });
      if (existing && isWhiteout(existing)) await this.markOpaque(rel);
      this.dirs.add(rel);
      await this.attributes(rel, e);
      this.dirTimes.set(rel, e.mtime);
      return;
    }
    if (existing) {
      if (existing.isDirectory()) {
        fs.rmSync(full, { recursive: true });
        for (const d of [...this.dirs]) if (d === rel || d.startsWith(rel + '/')) this.dirs.delete(d);
      } else fs.unlinkSync(full);
    }
    switch (e.type) {
      case 'file':
        await this.writeFile(full, e, body);
        break;
      case 'symlink':
        fs.symlinkSync(e.linkpath, full);
        break;
      case 'hardlink': {
        const target = this.hardlinkTarget(e);
        fs.linkSync(this.full(target), full);
        return; // same inode: its attributes are the target's
      }
      case 'char':
      case 'block':
      case 'fifo': {
        const type = e.type === 'char' ? S_IFCHR : e.type === 'block' ? S_IFBLK : S_IFIFO;
        await this.meta.mknod(rel, type | (e.mode & 0o777), e.devmajor, e.devminor);
        break;
      }
    }
    if (e.type !== 'file') await this.attributes(rel, e);
  }

  /** Regular file: created exclusively without following anything, then owner, mode, xattrs, times. */
  private async writeFile(full: string, e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const fd = fs.openSync(full, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    // Positional writes in the thread pool, a few in flight: the copy into the page cache runs beside the
    // decompression and hashing on the main thread.
    const writing: Array<Promise<void>> = [];
    try {
      let pos = 0;
      for await (const chunk of body) {
        const w = writeAt(fd, chunk, pos);
        w.catch(() => undefined); // a failure is seen when it is awaited, never as an unhandled rejection
        writing.push(w);
        pos += chunk.length;
        this.bytes += chunk.length;
        if (writing.length >= MAX_WRITES_IN_FLIGHT) await writing.shift();
      }
      await Promise.all(writing.splice(0));
      fs.fchownSync(fd, e.uid, e.gid);
      fs.fchmodSync(fd, e.mode);
    } finally {
      // A write still running when the fd is closed could land in whatever file reuses the number.
      await Promise.allSettled(writing);
      fs.closeSync(fd);
    }
    await this.xattrs(path.relative(this.root, full), e);
    fs.lutimesSync(full, e.mtime, e.mtime);
  }

  /** Owner, then mode (chown clears setuid), then xattrs (chown clears security.capability), then mtime. */
  private async attributes(rel: string, e: TarEntry): Promise<void> {
    const full = this.full(rel);
    fs.lchownSync(full, e.uid, e.gid);
    if (e.type !== 'symlink') fs.chmodSync(full, e.mode);
    await this.xattrs(rel, e);
    if (e.type !== 'dir') fs.lutimesSync(full, e.mtime, e.mtime);
  }

  private async xattrs(rel: string, e: TarEntry): Promise<void> {
    for (const [name, value] of e.xattrs) {
      if (rel === '') throw escapeError(e.path, 'xattrs on the layer root are not supported');
      await this.meta.setxattr(rel, name, value);
    }
  }

  private async markOpaque(rel: string): Promise<void> {
    await this.meta.setxattr(rel, 'trusted.overlay.opaque', Buffer.from('y'));
    this.opaque.add(rel);
  }

  /**
   * Every ancestor of `rel` must be a real directory in the merged view. Missing ones are made in this layer
   * with the attributes of the lower directory they stand for (0755 root when there is none).
   */
  private async ensureParents(rel: string, what: string): Promise<void> {
    for (const dir of ancestorsOf(rel)) await this.ensureDir(dir, what);
  }

  private async ensureDir(dir: string, what: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    await this.ensureParents(dir, what);
    const full = this.full(dir);
    const here = lstatOrUndefined(full);
    if (here) {
      if (here.isSymbolicLink()) throw escapeError(what, `refused: its parent ${JSON.stringify(dir)} is a symlink in this layer (writing through it could leave the snapshot)`);
      if (!here.isDirectory()) {
        if (!isWhiteout(here)) throw escapeError(what, `its parent ${JSON.stringify(dir)} is not a directory in this layer`);
        // A directory recreated over this layer's own whiteout: opaque, so the lower one stays hidden.
        fs.unlinkSync(full);
        fs.mkdirSync(full, { mode: 0o755 });
        await this.markOpaque(dir);
      }
      this.dirs.add(dir);
      return;
    }
    const lower = this.opaqueAbove(dir) ? undefined : lookupLower(this.lowers, dir);
    if (lower?.stat.isSymbolicLink()) {
      throw escapeError(what, `refused: its parent ${JSON.stringify(dir)} is a symlink in a lower layer (writing through it could leave the snapshot)`);
    }
    if (lower && !lower.stat.isDirectory()) throw escapeError(what, `its parent ${JSON.stringify(dir)} is not a directory in a lower layer`);
    fs.mkdirSync(full, { mode: 0o755 });
    if (lower) {
      fs.lchownSync(full, lower.stat.uid, lower.stat.gid);
      fs.chmodSync(full, lower.stat.mode & 0o7777);
      this.dirTimes.set(dir, lower.stat.mtimeMs / 1000);
    }
    this.dirs.add(dir);
  }

  /** True when this layer made `dir` or one of its ancestors opaque: lower layers do not show there. */
  private opaqueAbove(dir: string): boolean {
    return this.opaque.has('') || this.opaque.has(dir) || ancestorsOf(dir).some((d) => this.opaque.has(d));
  }

  private hardlinkTarget(e: TarEntry): string {
    const target = normalizeEntryPath(e.linkpath, `${e.path} -> ${e.linkpath}`);
    if (target === '') throw escapeError(e.path, 'hardlink to the layer root');
    for (const dir of ancestorsOf(target)) {
      const st = lstatOrUndefined(this.full(dir));
      if (!st || !st.isDirectory()) {
        throw escapeError(e.path, `hardlink target ${JSON.stringify(e.linkpath)} is not inside this layer (${JSON.stringify(dir)} is ${st ? (st.isSymbolicLink() ? 'a symlink' : 'not a directory') : 'missing'})`);
      }
    }
    const st = lstatOrUndefined(this.full(target));
    if (!st) throw escapeError(e.path, `hardlink target ${JSON.stringify(e.linkpath)} is not an earlier entry of this layer`);
    if (st.isDirectory()) throw escapeError(e.path, `hardlink target ${JSON.stringify(e.linkpath)} is a directory`);
    if (isWhiteout(st)) throw escapeError(e.path, `hardlink target ${JSON.stringify(e.linkpath)} is a whiteout`);
    return target;
  }

  /** Directory mtimes last, deepest first: creating entries inside a directory changes its mtime. */
  finishDirectories(): void {
    const dirs = [...this.dirTimes.entries()].sort((x, y) => y[0].split('/').length - x[0].split('/').length);
    for (const [rel, mtime] of dirs) {
      const full = this.full(rel);
      const st = lstatOrUndefined(full);
      if (st?.isDirectory()) fs.lutimesSync(full, mtime, mtime);
    }
  }
}

async function writeAt(fd: number, chunk: Buffer, pos: number): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    const n = await new Promise<number>((resolve, reject) => fs.write(fd, chunk, off, chunk.length - off, pos + off, (err, written) => (err ? reject(err) : resolve(written))));
    off += n;
  }
}

export function applyError(err: unknown, root: string, what: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof BerthError) return err;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    return new BerthError('ResourceExhausted', `no space left under ${root} while unpacking ${what} (${e.code})`, { cause: err });
  }
  return err;
}
