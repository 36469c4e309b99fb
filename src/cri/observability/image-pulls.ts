/**
 * The image store with its pulls measured: every pull berthd makes (kubelet's PullImage and the pause image)
 * goes through the one store, so wrapping its pull() counts each exactly once. Bytes are what the progress
 * events report arriving per blob: a blob already in the store (or being fetched by another pull) sends no
 * download events and adds nothing.
 */
import type { ImageStoreApi, PullEvent, PullRequest } from '../../image/api';
import { secondsSince } from './observer';
import type { BerthdMetrics } from './registry';

/** Turns a pull's cumulative per-blob progress into byte deltas. */
function downloadCounter(add: (bytes: number) => void): (e: PullEvent) => void {
  const seen = new Map<string, number>();
  return (e) => {
    if (e.phase !== 'downloading') return;
    const before = seen.get(e.digest) ?? 0;
    // Fewer bytes than before: the blob's download started over; what arrives now is new traffic.
    const delta = e.bytes >= before ? e.bytes - before : e.bytes;
    seen.set(e.digest, e.bytes);
    if (delta > 0) add(delta);
  };
}

export function measuredImageStore(images: ImageStoreApi, metrics: BerthdMetrics): ImageStoreApi {
  const pull = async (req: PullRequest) => {
    const start = process.hrtime.bigint();
    const counted = downloadCounter((n) => metrics.imagePullBytes.inc(n));
    const summary = await images.pull({
      ...req,
      onProgress: (e) => {
        counted(e);
        req.onProgress?.(e);
      },
    });
    metrics.imagePullDuration.observe(secondsSince(start));
    return summary;
  };
  // Everything else is the store's own (tsc flags a method added to ImageStoreApi and missing here).
  return {
    pull,
    list: (filter) => images.list(filter),
    status: (reference, verbose) => images.status(reference, verbose),
    runConfig: (reference) => images.runConfig(reference),
    remove: (reference) => images.remove(reference),
    fsInfo: () => images.fsInfo(),
    gc: () => images.gc(),
    prepareRootfs: (imageId, key) => images.prepareRootfs(imageId, key),
    removeRootfs: (key) => images.removeRootfs(key),
    close: () => images.close(),
  };
}
