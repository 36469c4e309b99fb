/**
 * What a path is in the merged view of the lower snapshots (as overlayfs will show it), without mounting:
 * the topmost layer that has the path wins; a whiteout (char device 0/0) hides it; an opaque directory or a
 * non-directory ancestor in a layer hides everything below that layer. Ancestors are lstat'ed one by one, so a
 * symlink inside a lower snapshot is never followed on the host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ancestorsOf } from './entry-path';

export interface LowerLayer {
  /** The snapshot's `fs` directory. */
  dir: string;
  /** Directories marked opaque in this layer (relative paths). */
  opaque: ReadonlySet<string>;
}

export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export const isWhiteout = (st: fs.Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

/** Looks `rel` up in `layers` (top first); undefined when no layer shows it. */
export function lookupLower(layers: readonly LowerLayer[], rel: string): { layer: LowerLayer; stat: fs.Stats } | undefined {
  const ancestors = ancestorsOf(rel);
  for (const layer of layers) {
    const hiddenBelow = layer.opaque.has('') || ancestors.some((a) => layer.opaque.has(a));
    let absent = false;
    for (const a of ancestors) {
      const st = lstatOrUndefined(path.join(layer.dir, a));
      if (!st) {
        absent = true;
        break;
      }
      if (!st.isDirectory()) return undefined; // a file, symlink or whiteout here hides the path in every lower layer
    }
    if (!absent) {
      const st = lstatOrUndefined(path.join(layer.dir, rel));
      if (st) return isWhiteout(st) ? undefined : { layer, stat: st };
    }
    if (hiddenBelow) return undefined;
  }
  return undefined;
}
