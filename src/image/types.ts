/**
 * The image component's types as its callers see them (ImageStoreApi and what it takes and returns). They live
 * apart from api.ts so that the store implementing them does not import the face that constructs it.
 */
import type { Digest } from './digest';
import type { RegistriesConfig, RegistryAuth } from './registry/config';

/** One image as the CRI `Image` message describes it. */
export interface ImageSummary {
  /** Config digest (`sha256:…`): the image id. */
  id: Digest;
  /** Normalised `name:tag` references that point at this image. */
  repoTags: string[];
  /** `name@sha256:…` of the digest each reference resolved to (the index for multi-arch images). */
  repoDigests: string[];
  /** Bytes of manifest + config + layers, compressed, as containerd reports. */
  size: number;
  /** `config.User` split as the CRI wants it: a numeric uid goes to `uid`, anything else to `username`. */
  uid?: number;
  username: string;
  /** Set when the image must survive garbage collection (a sandbox image). */
  pinned: boolean;
}

export interface ImageStatus {
  image: ImageSummary;
  /** For `verbose`: key → JSON text, as containerd's `info` map (`info` holds the config and chain ids). */
  info: Record<string, string>;
}

export interface PullEvent {
  digest: Digest;
  kind: 'config' | 'layer';
  bytes: number;
  size: number;
  /** downloaded → verified in the content store; unpacked → committed as a snapshot. */
  phase: 'downloading' | 'downloaded' | 'unpacked';
}

export interface PullRequest {
  reference: string;
  auth?: RegistryAuth;
  onProgress?: (e: PullEvent) => void;
  signal?: AbortSignal;
}

export interface FilesystemUsage {
  /** Directory whose bytes and inodes are counted. */
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  /** Unix time in nanoseconds when measured. */
  timestamp: bigint;
}

/** What running a container of an image takes from its config (image-spec config.md, `config`). */
export interface ImageRunConfig {
  id: Digest;
  /** `config.User`: `name`, `uid`, `name:group`, `uid:gid`, or "" (root). */
  user: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  workingDir: string;
  /** e.g. `SIGQUIT` or `3`; "" when the image sets none. */
  stopSignal: string;
  /** Paths of `config.Volumes`. */
  volumes: string[];
}

/** What a container's rootfs needs: an overlay mount over the image's committed layers. */
export interface RootfsMount {
  /** Top layer first, as overlayfs' `lowerdir` wants them. */
  lowerdirs: string[];
  upperdir: string;
  workdir: string;
}

export interface ImageStoreOptions {
  /** berthd's root (default /var/lib/berth): content and snapshots live under it. */
  root: string;
  registries?: RegistriesConfig;
  /** Layers fetched at once. Default 3. */
  maxConcurrentDownloads?: number;
}

export interface ImageStoreApi {
  /** Pull, unpack every layer into a snapshot, then record the image. Returns the image as recorded. */
  pull(req: PullRequest): Promise<ImageSummary>;
  /** All images, or those matching a reference (`busybox`, `name:tag`, `name@digest`, or an id / id prefix). */
  list(filter?: string): ImageSummary[];
  /** undefined when no image matches (CRI: ImageStatus returns an empty image, not an error). */
  status(reference: string, verbose?: boolean): ImageStatus | undefined;
  /** The run config of the image a reference names, or undefined when none matches. */
  runConfig(reference: string): ImageRunConfig | undefined;
  /** Removes by id, tag or digest; layers shared with other images stay. Missing image: no error (CRI). */
  remove(reference: string): Promise<void>;
  /** Usage of the store's filesystem: real bytes and inodes under the root. */
  fsInfo(): FilesystemUsage[];
  /** Removes blobs and snapshots no image references. */
  gc(): Promise<{ blobs: number; snapshots: number }>;
  /** A writable layer for a container over the image's snapshots; `key` is the container id. */
  prepareRootfs(imageId: string, key: string): Promise<RootfsMount>;
  /** Removes a container's writable layer (idempotent). */
  removeRootfs(key: string): Promise<void>;
  /** Waits for background work (layers being synced to disk). */
  close(): Promise<void>;
}
