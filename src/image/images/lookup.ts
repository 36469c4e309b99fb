/**
 * From references to images, as the CRI asks: an id (`sha256:…`), a unique id prefix (with or without
 * `sha256:`, at least 3 hex digits), `name:tag` in any form kubelet accepts (`busybox`), or `name@digest` (the
 * digest of the index or of the manifest). And from records to the CRI's Image view.
 */
import { findByPrefix } from '../../common/ids';
import type { ImageSummary } from '../types';
import type { Digest } from '../digest';
import { parseReference } from '../reference';
import type { ImageRecord } from './records';

const ID_PREFIX = /^(?:sha256:)?([0-9a-f]{3,64})$/;

/** The image id a reference names, or undefined. */
export function findImageId(records: readonly ImageRecord[], reference: string): Digest | undefined {
  const prefix = ID_PREFIX.exec(reference);
  if (prefix) {
    let hex: string | undefined;
    try {
      hex = findByPrefix(new Set(records.map((r) => r.id.slice('sha256:'.length))), prefix[1], 'image id');
    } catch {
      hex = undefined; // ambiguous: no image
    }
    if (hex !== undefined) return `sha256:${hex}` as Digest;
    if (reference.startsWith('sha256:')) return undefined;
    // A bare hex string could also be a repository name (`abc`): fall through.
  }
  let ref;
  try {
    ref = parseReference(reference);
  } catch {
    return undefined;
  }
  if (ref.digest) {
    const hit = records.find((r) => r.name.startsWith(ref.name + '@') && (r.target === ref.digest || r.manifest === ref.digest))
      ?? records.find((r) => r.name.startsWith(ref.name + ':') && (r.target === ref.digest || r.manifest === ref.digest));
    return hit?.id;
  }
  return records.find((r) => r.name === ref.normalized)?.id;
}

/** The CRI view of one image: every record with this id contributes its tag or digest. */
export function summarize(records: readonly ImageRecord[], id: string): ImageSummary | undefined {
  const mine = records.filter((r) => r.id === id);
  if (mine.length === 0) return undefined;
  const repoTags = new Set<string>();
  const repoDigests = new Set<string>();
  for (const r of mine) {
    if (r.name.includes('@')) repoDigests.add(r.name);
    else {
      repoTags.add(r.name);
      repoDigests.add(`${r.name.slice(0, r.name.lastIndexOf(':'))}@${r.target}`);
    }
  }
  const first = mine[0];
  const user = splitUser(first.user);
  return {
    id: first.id,
    repoTags: [...repoTags].sort(),
    repoDigests: [...repoDigests].sort(),
    size: Math.max(...mine.map((r) => r.size)),
    ...user,
    pinned: mine.some((r) => r.pinned),
  };
}

/** config.User → the CRI's uid / username: `1000`, `1000:1000` → uid 1000; `nobody` → username. */
export function splitUser(user: string): { uid?: number; username: string } {
  const name = user.split(':')[0];
  if (name === '') return { username: '' };
  if (/^[0-9]+$/.test(name)) return { uid: Number(name), username: '' };
  return { username: name };
}
