/**
 * Committed layers as overlayfs lower directories, keyed by chain ID:
 *
 *   snapshots/<n>/fs          the layer's files, whiteouts as char 0/0, opaque dirs marked by xattr
 *   snapshots/<n>/meta.json   {chainId, parent, diffId, opaque, …}
 *   snapshots/.tmp-<random>/  a snapshot being built (or being deleted)
 *
 * `<n>` is a small number, not the chain ID, to keep overlay's lowerdir option short. A snapshot is built in a
 * temp directory, synced, given its meta.json and renamed into place: one that has a number is complete.
 * Removal renames it back to a temp name first, so it disappears at once. Temp directories are removed
 * when the snapshotter is opened.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, syncDir, writeFileAtomic } from '../../common/atomic';
import { BerthError } from '../../common/errors';
import type { Digest } from '../digest';
import type { ApplyResult } from './applier';
import type { LowerLayer } from './lower-view';

export interface SnapshotRecord {
  id: number;
  chainId: Digest;
  parent?: Digest;
  diffId: Digest;
  opaque: string[];
  entries: number;
  bytes: number;
  createdAt: string;
}

export type SnapshotBuilder = (fsDir: string, lowers: LowerLayer[]) => Promise<ApplyResult>;

const TMP = '.tmp-';

export class Snapshotter {
  private readonly byChain = new Map<string, SnapshotRecord>();
  private readonly building = new Map<string, Promise<SnapshotRecord>>();
  private nextId = 1;

  private constructor(readonly dir: string) {}

  /** Opens (creating) the snapshot directory; removes what a crash left half-built or half-deleted. */
  static open(dir: string): Snapshotter {
    const s = new Snapshotter(dir);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name);
      if (!/^[0-9]+$/.test(name)) {
        fs.rmSync(full, { recursive: true, force: true });
        continue;
      }
      const rec = readJsonFile<SnapshotRecord>(path.join(full, 'meta.json'));
      s.byChain.set(rec.chainId, rec);
      s.nextId = Math.max(s.nextId, rec.id + 1);
    }
    syncDir(dir);
    return s;
  }

  get(chainId: string): SnapshotRecord | undefined {
    return this.byChain.get(chainId);
  }

  list(): SnapshotRecord[] {
    return [...this.byChain.values()];
  }

  fsDir(rec: Pick<SnapshotRecord, 'id'>): string {
    return path.join(this.dir, String(rec.id), 'fs');
  }

  /** The snapshot and its parents, top first. */
  chain(chainId: string): SnapshotRecord[] {
    const out: SnapshotRecord[] = [];
    for (let c: string | undefined = chainId; c !== undefined; ) {
      const rec = this.byChain.get(c);
      if (!rec) throw new BerthError('NotFound', `snapshot ${c} is missing (chain of ${chainId})`);
      out.push(rec);
      c = rec.parent;
    }
    return out;
  }

  lowers(chainId: string | undefined): LowerLayer[] {
    if (chainId === undefined) return [];
    return this.chain(chainId).map((r) => ({ dir: this.fsDir(r), opaque: new Set(r.opaque) }));
  }

  /**
   * The snapshot for `chainId`, built by `build` over the parent's chain when it does not exist yet.
   * Concurrent calls for one chain ID share one build.
   */
  ensure(chainId: Digest, parent: Digest | undefined, diffId: Digest, build: SnapshotBuilder): Promise<SnapshotRecord> {
    const have = this.byChain.get(chainId);
    if (have) return Promise.resolve(have);
    let p = this.building.get(chainId);
    if (!p) {
      p = this.build(chainId, parent, diffId, build).finally(() => this.building.delete(chainId));
      this.building.set(chainId, p);
    }
    return p;
  }

  private async build(chainId: Digest, parent: Digest | undefined, diffId: Digest, build: SnapshotBuilder): Promise<SnapshotRecord> {
    const lowers = this.lowers(parent);
    const tmp = path.join(this.dir, TMP + randomBytes(6).toString('hex'));
    try {
      fs.mkdirSync(path.join(tmp, 'fs'), { recursive: true, mode: 0o755 });
      const res = await build(path.join(tmp, 'fs'), lowers);
      const id = this.nextId++;
      const rec: SnapshotRecord = { id, chainId, parent, diffId, opaque: res.opaque, entries: res.entries, bytes: res.bytes, createdAt: new Date().toISOString() };
      writeFileAtomic(path.join(tmp, 'meta.json'), JSON.stringify(rec, null, 1) + '\n', 0o600);
      fs.renameSync(tmp, path.join(this.dir, String(id)));
      syncDir(this.dir);
      this.byChain.set(chainId, rec);
      return rec;
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes a snapshot (its children must be gone first: the caller's GC removes from the top). */
  remove(chainId: string): boolean {
    const rec = this.byChain.get(chainId);
    if (!rec) return false;
    const tmp = path.join(this.dir, TMP + randomBytes(6).toString('hex'));
    fs.renameSync(path.join(this.dir, String(rec.id)), tmp);
    this.byChain.delete(chainId);
    syncDir(this.dir);
    fs.rmSync(tmp, { recursive: true, force: true });
    return true;
  }

  /** Chain IDs being built right now (never garbage). */
  inProgress(): string[] {
    return [...this.building.keys()];
  }

  /** Temp directories present (tests and health checks). */
  tempDirs(): string[] {
    return fs.readdirSync(this.dir).filter((n) => n.startsWith(TMP));
  }
}
