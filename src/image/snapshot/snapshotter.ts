/**
 * Committed layers as overlayfs lower directories, keyed by chain ID:
 *
 *   snapshots/<n>/fs          the layer's files, whiteouts as char 0/0, opaque dirs marked by xattr
 *   snapshots/<n>/meta.json   {chainId, parent, diffId, opaque, …}
 *   snapshots/.tmp-<random>/  a snapshot being built (or being deleted)
 *   snapshots/.unsynced       {bootId, fromId}: snapshots numbered fromId and up may not be on disk yet
 *
 * `<n>` is a small number, not the chain ID, to keep overlay's lowerdir option short. A snapshot is built in a
 * temp directory, given its meta.json and renamed into place: one that has a number is complete. The next
 * layer may be built over one still in its temp directory (`stage`); commits go parent first.
 *
 * Durability is batched, off the pull's critical path: commits do not wait for the disk. Before the first
 * commit that is not on disk, `.unsynced` is written (and fsynced) naming its number; `flush()` runs one
 * syncfs for everything committed so far, in the background, and removes the marker once nothing newer
 * came in. A process killed in between leaves the marker: the next open in the same boot syncs (the data
 * is in the page cache), while after a reboot the snapshots it names are dropped, since a power loss may
 * have torn them (their blobs are in the content store, and the images are pulled again).
 * Removal renames a snapshot back to a temp name first, so it disappears at once. Temp directories are
 * removed when the snapshotter is opened.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readJsonFile, syncDir } from '../../common/atomic';
import { BerthError } from '../../common/errors';
import type { Digest } from '../digest';
import type { ApplyResult, AppliedLayer } from './applier';
import { LayerMeta, layerMetaBinary } from './layer-meta';
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
/** Writes a layer into `fsDir` over `lowers`. */
export type StagedBuilder = (fsDir: string, lowers: LowerLayer[]) => Promise<AppliedLayer>;

export interface SnapshotterOptions {
  /** This boot's ID (default: /proc/sys/kernel/random/boot_id); tests pass another to play a reboot. */
  bootId?: string;
}

/** `.unsynced`: snapshots numbered `fromId` and up were committed in boot `bootId` and may not be on disk. */
interface UnsyncedMarker {
  bootId: string;
  fromId: number;
}

/** A snapshot whose files are written: children can be built over `view` before it is committed. */
export interface StagedSnapshot {
  chainId: Digest;
  /** This layer and its parents, top first, as lower layers for a child. */
  view: LowerLayer[];
  /** Resolves once the snapshot is committed under its number (on disk after the next `flush()`). */
  committed: Promise<SnapshotRecord>;
}

const TMP = '.tmp-';
const MARKER = '.unsynced';

export class Snapshotter {
  private readonly byChain = new Map<string, SnapshotRecord>();
  /** Builds running, from their start to their commit (or failure). */
  private readonly building = new Map<string, Promise<StagedSnapshot>>();
  private nextId = 1;
  /** Set while `.unsynced` is on disk (or being written) for the snapshots committed since the last flush. */
  private marker: Promise<void> | undefined;
  private round: Promise<void> | undefined;
  /** Snapshots numbered below this are on disk. */
  private syncedBelow = 1;
  /** Chain IDs dropped at open because a reboot may have torn them. */
  readonly lost: string[] = [];

  private constructor(readonly dir: string, private readonly bootId: string) {}

