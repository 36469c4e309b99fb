/**
 * Manifest media types and validation: OCI image manifest and index, Docker schema 2 manifest and manifest list.
 * Anything else is rejected with a message naming the media type. Also platform selection from an index.
 */
import { BerthError, invalid } from '../../common/errors';
import { parseDigest, type Digest } from '../digest';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
/** The Accept header for manifest requests, most preferred first. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.ociLayerNondistributable,
  MediaType.ociLayerNondistributableGzip, MediaType.ociLayerNondistributableZstd, MediaType.dockerLayerGzip, MediaType.dockerLayerForeignGzip,
];

export type Compression = 'none' | 'gzip' | 'zstd';
export function layerCompression(mediaType: string): Compression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  return 'none';
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export type ParsedManifest = { kind: 'manifest'; manifest: ImageManifest } | { kind: 'index'; index: ImageIndex };

const GENERIC_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream']);

/** Validates manifest bytes; `contentType` is the registry's Content-Type header. */
export function parseManifest(body: Buffer, contentType: string | undefined, what = 'manifest'): ParsedManifest {
  const headerType = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (headerType === MediaType.dockerSchema1 || headerType === MediaType.dockerSchema1Signed) {
    throw new BerthError('InvalidArgument', `${what}: Docker schema 1 manifests (${headerType}) are not supported; push the image with schema 2 or OCI`, { field: 'mediaType' });
  }
  if (!GENERIC_TYPES.has(headerType) && !MANIFEST_MEDIA_TYPES.includes(headerType) && !INDEX_MEDIA_TYPES.includes(headerType)) {
    throw unknownType(what, headerType);
  }
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalid(what, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid(what, 'not a JSON object');
  const bodyType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (doc.schemaVersion === 1) throw new BerthError('InvalidArgument', `${what}: Docker schema 1 manifests are not supported`, { field: 'schemaVersion' });
  if (doc.schemaVersion !== 2) throw invalid(`${what}.schemaVersion`, `must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  if (bodyType !== undefined && !MANIFEST_MEDIA_TYPES.includes(bodyType) && !INDEX_MEDIA_TYPES.includes(bodyType)) throw unknownType(what, bodyType);
  if (bodyType !== undefined && !GENERIC_TYPES.has(headerType) && bodyType !== headerType) {
    throw invalid(`${what}.mediaType`, `"${bodyType}" does not match the Content-Type "${headerType}" the registry sent`);
  }
  let mediaType = bodyType ?? (GENERIC_TYPES.has(headerType) ? '' : headerType);
  if (mediaType === '') {
    if (Array.isArray(doc.manifests)) mediaType = MediaType.ociIndex;
    else if (doc.config !== undefined && Array.isArray(doc.layers)) mediaType = MediaType.ociManifest;
    else throw invalid(`${what}.mediaType`, 'missing, and the document is neither a manifest nor an index');
  }
  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(`${what}.manifests`, 'must be a list');
    const manifests = doc.manifests.map((d, i) => descriptor(d, `${what}.manifests[${i}]`));
    return { kind: 'index', index: { schemaVersion: 2, mediaType, manifests, annotations: doc.annotations as Record<string, string> | undefined } };
  }
  const config = descriptor(doc.config, `${what}.config`);
  if (!CONFIG_MEDIA_TYPES.includes(config.mediaType)) {
    throw invalid(`${what}.config.mediaType`, `"${config.mediaType}" is not a container image config (supported: ${CONFIG_MEDIA_TYPES.join(', ')})`);
  }
  if (!Array.isArray(doc.layers)) throw invalid(`${what}.layers`, 'must be a list');
  const layers = doc.layers.map((d, i) => descriptor(d, `${what}.layers[${i}]`));
  layers.forEach((l, i) => {
    if (!LAYER_MEDIA_TYPES.includes(l.mediaType)) throw invalid(`${what}.layers[${i}].mediaType`, `unsupported layer media type "${l.mediaType}" (supported: ${LAYER_MEDIA_TYPES.join(', ')})`);
  });
  return { kind: 'manifest', manifest: { schemaVersion: 2, mediaType, config, layers, annotations: doc.annotations as Record<string, string> | undefined } };
}

function unknownType(what: string, type: string): BerthError {
  return invalid(`${what}.mediaType`, `unsupported manifest media type "${type}" (supported: ${[...INDEX_MEDIA_TYPES, ...MANIFEST_MEDIA_TYPES].join(', ')})`);
}

function descriptor(value: unknown, field: string): Descriptor {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(field, 'must be a descriptor object');
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(`${field}.mediaType`, 'missing');
  if (typeof d.digest !== 'string') throw invalid(`${field}.digest`, 'missing');
  parseDigest(d.digest, `${field}.digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${field}.size`, `must be a non-negative integer, got ${JSON.stringify(d.size)}`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest as Digest, size: d.size };
  if (d.urls !== undefined) out.urls = d.urls as string[];
  if (d.annotations !== undefined) out.annotations = d.annotations as Record<string, string>;
  if (d.artifactType !== undefined) out.artifactType = d.artifactType as string;
  if (d.platform !== undefined) {
    const p = d.platform as Record<string, unknown>;
    if (typeof p !== 'object' || p === null || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw invalid(`${field}.platform`, 'must have os and architecture');
    }
    out.platform = p as unknown as Platform;
  }
  return out;
}

/** The platform of this node, in OCI terms (GOOS/GOARCH names). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', mips64el: 'mips64le', loong64: 'loong64' };
  const architecture = arch[process.arch] ?? process.arch;
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as unknown as Record<string, unknown>).arm_version;
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}`;
  }
  return p;
}

function normVariant(p: Platform): string {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '' || p.variant === 'v8')) return 'v8';
  if (p.architecture === 'amd64' && (p.variant === undefined || p.variant === '' || p.variant === 'v1')) return 'v1';
  return p.variant ?? '';
}

/**
 * Picks the manifest for `want` from an index (containerd's platforms.Only): same os and architecture; an exact
 * variant first, then (for arm) older variants the node can also run, then entries without a variant.
 */
export function selectPlatform(index: ImageIndex, want: Platform = hostPlatform(), what = 'index'): Descriptor {
  const candidates = index.manifests.filter((m) => MANIFEST_MEDIA_TYPES.includes(m.mediaType) && m.platform !== undefined);
  const wantVariant = normVariant(want);
  const compatible: string[] = [wantVariant];
  if (want.architecture === 'arm') {
    const n = Number(wantVariant.replace(/^v/, ''));
    for (let v = n - 1; v >= 5; v--) compatible.push(`v${v}`);
  }
  if (want.architecture === 'amd64') {
    const n = Number(wantVariant.replace(/^v/, '')) || 1;
    for (let v = n - 1; v >= 1; v--) compatible.push(`v${v}`);
  }
  compatible.push('');
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  for (const m of candidates) {
    const p = m.platform!;
    if (p.os !== want.os || p.architecture !== want.architecture) continue;
    const rank = compatible.indexOf(normVariant(p));
    if (rank >= 0 && rank < bestRank) [best, bestRank] = [m, rank];
  }
  if (!best) {
    const have = candidates.map((m) => `${m.platform!.os}/${m.platform!.architecture}${m.platform!.variant ? '/' + m.platform!.variant : ''}`);
    throw new BerthError('NotFound', `${what}: no manifest for platform ${want.os}/${want.architecture}${want.variant ? '/' + want.variant : ''} (available: ${have.join(', ') || 'none'})`);
  }
  return best;
}
