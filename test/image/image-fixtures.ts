/**
 * Fixture images for the image-store suites, pushed to the test's docker-registry: the busybox root
 * filesystem from hack/fixtures (GNU tar), layers written entry by entry (whiteouts, opaque directories,
 * hardlinks, symlinks, device nodes, fifos, xattrs, setuid), gzip / zstd / plain tar, and multi-arch indexes.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, pushBlob, pushManifest, sha256, type Blob } from './helpers';
import { writeTar, type TarSpec } from './tar-writer';

export type Compression = 'gzip' | 'zstd' | 'none';
const LAYER_TYPE: Record<Compression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

export interface LayerSource {
  tar: Buffer;
  compression?: Compression;
}

export interface TarImage {
  repo: string;
  tag: string;
  manifest: Blob;
  config: Blob;
  layers: Blob[];
  diffIds: string[];
}

export const FIXTURE_ROOTFS = path.resolve(__dirname, '../../.fixtures/rootfs');

/** The busybox root filesystem of hack/fixtures as one GNU tar layer. */
export function busyboxTar(): Buffer {
  if (!fs.existsSync(path.join(FIXTURE_ROOTFS, '.complete'))) throw new Error(`${FIXTURE_ROOTFS} is missing: run hack/fixtures`);
  return execFileSync('tar', ['-C', FIXTURE_ROOTFS, '--numeric-owner', '--exclude=./.complete', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
}

export function layerFrom(entries: TarSpec[], compression: Compression = 'gzip'): LayerSource {
  return { tar: writeTar(entries), compression };
}

function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return zlib.gzipSync(tar);
  if (c === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 28 });
  return tar;
}

/** Pushes an OCI image; `diffIds` overrides the config's rootfs.diff_ids (to make a lying config). */
export async function pushTarImage(host: string, repo: string, tag: string, layers: LayerSource[], o: { arch?: string; user?: string; diffIds?: string[] } = {}): Promise<TarImage> {
  const pushed: Blob[] = [];
  for (const l of layers) pushed.push(await pushBlob(host, repo, compress(l.tar, l.compression ?? 'gzip'), LAYER_TYPE[l.compression ?? 'gzip']));
  const diffIds = o.diffIds ?? layers.map((l) => sha256(l.tar));
  const config = {
    architecture: o.arch ?? 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'], ...(o.user !== undefined ? { User: o.user } : {}), Labels: { nonce: randomBytes(8).toString('hex') } },
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const cfg = await pushBlob(host, repo, Buffer.from(JSON.stringify(config)), OCI_CONFIG);
  const manifest = {
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: cfg.mediaType, digest: cfg.digest, size: cfg.size },
    layers: pushed.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size })),
  };
  const m = await pushManifest(host, repo, tag, manifest, OCI_MANIFEST);
  return { repo, tag, manifest: m, config: cfg, layers: pushed, diffIds };
}

/** An OCI index over images (pushed by digest first), tagged `tag`. */
export async function pushIndex(host: string, repo: string, tag: string, images: Array<{ image: TarImage; arch: string }>): Promise<Blob> {
  return pushManifest(host, repo, tag, {
    schemaVersion: 2, mediaType: OCI_INDEX,
    manifests: images.map(({ image, arch }) => ({ mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.size, platform: { os: 'linux', architecture: arch } })),
  }, OCI_INDEX);
}

/** Every kind of entry the applier knows, as a second layer over busybox. */
export const FEATURE_LAYER: TarSpec[] = [
  { path: 'etc/', type: 'dir', mode: 0o755, mtime: 1_600_000_100 },
  { path: 'etc/.wh.hostname', content: '' },
  { path: 'home/.wh..wh..opq', content: '' },
  { path: 'home/fresh/', type: 'dir', uid: 1000, gid: 1000, mode: 0o700 },
  { path: 'usr/bin/tool', content: '#!/bin/sh\necho tool\n', mode: 0o4755, uid: 0, gid: 0, xattrs: { 'user.berth.origin': 'feature-layer' } },
  { path: 'usr/bin/tool-hardlink', type: 'hardlink', linkpath: 'usr/bin/tool' },
  { path: 'usr/bin/tool-symlink', type: 'symlink', linkpath: 'tool' },
  { path: 'dev/', type: 'dir', mode: 0o755 },
  { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: 'run/pipe', type: 'fifo', mode: 0o600, uid: 1000, gid: 1000 },
  { path: 'data/owned', content: 'mine\n', mode: 0o640, uid: 1000, gid: 1000, mtime: 1_500_000_000 },
];
