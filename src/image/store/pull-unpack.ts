/**
 * One pull: blobs download in parallel (pull.ts, into the content store, each verified while it streams)
 * while layers are unpacked in order beside them, as they stream: layer n is applied as soon as layer n-1 is
 * written and its own blob has begun to arrive, following the blob as it is written (the newest few MiB
 * straight from memory, older bytes from its temp file: no layer is held in memory). Its diffID is checked
 * at the end; its snapshot commits only after its blob's digest verdict and layer n-1's commit (the
 * snapshotter puts committed layers on disk in one batch, after the pull). Any failure aborts the rest;
 * nothing unverified is committed.
 */
import { BerthError } from '../../common/errors';
import type { PullEvent } from '../types';
import type { ContentStore } from '../content/store';
import type { Digest } from '../digest';
import { chainIds, parseImageConfig, type ImageConfigInfo } from '../images/config';
import { pull, type ImageRecord as PulledImage } from '../pull';
import type { RegistryClient } from '../registry/client';
import type { RegistryAuth } from '../registry/config';
import type { Descriptor, ImageManifest } from '../registry/manifest';
import { applyError, applyLayerUnsynced, type AppliedLayer } from '../snapshot/applier';
import type { LowerLayer } from '../snapshot/lower-view';
import type { Snapshotter, StagedSnapshot } from '../snapshot/snapshotter';
import { decompressLayer } from '../unpack/decompress';
import { readTar } from '../unpack/tar';

export interface PullUnpackOptions {
  auth?: RegistryAuth;
  concurrency: number;
  onProgress?: (e: PullEvent) => void;
  signal?: AbortSignal;
}

export interface PulledAndUnpacked {
  pulled: PulledImage;
  config: ImageConfigInfo;
  chainId?: Digest;
}

class Deferred<T> {
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  readonly promise = new Promise<T>((res, rej) => ((this.resolve = res), (this.reject = rej)));
  constructor() {
    this.promise.catch(() => undefined);
  }
}

export async function pullAndUnpack(client: RegistryClient, content: ContentStore, snapshots: Snapshotter, reference: string, o: PullUnpackOptions): Promise<PulledAndUnpacked> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const manifest = new Deferred<ImageManifest>();
  const blobs = new Map<string, { started: Deferred<void>; downloaded: Deferred<void> }>();
  const blob = (d: string) => {
    let x = blobs.get(d);
    if (!x) blobs.set(d, (x = { started: new Deferred<void>(), downloaded: new Deferred<void>() }));
    return x;
  };
  const pulling = pull(client, content, reference, {
    auth: o.auth,
    concurrency: o.concurrency,
    signal: controller.signal,
    onManifest: (m) => manifest.resolve(m),
    onStarted: (d) => blob(d).started.resolve(),
    onProgress: (p) => {
      o.onProgress?.({ digest: p.digest, kind: p.kind, bytes: p.bytes, size: p.size, phase: p.done ? 'downloaded' : 'downloading' });
      if (p.done) {
        blob(p.digest).started.resolve();
        blob(p.digest).downloaded.resolve();
      }
    },
  });
  // Every staged snapshot, so that a failure waits for their commits or clean-ups before it is reported.
  const staged: StagedSnapshot[] = [];
  const unpacking = (async () => {
    const m = await manifest.promise;
    await blob(m.config.digest).downloaded.promise;
    const config = parseImageConfig(content.readBuffer(m.config.digest), `image config ${m.config.digest}`);
    if (config.diffIds.length !== m.layers.length) {
      throw new BerthError('InvalidArgument', `image config ${m.config.digest}: rootfs.diff_ids has ${config.diffIds.length} entries but the manifest has ${m.layers.length} layers`, { field: 'rootfs.diff_ids' });
    }
    const chains = chainIds(config.diffIds);
    let below: StagedSnapshot | undefined;
    for (let i = 0; i < m.layers.length; i++) {
      const desc = m.layers[i];
      const b = blob(desc.digest);
      // Layer i is written as soon as layer i-1 is (not yet committed: its blob may still be arriving) and its
      // blob has begun to arrive; it commits once its blob's digest checked out and layer i-1 is committed.
      if (!snapshots.get(chains[i])) await b.started.promise;
      const s: StagedSnapshot = await snapshots.stage(chains[i], below, config.diffIds[i],
        (fsDir, lowers) => unpackOne(content, desc, i, config.diffIds[i], fsDir, lowers, b.downloaded.promise), b.downloaded.promise);
      staged.push(s);
      s.committed.then(() => o.onProgress?.({ digest: desc.digest, kind: 'layer', bytes: desc.size, size: desc.size, phase: 'unpacked' }), () => undefined);
      below = s;
    }
    if (below) await below.committed;
    return { config, chainId: chains[chains.length - 1] };
  })();
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failure === undefined) failure = err;
    controller.abort(err);
    manifest.reject(err);
    for (const x of blobs.values()) {
      x.started.reject(err);
      x.downloaded.reject(err);
    }
  };
  // A failed download must stop unpacking, and a refused layer must stop the downloads.
  const [pulled, unpacked] = await Promise.all([pulling.catch((e) => fail(e)), unpacking.catch((e) => fail(e))]).finally(() => o.signal?.removeEventListener('abort', onAbort));
  if (failure !== undefined) {
    // Layers already verified still commit (a retry reuses them); the rest remove their temp directories.
    await Promise.allSettled(staged.map((s) => s.committed));
    throw failure;
  }
  return { pulled: pulled as PulledImage, config: unpacked!.config, chainId: unpacked!.chainId };
}

/**
 * Unpacks one layer from its blob: followed while it downloads (the ingest verifies the compressed digest;
 * the snapshot commits only after that verdict), or read from the store when it is already there. The
 * uncompressed bytes must hash to the config's diffID.
 */
async function unpackOne(content: ContentStore, desc: Descriptor, index: number, diffId: Digest, fsDir: string, lowers: LowerLayer[], downloaded: Promise<void>): Promise<AppliedLayer> {
  const what = `layer ${index} (${desc.digest})`;
  const source = content.follow(desc.digest);
  let compressed = 0;
  const counted = (async function* () {
    for await (const c of source.chunks) {
      compressed += c.length;
      yield c;
    }
  })();
  // Not hashed again here: a followed blob is verified by its running ingest (and nothing commits before that
  // verdict), a stored one was verified on its way into the store.
  const layer = decompressLayer(counted, desc, what, { verify: false });
  try {
    const applied = await applyLayerUnsynced(readTar(layer.chunks), fsDir, lowers);
    const got = layer.diffId();
    if (got !== diffId) {
      applied.abort();
      throw new BerthError('InvalidArgument', `${what}: diffID mismatch: the image config says ${diffId}, the uncompressed layer is ${got}`, { field: 'rootfs.diff_ids' });
    }
    return applied;
  } catch (err) {
    // Bytes that fail the digest check usually fail the unpacking first: when the whole blob is in, the
    // download's verdict is imminent and says what really went wrong.
    if (source.followed && compressed >= desc.size) await downloaded;
    throw applyError(err, fsDir, what);
  } finally {
    await layer.close();
  }
}
