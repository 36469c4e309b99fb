/** /proc/<pid>/mountinfo, parsed once here for every part that reads it (cgroup detection, metrics, mounts). */
import * as fs from 'node:fs';

export interface MountInfoEntry {
  /** The part of the file system the mount shows (field 4: "/" normally, a sub-cgroup for nested setups). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash (and overlayfs commas in options) as \ooo octal. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 4) continue;
    out.push({
      root: unescapeOctal(f[3]),
      mountPoint: unescapeOctal(f[4]),
      fsType: f[sep + 1],
      source: unescapeOctal(f[sep + 2]),
      superOptions: f[sep + 3].split(',').map(unescapeOctal),
    });
  }
  return out;
}

/** This process's mount points, in mountinfo order. */
export function ownMountPoints(): string[] {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint);
}
