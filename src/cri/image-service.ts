/**
 * runtime.v1.ImageService over the image component's facade (ImageStoreApi): CRI messages in, store calls,
 * CRI messages out. Every rule about images (references, filters, what "remove" keeps) lives in the store.
 */
import type * as grpc from '@grpc/grpc-js';
import { invalid } from '../common/errors';
import type { Logger } from '../common/log';
import type { ImageStatus, ImageStoreApi, ImageSummary, PullEvent } from '../image/api';
import type { RegistryAuth } from '../image/api';
import type { PullProgressHub } from './pull-progress';
import { elapsedMs, unary } from '../common/grpc';
import {
  PULL_ID_METADATA,
  type AuthConfig, type FilesystemUsage, type Image, type ImageFsInfoRequest, type ImageFsInfoResponse, type ImageSpec,
  type ImageStatusRequest, type ImageStatusResponse, type ListImagesRequest, type ListImagesResponse, type PullImageRequest,
  type PullImageResponse, type RemoveImageRequest, type RemoveImageResponse,
} from './types';

export function toCriImage(s: ImageSummary): Image {
  return {
    id: s.id,
    repoTags: s.repoTags,
    repoDigests: s.repoDigests,
    size: String(s.size),
    uid: s.uid === undefined ? null : { value: String(s.uid) },
    username: s.username,
    spec: null,
    pinned: s.pinned,
  };
}

/**
 * The CRI AuthConfig as the registry client takes it. Precedence follows what each field means: a registry
 * token is used as it is, an identity token is exchanged for one, then username/password, then `auth`
 * (base64 "user:password"). All empty: anonymous (or credentials from berthd's config).
 */
export function authFromCri(a: AuthConfig | null | undefined): RegistryAuth | undefined {
  if (!a) return undefined;
  if (a.registryToken) return { registryToken: a.registryToken };
  if (a.identityToken) return { identityToken: a.identityToken };
  if (a.username || a.password) {
    if (!a.username) throw invalid('auth.username', 'is required with auth.password');
    return { username: a.username, password: a.password };
  }
  if (a.auth) {
    const decoded = Buffer.from(a.auth, 'base64').toString('utf8');
    if (!decoded.includes(':')) throw invalid('auth.auth', 'must be base64 of "username:password"');
    return { auth: a.auth };
  }
  return undefined;
}

function imageRef(spec: ImageSpec | null | undefined, field: string): string {
  const ref = spec?.image ?? '';
  if (ref === '') throw invalid(field, 'an image reference is required');
  return ref;
}

export interface ImageServiceDeps {
  log: Logger;
  images: ImageStoreApi;
  progress: PullProgressHub;
  /** Aborted at shutdown: pulls in flight stop and leave no partial image. */
  shutdown: AbortSignal;
}

export function imageService({ log, images, progress, shutdown }: ImageServiceDeps): grpc.UntypedServiceImplementation {
  return {
    ListImages: unary<ListImagesRequest, ListImagesResponse>(log, 'ListImages', (req) => {
      const filter = req.filter?.image?.image || undefined;
      return { images: images.list(filter).map(toCriImage) };
    }),

    ImageStatus: unary<ImageStatusRequest, ImageStatusResponse>(log, 'ImageStatus', (req) => {
      const st: ImageStatus | undefined = images.status(imageRef(req.image, 'image.image'), req.verbose);
      if (!st) return { image: null, info: {} };
      return { image: toCriImage(st.image), info: req.verbose ? st.info : {} };
    }),

    PullImage: unary<PullImageRequest, PullImageResponse>(log, 'PullImage', async (req, call) => {
      const reference = imageRef(req.image, 'image.image');
      const auth = authFromCri(req.auth);
      const pullId = String(call.metadata.get(PULL_ID_METADATA)[0] ?? '');
      const plog = log.child({ image: reference });
      const start = process.hrtime.bigint();
      // A client that goes away cancels its pull, as does berthd's shutdown.
      const abort = new AbortController();
      const onCancel = () => abort.abort(new Error('the client cancelled the pull'));
      const onShutdown = () => abort.abort(new Error('berthd is shutting down'));
      call.on('cancelled', onCancel);
      shutdown.addEventListener('abort', onShutdown);
      plog.info('pulling image');
      try {
        const summary = await images.pull({
          reference,
          auth,
          signal: abort.signal,
          onProgress: (e: PullEvent) => {
            if (e.phase !== 'downloading') plog.info(`layer ${e.phase}`, { digest: e.digest, kind: e.kind, size: e.size });
            if (pullId) progress.publish(pullId, { digest: e.digest, kind: e.kind, bytes: String(e.bytes), size: String(e.size), phase: e.phase });
          },
        });
        plog.info('pulled image', { id: summary.id, size: summary.size, ms: elapsedMs(start) });
        return { imageRef: summary.id };
      } finally {
        call.off('cancelled', onCancel);
        shutdown.removeEventListener('abort', onShutdown);
        if (pullId) progress.publish(pullId, 'end');
      }
    }),

    RemoveImage: unary<RemoveImageRequest, RemoveImageResponse>(log, 'RemoveImage', async (req) => {
      await images.remove(imageRef(req.image, 'image.image'));
      return {};
    }),

    ImageFsInfo: unary<ImageFsInfoRequest, ImageFsInfoResponse>(log, 'ImageFsInfo', () => {
      const fsUsage: FilesystemUsage[] = images.fsInfo().map((u) => ({
        timestamp: String(u.timestamp),
        fsId: { mountpoint: u.mountpoint },
        usedBytes: { value: String(u.usedBytes) },
        inodesUsed: { value: String(u.inodesUsed) },
      }));
      return { imageFilesystems: fsUsage, containerFilesystems: [] };
    }),
  };
}
