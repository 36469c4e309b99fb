/**
 * Stand-in until the image store (branch images-store) is merged: berthd starts and serves Version, and every
 * image call fails with a clear Unavailable. Replaced by the real store in src/bin/berthd.ts.
 */
import { BerthError } from '../common/errors';
import type { ImageStoreApi } from '../image/api';

export function noImageStore(): ImageStoreApi {
  const unavailable = (): never => {
    throw new BerthError('Unavailable', 'this berthd was built without an image store');
  };
  return {
    pull: async () => unavailable(),
    list: unavailable,
    status: unavailable,
    remove: async () => unavailable(),
    fsInfo: unavailable,
    gc: async () => unavailable(),
    prepareRootfs: async () => unavailable(),
    removeRootfs: async () => unavailable(),
    close: () => undefined,
  };
}
