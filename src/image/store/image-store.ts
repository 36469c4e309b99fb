/**
 * ImageStore: the ImageStoreApi berthd serves. Everything lives under `<root>/image/`:
 *
 *   content/    blobs by digest (content/store.ts)
 *   snapshots/  unpacked layers keyed by chain ID (snapshot/snapshotter.ts)
 *   records/    image names → manifest → config (images/records.ts)
 *   rootfs/     containers' writable layers (snapshot/rootfs.ts)
 *
 * A pull writes its records last, so a crash never leaves a visible partial image; `open` removes what a
 * crash left in temp files and directories, and forgets images whose layers a reboot may have torn (see
 * snapshot/snapshotter.ts). One process owns a root at a time.
 */
import * as path from 'node:path';
import { BerthError, invalid } from '../../common/errors';
import { silentLogger, type Logger } from '../../common/log';
import type { FilesystemUsage, ImageRunConfig, ImageStatus, ImageStoreApi, ImageStoreOptions, ImageSummary, PullRequest, RootfsMount } from '../types';
import { ContentStore } from '../content/store';
import { findImageId, summarize } from '../images/lookup';
import { parseImageConfig, runConfigOf } from '../images/config';
import { RecordStore, type ImageRecord } from '../images/records';
import { parseReference } from '../reference';
import { RegistryClient } from '../registry/client';
import { RootfsStore } from '../snapshot/rootfs';
import { Snapshotter } from '../snapshot/snapshotter';
import { pullAndUnpack } from './pull-unpack';
import { diskUsage } from './usage';

export interface ImageStoreOpenOptions extends ImageStoreOptions {
  logger?: Logger;
  /** A client to use instead of one built from `registries` (tests: fast retries). */
  client?: RegistryClient;
  /** This boot's ID instead of the kernel's (tests: play a reboot, see snapshot/snapshotter.ts). */
  bootId?: string;
}

export class ImageStore implements ImageStoreApi {
  readonly dir: string;
  private readonly pulls = new Map<string, Promise<ImageSummary>>();

  private constructor(
    private readonly options: ImageStoreOpenOptions,
    readonly content: ContentStore,
    readonly snapshots: Snapshotter,
    readonly records: RecordStore,
    readonly rootfs: RootfsStore,
    private readonly client: RegistryClient,
    private readonly log: Logger,
  ) {
    this.dir = path.join(options.root, 'image');
  }

  /** Opens (creating) the store under `<root>/image` and removes temp data a crash left behind. */
  static open(options: ImageStoreOpenOptions): ImageStore {
    if (typeof options.root !== 'string' || !path.isAbsolute(options.root)) throw invalid('root', `must be an absolute path, got ${JSON.stringify(options.root)}`);
    const c = options.maxConcurrentDownloads;
    if (c !== undefined && (!Number.isInteger(c) || c < 1 || c > 64)) throw invalid('maxConcurrentDownloads', `must be an integer from 1 to 64, got ${c}`);
    const dir = path.join(options.root, 'image');
    const log = options.logger ?? silentLogger;
    const client = options.client ?? new RegistryClient({ registries: options.registries, logger: log });
    const snapshots = Snapshotter.open(path.join(dir, 'snapshots'), { bootId: options.bootId });
    const store = new ImageStore(options, ContentStore.open(path.join(dir, 'content')), snapshots,
      RecordStore.open(path.join(dir, 'records')), RootfsStore.open(path.join(dir, 'rootfs')), client, log);
    store.dropIncompleteImages();
    return store;
  }

  /**
   * Images whose layers were dropped at open (committed but not yet synced when the machine went down) are
   * forgotten: kubelet pulls them again, and their blobs are still in the content store.
   */
  private dropIncompleteImages(): void {
    for (const r of this.records.all()) {
      if (r.chainId === undefined) continue;
      try {
        this.snapshots.chain(r.chainId);
      } catch {
        this.records.delete(r.name);
        this.log.warn('image dropped: its layers were not on disk when the machine went down', { image: r.name, id: r.id });
      }
    }
  }

  pull(req: PullRequest): Promise<ImageSummary> {
    let ref;
    try {
      ref = parseReference(req.reference, 'image');
    } catch (err) {
      return Promise.reject(err);
    }
    let p = this.pulls.get(ref.normalized);
    if (!p) {
      p = this.doPull(ref.normalized, req).finally(() => this.pulls.delete(ref.normalized));
      this.pulls.set(ref.normalized, p);
    }
    return p;
  }

