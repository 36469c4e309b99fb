/**
 * The drain's optional last step: the images the node's old runtime holds, pulled into berthd before the
 * switch so that the pods kubelet starts on berthd find them there. Over CRI on both sides (the old runtime's
 * ListImages, berthd's PullImage), so it is the same for cri-dockerd and containerd. Images without a tag
 * (only a digest) are pulled by their repo digest. Progress goes to the log, one line per image.
 */
import * as grpc from '@grpc/grpc-js';
import { criServices } from '../../cri';
import { criCall } from '../service/cri-call';
import type { MigrationContext } from './context';

interface CriImage {
  readonly id: string;
  readonly repoTags?: readonly string[];
  readonly repoDigests?: readonly string[];
}

const imageClient = (socket: string): grpc.Client => new (grpc.makeClientConstructor(criServices().image, 'ImageService'))(`unix://${socket}`, grpc.credentials.createInsecure());

/** The references to pull: every tag, else the first repo digest; the pause image is berthd's own business. */
export function referencesOf(images: readonly CriImage[]): string[] {
  const refs = new Set<string>();
  for (const i of images) {
    const tags = (i.repoTags ?? []).filter((t) => t !== '' && !t.startsWith('<none>'));
    if (tags.length) for (const t of tags) refs.add(t);
    else if (i.repoDigests?.[0]) refs.add(i.repoDigests[0]);
  }
  return [...refs].sort();
}

/** Pulls into berthd (at `berthdSocket`) what the CRI at `fromSocket` holds; throws naming the images that failed. */
export async function prePullImages(c: MigrationContext, fromSocket: string, berthdSocket: string, pullTimeoutMs = 10 * 60_000): Promise<number> {
  const from = imageClient(fromSocket);
  const to = imageClient(berthdSocket);
  try {
    const listed = await criCall<{ images?: CriImage[] }>(from, 'ListImages', {}, 30_000);
    const refs = referencesOf(listed.images ?? []);
    const failed: string[] = [];
    for (const [i, ref] of refs.entries()) {
      try {
        await criCall(to, 'PullImage', { image: { image: ref } }, pullTimeoutMs);
        c.log.info('image pre-pulled into berthd', { image: ref, progress: `${i + 1}/${refs.length}` });
      } catch (err) {
        failed.push(`${ref}: ${(err as Error).message}`);
      }
    }
    if (failed.length) throw new Error(`${failed.length} of ${refs.length} image(s) not pre-pulled: ${failed.join('; ')}`);
    return refs.length;
  } finally {
    from.close();
    to.close();
  }
}
