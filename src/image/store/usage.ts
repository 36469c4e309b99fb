/**
 * Real usage of a directory tree: allocated bytes (st_blocks × 512) and inodes, each inode counted once
 * however many hardlinks point at it. A walk, not statfs: the store usually shares its filesystem.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export function diskUsage(root: string): { bytes: number; inodes: number } {
  const seen = new Set<string>();
  let bytes = 0;
  const walk = (p: string) => {
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(p, { bigint: true });
    } catch {
      return; // removed while walking
    }
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return;
    seen.add(key);
    bytes += Number(st.blocks) * 512;
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = fs.readdirSync(p);
    } catch {
      return;
    }
    for (const n of names) walk(path.join(p, n));
  };
  walk(root);
  return { bytes, inodes: seen.size };
}
