/** Mount option strings of config.json → mount(2) flags, propagation, mount_setattr attributes and fs data. */
import { invalid } from '../../common/errors';

export const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20, MANDLOCK: 0x40,
  DIRSYNC: 0x80, NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800, BIND: 0x1000, MOVE: 0x2000, REC: 0x4000,
  SILENT: 0x8000, UNBINDABLE: 0x20000, PRIVATE: 0x40000, SLAVE: 0x80000, SHARED: 0x100000, RELATIME: 0x200000,
  I_VERSION: 0x800000, STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;

/** MOUNT_ATTR_* of mount_setattr(2). */
const ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, RELATIME: 0x0, NOATIME: 0x10, STRICTATIME: 0x20, NODIRATIME: 0x80, NOSYMFOLLOW: 0x200000 } as const;

/** option → [flags to set, flags to clear] */
const FLAGS: Record<string, [number, number]> = {
  async: [0, MS.SYNCHRONOUS], atime: [0, MS.NOATIME], bind: [MS.BIND, 0], defaults: [0, 0], dev: [0, MS.NODEV],
  diratime: [0, MS.NODIRATIME], dirsync: [MS.DIRSYNC, 0], exec: [0, MS.NOEXEC], iversion: [MS.I_VERSION, 0],
  lazytime: [MS.LAZYTIME, 0], loud: [0, MS.SILENT], mand: [MS.MANDLOCK, 0], noatime: [MS.NOATIME, 0],
  nodev: [MS.NODEV, 0], nodiratime: [MS.NODIRATIME, 0], noexec: [MS.NOEXEC, 0], noiversion: [0, MS.I_VERSION],
  nolazytime: [0, MS.LAZYTIME], nomand: [0, MS.MANDLOCK], norelatime: [0, MS.RELATIME], nostrictatime: [0, MS.STRICTATIME],
  nosuid: [MS.NOSUID, 0], nosymfollow: [MS.NOSYMFOLLOW, 0], rbind: [MS.BIND | MS.REC, 0], relatime: [MS.RELATIME, 0],
  remount: [MS.REMOUNT, 0], ro: [MS.RDONLY, 0], rw: [0, MS.RDONLY], silent: [MS.SILENT, 0], strictatime: [MS.STRICTATIME, 0],
  suid: [0, MS.NOSUID], symfollow: [0, MS.NOSYMFOLLOW], sync: [MS.SYNCHRONOUS, 0],
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC, unbindable: MS.UNBINDABLE, runbindable: MS.UNBINDABLE | MS.REC,
};

/** Recursive attributes (`rro`, `rnosuid`, …): [set, clear]. */
const RECURSIVE: Record<string, [number, number]> = {
  rro: [ATTR.RDONLY, 0], rrw: [0, ATTR.RDONLY], rnosuid: [ATTR.NOSUID, 0], rsuid: [0, ATTR.NOSUID],
  rnodev: [ATTR.NODEV, 0], rdev: [0, ATTR.NODEV], rnoexec: [ATTR.NOEXEC, 0], rexec: [0, ATTR.NOEXEC],
  rnodiratime: [ATTR.NODIRATIME, 0], rdiratime: [0, ATTR.NODIRATIME], rnoatime: [ATTR.NOATIME, 0],
  rstrictatime: [ATTR.STRICTATIME, 0], rnosymfollow: [ATTR.NOSYMFOLLOW, 0], rsymfollow: [0, ATTR.NOSYMFOLLOW],
};

export interface ParsedMountOptions {
  flags: number;
  propagation: number;
  /** Low 32 bits set, high 32 bits clear: the layout berth-init expects. */
  attr: bigint;
  data: string;
  bind: boolean;
}

export function parseMountOptions(options: readonly string[], field: string): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  let attrSet = 0;
  let attrClear = 0;
  const data: string[] = [];
  options.forEach((opt, i) => {
    if (opt in FLAGS) {
      const [set, clear] = FLAGS[opt];
      flags = (flags | set) & ~clear;
    } else if (opt in PROPAGATION) {
      propagation |= PROPAGATION[opt];
    } else if (opt in RECURSIVE) {
      const [set, clear] = RECURSIVE[opt];
      attrSet = (attrSet | set) & ~clear;
      attrClear = (attrClear | clear) & ~set;
    } else if (opt === 'tmpcopyup' || opt === 'idmap' || opt === 'ridmap') {
      throw invalid(`${field}[${i}]`, `mount option "${opt}" is not supported by berth-run yet`);
    } else {
      data.push(opt);
    }
  });
  return { flags, propagation, attr: BigInt(attrSet) | (BigInt(attrClear) << 32n), data: data.join(','), bind: (flags & MS.BIND) !== 0 };
}
