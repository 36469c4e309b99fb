/**
 * pull(reference): resolve the manifest for this node's platform, then fetch the config and the layers
 * (in parallel, default 3 at a time) into the content store, each verified while it streams. The manifest
 * (and index) go into the store last, so a manifest present in the store means its image is complete.
 * Unpacking into snapshots is a separate step.
 */
import { BerthError } from '../common/errors';
import type { ContentStore } from './content/store';
import type { Digest } from './digest';
import { parseReference, type ImageReference } from './reference';
import type { RegistryClient } from './registry/client';
import type { RegistryAuth } from './registry/config';
import { hostPlatform, type Descriptor, type ImageManifest, type Platform } from './registry/manifest';

export interface PullProgress {
  digest: Digest;
  kind: 'config' | 'layer';
  bytes: number;
  size: number;
  done: boolean;
}

export interface PullOptions {
  auth?: RegistryAuth;
  platform?: Platform;
  /** Blobs fetched at once. Default 3. */
  concurrency?: number;
  onProgress?: (p: PullProgress) => void;
  /** Called once the platform manifest is known, before any blob is fetched (lets unpacking follow downloads). */
  onManifest?: (manifest: ImageManifest) => void;
  /** Called when a blob's ingest has begun (or found the blob stored): from then on the store can follow it. */
  onStarted?: (digest: Digest) => void;
  signal?: AbortSignal;
}

export interface ImageRecord {
  /** Normalised reference (`docker.io/library/busybox:latest` or `name@sha256:…`). */
  name: string;
  reference: ImageReference;
  /** Digest the reference resolved to (the index for multi-arch images): what RepoDigests show. */
  digest: Digest;
  /** The platform-specific image manifest. */
  manifestDigest: Digest;
  mediaType: string;
  /** Config digest: the image id. */
  id: Digest;
  config: Descriptor;
  layers: Descriptor[];
  /** Bytes of manifest + config + layers (compressed), as containerd reports. */
  size: number;
  platform: Platform;
}

export async function pull(client: RegistryClient, store: ContentStore, reference: string, options: PullOptions = {}): Promise<ImageRecord> {
  const ref = parseReference(reference);
  const platform = options.platform ?? hostPlatform();
  const repo = client.repository(ref, { auth: options.auth });
  const resolved = await repo.resolve(platform, options.signal);
  const m = resolved.parsed;
  options.onManifest?.(m);

  const jobs: Array<{ desc: Descriptor; kind: 'config' | 'layer' }> = [
    { desc: m.config, kind: 'config' },
    ...m.layers.map((desc) => ({ desc, kind: 'layer' as const })),
  ];
  const seen = new Set<string>();
  const unique = jobs.filter((j) => (seen.has(j.desc.digest) ? false : (seen.add(j.desc.digest), true)));
  const concurrency = Math.max(1, options.concurrency ?? 3);
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < unique.length && failure === undefined) {
      const { desc, kind } = unique[next++];
      try {
        const ingesting = store.ingest(desc.digest, desc.size, () => repo.openBlob(desc, controller.signal), {
          what: `${kind} of ${ref.normalized}`,
          signal: controller.signal,
          onProgress: (bytes, size) => options.onProgress?.({ digest: desc.digest, kind, bytes, size, done: false }),
        });
        options.onStarted?.(desc.digest);
        await ingesting;
        options.onProgress?.({ digest: desc.digest, kind, bytes: desc.size, size: desc.size, done: true });
      } catch (err) {
        if (failure === undefined) failure = err;
        controller.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (failure !== undefined) throw failure;

  await store.ingestBuffer(resolved.manifest.digest, resolved.manifest.size, resolved.manifest.bytes, { what: 'manifest' });
  if (resolved.top.digest !== resolved.manifest.digest) {
    await store.ingestBuffer(resolved.top.digest, resolved.top.size, resolved.top.bytes, { what: 'index' });
  }
  const size = resolved.manifest.size + m.config.size + m.layers.reduce((a, l) => a + l.size, 0);
  if (!Number.isSafeInteger(size)) throw new BerthError('InvalidArgument', `${ref.normalized}: image size overflows`);
  return {
    name: ref.normalized,
    reference: ref,
    digest: resolved.top.digest,
    manifestDigest: resolved.manifest.digest,
    mediaType: resolved.manifest.mediaType || m.mediaType,
    id: m.config.digest,
    config: m.config,
    layers: m.layers,
    size,
    platform,
  };
}