  private async doPull(name: string, req: PullRequest): Promise<ImageSummary> {
    const started = Date.now();
    const r = await pullAndUnpack(this.client, this.content, this.snapshots, name, {
      auth: req.auth, concurrency: this.options.maxConcurrentDownloads ?? 3, onProgress: req.onProgress, signal: req.signal,
    });
    const base = {
      target: r.pulled.digest, manifest: r.pulled.manifestDigest, id: r.pulled.id,
      layers: r.pulled.layers.map((l) => l.digest), diffIds: r.config.diffIds, chainId: r.chainId,
      size: r.pulled.size, user: r.config.user, createdAt: new Date().toISOString(),
    };
    const ref = r.pulled.reference;
    const names = [ref.normalized, `${ref.name}@${r.pulled.digest}`];
    for (const n of new Set(names)) {
      const pinned = this.records.get(n)?.pinned ?? false;
      this.records.put({ name: n, ...base, pinned });
    }
    this.log.info('image pulled', { image: name, id: r.pulled.id, ms: Date.now() - started });
    // The layers go to disk in the background; a container is only ever set up on synced layers.
    this.snapshots.flush().catch((err: unknown) => this.log.error('syncing snapshots failed', { error: String(err) }));
    return summarize(this.records.all(), r.pulled.id)!;
  }

  list(filter?: string): ImageSummary[] {
    const all = this.records.all();
    if (filter !== undefined && filter !== '') {
      const id = findImageId(all, filter);
      return id ? [summarize(all, id)!] : [];
    }
    return [...new Set(all.map((r) => r.id))].sort().map((id) => summarize(all, id)!);
  }

  status(reference: string, verbose = false): ImageStatus | undefined {
    const all = this.records.all();
    const id = findImageId(all, reference);
    if (!id) return undefined;
    const image = summarize(all, id)!;
    const info: Record<string, string> = {};
    if (verbose) {
      const rec = all.find((r) => r.id === id)!;
      let config: unknown;
      try {
        config = JSON.parse(this.content.readBuffer(id).toString('utf8'));
      } catch {
        config = null;
      }
      info.info = JSON.stringify({ id, manifest: rec.manifest, layers: rec.layers, diffIds: rec.diffIds, chainId: rec.chainId, imageSpec: config });
    }
    return { image, info };
  }

  runConfig(reference: string): ImageRunConfig | undefined {
    const id = findImageId(this.records.all(), reference);
    if (!id) return undefined;
    return runConfigOf(id, parseImageConfig(this.content.readBuffer(id), `image config ${id}`).raw);
  }

  async remove(reference: string): Promise<void> {
    const id = findImageId(this.records.all(), reference);
    if (!id) return;
    for (const r of this.records.all()) if (r.id === id) this.records.delete(r.name);
    await this.gc();
  }

  fsInfo(): FilesystemUsage[] {
    const u = diskUsage(this.dir);
    return [{ mountpoint: this.dir, usedBytes: u.bytes, inodesUsed: u.inodes, timestamp: BigInt(Date.now()) * 1_000_000n }];
  }

  /**
   * Removes blobs and snapshots that no image record and no container rootfs needs. Waits for running pulls
   * first; the deletions themselves are synchronous, so no pull can start in between.
   */
  async gc(): Promise<{ blobs: number; snapshots: number }> {
    while (this.pulls.size > 0) await Promise.allSettled([...this.pulls.values()]);
    const keepBlobs = new Set<string>();
    const keepChains = new Set<string>();
    const keepChain = (chainId: string | undefined) => {
      for (let c = chainId; c !== undefined && !keepChains.has(c); c = this.snapshots.get(c)?.parent) keepChains.add(c);
    };
    for (const r of this.records.all()) {
      for (const d of [r.target, r.manifest, r.id, ...r.layers]) keepBlobs.add(d);
      keepChain(r.chainId);
    }
    for (const c of this.rootfs.list()) keepChain(c.chainId);
    let snapshots = 0;
    // Children before parents: a snapshot is never left without its lower layers.
    const doomed = this.snapshots.list().filter((s) => !keepChains.has(s.chainId)).sort((a, b) => b.id - a.id);
    for (const s of doomed) if (this.snapshots.remove(s.chainId)) snapshots++;
    const blobs = this.content.gc(keepBlobs).length;
    if (blobs || snapshots) this.log.info('image gc', { blobs, snapshots });
    return { blobs, snapshots };
  }

  async prepareRootfs(imageId: string, key: string): Promise<RootfsMount> {
    RootfsStore.checkKey(key);
    const all = this.records.all();
    const id = findImageId(all, imageId);
    if (!id) throw new BerthError('NotFound', `image ${JSON.stringify(imageId)} not found`);
    const rec = all.find((r) => r.id === id) as ImageRecord;
    if (rec.chainId === undefined) throw new BerthError('FailedPrecondition', `image ${id} has no layers: nothing to mount`);
    const existing = this.rootfs.get(key);
    if (existing && existing.imageId !== id) throw new BerthError('AlreadyExists', `rootfs ${key} already exists for image ${existing.imageId}`);
    await this.snapshots.synced(rec.chainId);
    if (!existing) this.rootfs.create(key, id, rec.chainId);
    return { lowerdirs: this.snapshots.chain(rec.chainId).map((s) => this.snapshots.fsDir(s)), ...this.rootfs.paths(key) };
  }

  async removeRootfs(key: string): Promise<void> {
    this.rootfs.remove(key);
  }

  /** Waits for layers still being synced (so that a clean stop leaves nothing to settle at the next open). */
  async close(): Promise<void> {
    if (!this.options.client) this.client.close();
    await this.snapshots.flush().catch((err: unknown) => this.log.error('syncing snapshots failed', { error: String(err) }));
  }
}
