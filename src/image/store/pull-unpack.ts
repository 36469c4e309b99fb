/**
 * One pull: blobs download in parallel (pull.ts, into the content store, each verified while it streams)
 * while layers are unpacked in order beside them: layer n is applied as soon as its blob is verified and
 * layer n-1's snapshot is committed. A layer is read back from the store (its digest checked again on the
 * way), decompressed, its diffID checked against the config before the snapshot is committed. Any failure
 * aborts the rest; nothing partial is committed.
 */
import { BerthError } from '../../common/errors';
import type { PullEvent } from '../api';
import type { ContentStore } from '../content/store';
import type { Digest } from '../digest';
import { chainIds, parseImageConfig, type ImageConfigInfo } from '../images/config';
import { pull, type ImageRecord as PulledImage } from '../pull';
import type { RegistryClient } from '../registry/client';
import type { RegistryAuth } from '../registry/config';
import type { Descriptor, ImageManifest } from '../registry/manifest';
import { applyError, applyLayer } from '../snapshot/applier';
import type { Snapshotter } from '../snapshot/snapshotter';
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
  const downloaded = new Map<string, Deferred<void>>();
  const done = (d: string) => {
    let x = downloaded.get(d);
    if (!x) downloaded.set(d, (x = new Deferred<void>()));
    return x;
  };
  const pulling = pull(client, content, reference, {
    auth: o.auth,
    concurrency: o.concurrency,
    signal: controller.signal,
    onManifest: (m) => manifest.resolve(m),
    onProgress: (p) => {
      o.onProgress?.({ digest: p.digest, kind: p.kind, bytes: p.bytes, size: p.size, phase: p.done ? 'downloaded' : 'downloading' });
      if (p.done) done(p.digest).resolve();
    },
  });
  const unpacking = (async () => {
    const m = await manifest.promise;
    await done(m.config.digest).promise;
    const config = parseImageConfig(content.readBuffer(m.config.digest), `image config ${m.config.digest}`);
    if (config.diffIds.length !== m.layers.length) {
      throw new BerthError('InvalidArgument', `image config ${m.config.digest}: rootfs.diff_ids has ${config.diffIds.length} entries but the manifest has ${m.layers.length} layers`, { field: 'rootfs.diff_ids' });
    }
    const chains = chainIds(config.diffIds);
    for (let i = 0; i < m.layers.length; i++) {
      const desc = m.layers[i];
      const have = snapshots.get(chains[i]);
      if (!have) {
        await done(desc.digest).promise;
        await snapshots.ensure(chains[i], chains[i - 1], config.diffIds[i], (fsDir, lowers) => unpackOne(content, desc, i, config.diffIds[i], fsDir, lowers));
      }
      o.onProgress?.({ digest: desc.digest, kind: 'layer', bytes: desc.size, size: desc.size, phase: 'unpacked' });
    }
    return { config, chainId: chains[chains.length - 1] };
  })();
  let failure: unknown;
  const fail = (err: unknown) => {
    if (failure === undefined) failure = err;
    controller.abort(err);
    manifest.reject(err);
    for (const d of downloaded.values()) d.reject(err);
  };
  // A failed download must stop unpacking, and a refused layer must stop the downloads.
  const [pulled, unpacked] = await Promise.all([pulling.catch((e) => fail(e)), unpacking.catch((e) => fail(e))]).finally(() => o.signal?.removeEventListener('abort', onAbort));
  if (failure !== undefined) throw failure;
  return { pulled: pulled as PulledImage, config: unpacked!.config, chainId: unpacked!.chainId };
}

async function unpackOne(content: ContentStore, desc: Descriptor, index: number, diffId: Digest, fsDir: string, lowers: Parameters<typeof applyLayer>[2]) {
  const what = `layer ${index} (${desc.digest})`;
  const layer = decompressLayer(content.read(desc.digest), desc, what);
  try {
    const res = await applyLayer(readTar(layer.chunks), fsDir, lowers);
    const got = layer.diffId();
    if (got !== diffId) {
      throw new BerthError('InvalidArgument', `${what}: diffID mismatch: the image config says ${diffId}, the uncompressed layer is ${got}`, { field: 'rootfs.diff_ids' });
    }
    return res;
  } catch (err) {
    throw applyError(err, fsDir, what);
  } finally {
    await layer.close();
  }
}