  /**
   * Opens (creating) the snapshot directory; removes what a crash left half-built or half-deleted, and settles
   * what a crash left unsynced (see the file comment).
   */
  static open(dir: string, options: SnapshotterOptions = {}): Snapshotter {
    const s = new Snapshotter(dir, options.bootId ?? currentBootId());
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name);
      if (name === MARKER) continue;
      if (!/^[0-9]+$/.test(name)) {
        fs.rmSync(full, { recursive: true, force: true });
        continue;
      }
      const rec = readJsonFile<SnapshotRecord>(path.join(full, 'meta.json'));
      s.byChain.set(rec.chainId, rec);
      s.nextId = Math.max(s.nextId, rec.id + 1);
    }
    s.settleUnsynced();
    s.syncedBelow = s.nextId;
    syncDir(dir);
    return s;
  }

  private settleUnsynced(): void {
    const file = path.join(this.dir, MARKER);
    let marker: UnsyncedMarker;
    try {
      marker = readJsonFile<UnsyncedMarker>(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      // Torn: the crash came while it was written, before the fsync that every commit it covers waits for.
      marker = { bootId: this.bootId, fromId: this.nextId };
    }
    if (marker.bootId === this.bootId) {
      syncfsNow(this.dir);
    } else {
      // Children have higher numbers than their parents: removing from the top never orphans one.
      const doomed = [...this.byChain.values()].filter((r) => !(r.id < marker.fromId)).sort((a, b) => b.id - a.id);
      for (const r of doomed) {
        this.remove(r.chainId);
        this.lost.push(r.chainId);
      }
    }
    fs.rmSync(file, { force: true });
  }

  /** Puts every snapshot committed so far on disk; resolves once nothing is left unsynced. */
  async flush(): Promise<void> {
    while (this.marker) await this.syncRound();
  }

  /**
   * Resolves once `chainId` and its parents are on disk (at once when they are): rounds that a concurrent
   * pull keeps going for its own new layers are not waited for.
   */
  async synced(chainId: string): Promise<void> {
    const top = this.byChain.get(chainId)?.id; // a child's number is above its parents'
    while (top !== undefined && top >= this.syncedBelow) await this.syncRound();
  }

  /**
   * One syncfs, joined if one is running: everything committed before it started is on disk when it ends.
   * The marker goes when no commit came in meanwhile.
   */
  private syncRound(): Promise<void> {
    this.round ??= (async () => {
      try {
        await this.marker;
        const upTo = this.nextId;
        await syncfs(this.dir);
        this.syncedBelow = Math.max(this.syncedBelow, upTo);
        if (this.nextId === upTo) {
          // Not fsynced: a marker that survives a power loss only drops snapshots that were safe.
          fs.rmSync(path.join(this.dir, MARKER), { force: true });
          this.marker = undefined;
        }
      } finally {
        this.round = undefined;
      }
    })();
    return this.round;
  }

  /** The marker on disk before any commit it covers (commits number upwards from `nextId`). */
  private unsynced(): Promise<void> {
    if (!this.marker) {
      const m = writeDurable(path.join(this.dir, MARKER), JSON.stringify({ bootId: this.bootId, fromId: this.nextId } satisfies UnsyncedMarker) + '\n');
      m.catch(() => {
        if (this.marker === m) this.marker = undefined; // the next commit tries again
      });
      this.marker = m;
    }
    return this.marker;
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
   * yet. Concurrent calls for one chain ID share one build.
   */
  async ensure(chainId: Digest, parent: Digest | undefined, diffId: Digest, build: SnapshotBuilder): Promise<SnapshotRecord> {
    const have = this.byChain.get(chainId);
    if (have) return have;
    const below = parent === undefined ? undefined : this.committedView(this.chain(parent)[0]);
    const staged = await this.stage(chainId, below, diffId, async (dir, lowers) => {
      const result = await build(dir, lowers);
      return { result, sync: () => Promise.resolve(), close: () => Promise.resolve(), abort: () => undefined };
    });
    return staged.committed;
  }

  /**
   * Builds the snapshot for `chainId` over `parent` (which may itself be staged, not yet committed) and
   * returns once its files are written, so that a child can be built over it at once. The commit follows
   * on its own: after the parent's commit and `verified` (the blob's digest check) succeed, meta.json is
   * written and the directory renamed to its number; if either fails, the temp directory is removed and
   * `committed` rejects (and so do the children's). Children commit after their parents.
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
      const waits = await Promise.allSettled([applied.close(), parent?.committed, verified]);
      const failed = waits.find((w): w is PromiseRejectedResult => w.status === 'rejected');
      try {
        if (failed) throw failed.reason;
        // A flush may finish (and drop the marker) while this waits for it: wait until one is in place.
        for (let m = this.unsynced(); ; m = this.unsynced()) {
          await m;
          if (this.marker === m) break;
        }
        // From here to the rename nothing awaits, so a flush that starts later covers this commit.
        const res = applied.result;
        const id = this.nextId++;
        const rec: SnapshotRecord = { id, chainId, parent: parent?.chainId, diffId, opaque: res.opaque, entries: res.entries, bytes: res.bytes, createdAt: new Date().toISOString() };
        fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(rec, null, 1) + '\n', { mode: 0o600, flag: 'wx' });
        fs.renameSync(tmp, path.join(this.dir, String(id)));
        own.dir = this.fsDir(rec);
        this.byChain.set(chainId, rec);
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

/** Writes `file` and fsyncs it and its directory, in the thread pool. */
async function writeDurable(file: string, data: string): Promise<void> {
  const fh = await fs.promises.open(file, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function currentBootId(): string {
  return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}

/** syncfs(2) of the filesystem holding `dir`, by berth-layer-meta (Node has no binding for it). */
async function syncfs(dir: string): Promise<void> {
  const meta = new LayerMeta(dir);
  try {
    await meta.syncfs();
    await meta.close();
  } finally {
    meta.kill();
  }
}

function syncfsNow(dir: string): void {
  const r = spawnSync(layerMetaBinary(), [dir], { input: 'syncfs\0', encoding: 'utf8' });
  if (r.error || r.status !== 0 || r.stdout.trim() !== 'ok') {
    throw new BerthError('Internal', `syncfs of ${dir} failed: ${r.error?.message ?? (r.stdout.trim() || r.stderr.trim() || `exit ${r.status}`)}`);
  }
}
