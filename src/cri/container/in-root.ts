/**
 * Paths inside a container's rootfs as the container itself would see them. An image is untrusted: its
 * /etc/passwd may be a symlink to ../../../etc/passwd or /etc/shadow, which a plain path.join would follow to
 * the host's files. Here every component is resolved as under chroot(2): absolute link targets restart at the
 * root and `..` never climbs above it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The few file operations the lookups need; tests and callers may substitute their own. */
export interface RootReader {
  /** undefined when the path does not exist (ENOENT / ENOTDIR). */
  lstat(p: string): { isSymbolicLink(): boolean; isFile(): boolean; size: number } | undefined;
  readlink(p: string): string;
  readFile(p: string): string;
}

export const nodeReader: RootReader = {
  lstat(p) {
    try {
      return fs.lstatSync(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
  },
  readlink: (p) => fs.readlinkSync(p, 'utf8'),
  readFile: (p) => fs.readFileSync(p, 'utf8'),
};

/** Linux's MAXSYMLINKS: the same bound the kernel puts on one path walk. */
export const MAX_SYMLINKS = 40;

const components = (p: string): string[] => p.split('/').filter((c) => c !== '' && c !== '.');

/**
 * The host path of `p` inside `root`, every symlink followed relative to `root`. Components that do not exist
 * are kept literally (so the result can name a file to be created). Throws an error with code ELOOP after
 * MAX_SYMLINKS links, as the kernel would.
 */
export function resolveInRoot(root: string, p: string, reader: RootReader = nodeReader): string {
  const base = path.resolve(root);
  const done: string[] = [];
  const todo = components(p);
  let links = 0;
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '..') {
      done.pop(); // at the root this is a no-op: /.. is /
      continue;
    }
    const here = path.join(base, ...done, c);
    // Looked up even below a missing component: `missing/..` brings the walk back to real, linkable ones.
    const st = reader.lstat(here);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw Object.assign(new Error(`${p}: too many levels of symbolic links inside ${base}`), { code: 'ELOOP' });
      }
      const target = reader.readlink(here);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...components(target));
      continue;
    }
    done.push(c);
  }
  return path.join(base, ...done);
}
