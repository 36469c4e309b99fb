/**
 * Committed layers as overlayfs lower directories, keyed by chain ID:
 *
 *   snapshots/<n>/fs          the layer's files, whiteouts as char 0/0, opaque dirs marked by xattr
 *   snapshots/<n>/meta.json   {chainId, parent, diffId, opaque, …}
 *   snapshots/.tmp-<random>/  a snapshot being built (or being deleted)
 *
 * `<n>` is a small number, not the chain ID, to keep overlay's lowerdir option short. A snapshot is built in a
 * temp directory, synced, given its meta.json and renamed into place: one that has a number is complete.
 * The next layer may be built over one still in its temp directory (`stage`), so that syncing one layer
 * overlaps writing the next; commits still go parent first.
 * Removal renames it back to a temp name first, so it disappears at once. Temp directories are removed
 * when the snapshotter is opened.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, syncDir } from '../../common/atomic';
import { BerthError } from '../../common/errors';
import type { Digest } from '../digest';
import type { ApplyResult, AppliedLayer } from './applier';
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
/** Writes a layer into `fsDir` over `lowers`; its `sync()` makes it durable. */
export type StagedBuilder = (fsDir: string, lowers: LowerLayer[]) => Promise<AppliedLayer>;

/** A snapshot whose files are written: children can be built over `view` before it is committed. */
export interface StagedSnapshot {
  chainId: Digest;
  /** This layer and its parents, top first, as lower layers for a child. */
  view: LowerLayer[];
  /** Resolves once the snapshot is durable and committed under its number. */
  committed: Promise<SnapshotRecord>;
}

const TMP = '.tmp-';

export class Snapshotter {
  private readonly byChain = new Map<string, SnapshotRecord>();
  /** Builds running, from their start to their commit (or failure). */
  private readonly building = new Map<string, Promise<StagedSnapshot>>();
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
   * The snapshot for `chainId`, built by `build` over the parent's (committed) chain when it does not exist
   * yet; `build` returns once its files are durable. Concurrent calls for one chain ID share one build.
   */
  async ensure(chainId: Digest, parent: Digest | undefined, diffId: Digest, build: SnapshotBuilder): Promise<SnapshotRecord> {
    const have = this.byChain.get(chainId);
    if (have) return have;
    const below = parent === undefined ? undefined : this.committedView(this.chain(parent)[0]);
    const staged = await this.stage(chainId, below, diffId, async (dir, lowers) => {
      const result = await build(dir, lowers);
      return { result, sync: () => Promise.resolve(), abort: () => undefined };
    });
    return staged.committed;
  }

  /**
   * Builds the snapshot for `chainId` over `parent` (which may itself be staged, not yet committed) and
   * returns once its files are written, so that a child can be built over it at once. The commit follows
   * on its own: after the layer's sync, the parent's commit and `verified` (the blob's digest check) all
   * succeed, meta.json is written and the directory renamed to its number; if any fails, the temp directory
   * is removed and `committed` rejects (and so do the children's). Children commit after their parents.
   * Concurrent calls for one chain ID share one build.
   */
  stage(chainId: Digest, parent: StagedSnapshot | undefined, diffId: Digest, build: StagedBuilder, verified?: Promise<unknown>): Promise<StagedSnapshot> {
    const have = this.byChain.get(chainId);
    if (have) return Promise.resolve(this.committedView(have));
    let p = this.building.get(chainId);
    if (!p) {
      p = this.doStage(chainId, parent, diffId, build, verified);
      this.building.set(chainId, p);
      p.then((s) => s.committed, () => undefined).finally(() => this.building.delete(chainId)).catch(() => undefined);
    }
    return p;
  }

  private committedView(rec: SnapshotRecord): StagedSnapshot {
    return { chainId: rec.chainId, view: this.lowers(rec.chainId), committed: Promise.resolve(rec) };
  }

  private async doStage(chainId: Digest, parent: StagedSnapshot | undefined, diffId: Digest, build: StagedBuilder, verified?: Promise<unknown>): Promise<StagedSnapshot> {
    const lowers = parent?.view ?? [];
    const tmp = path.join(this.dir, TMP + randomBytes(6).toString('hex'));
    const fsDir = path.join(tmp, 'fs');
    let applied: AppliedLayer;
    try {
      fs.mkdirSync(fsDir, { recursive: true, mode: 0o755 });
      applied = await build(fsDir, lowers);
    } catch (err) {
      fs.rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    // Children see this layer at its temp path until the commit renames it; the rename updates `dir` in the
    // same tick, so no lookup ever sees a stale path.
    const own: LowerLayer = { dir: fsDir, opaque: new Set(applied.result.opaque) };
    const committed = (async () => {
      const waits = await Promise.allSettled([applied.sync(), parent?.committed, verified]);
      const failed = waits.find((w): w is PromiseRejectedResult => w.status === 'rejected');
      try {
        if (failed) throw failed.reason;
        const res = applied.result;
        const id = this.nextId++;
        const rec: SnapshotRecord = { id, chainId, parent: parent?.chainId, diffId, opaque: res.opaque, entries: res.entries, bytes: res.bytes, createdAt: new Date().toISOString() };
        // The fsyncs run in the thread pool: the main thread is unpacking the next layer meanwhile.
        await writeDurable(path.join(tmp, 'meta.json'), JSON.stringify(rec, null, 1) + '\n');
        fs.renameSync(tmp, path.join(this.dir, String(id)));
        own.dir = this.fsDir(rec);
        this.byChain.set(chainId, rec);
        await syncDirAsync(this.dir);
        return rec;
      } catch (err) {
        applied.abort();
        fs.rmSync(tmp, { recursive: true, force: true });
        throw err;
      }
    })();
    committed.catch(() => undefined);
    return { chainId, view: [own, ...lowers], committed };
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

/** meta.json of a snapshot in its temp directory (renamed with it): written and fsynced off the main thread. */
async function writeDurable(file: string, data: string): Promise<void> {
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDirAsync(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
