/**
 * The image component's public facade: what berthd (the CRI ImageService, issue 02; containers, issue 05)
 * and berthctl see. Everything behind it (registry client, content store, snapshots, records) is private to
 * src/image.
 */
import type { Logger } from '../common/log';
import { ImageStore } from './store/image-store';
import type { ImageStoreApi, ImageStoreOptions } from './types';

export type { FilesystemUsage, ImageRunConfig, ImageStatus, ImageStoreApi, ImageStoreOptions, ImageSummary, PullEvent, PullRequest, RootfsMount } from './types';
export type { RegistriesConfig, RegistryAuth, RegistryHostConfig } from './registry/config';
export { validateRegistriesConfig } from './registry/config';

/**
 * Opens (creating) the image store under `<root>/image` and removes what a crash left half-done: the one way
 * in for berthd and other callers outside src/image.
 */
export function openImageStore(options: ImageStoreOptions & { logger?: Logger }): ImageStoreApi {
  return ImageStore.open(options);
}
