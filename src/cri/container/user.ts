/**
 * The user a container runs as: CRI's run_as_username / run_as_user (+ run_as_group) or else the image's
 * `config.User`, looked up in the rootfs' own /etc/passwd and /etc/group the way containerd does, plus the
 * supplemental groups by supplemental_groups_policy. The databases are read through resolveInRoot, so an image
 * cannot point the lookup at the host's files.
 */
import { invalid } from '../../common/errors';
import type { ImageRunConfig } from '../../image/api';
import type { LinuxContainerSecurityContext } from '../types';
import { nodeReader, resolveInRoot, type RootReader } from './in-root';

export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Sorted, without duplicates. */
  additionalGids: number[];
  /** From the passwd entry, when there is one. */
  home?: string;
  username?: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const SC = 'config.linux.security_context';
const IMAGE_USER = 'image.config.User';
/** A passwd or group file larger than this is no account database; it is treated as absent, never read. */
const MAX_DB_BYTES = 16 << 20;
const MAX_ID = 0xffffffff;

/** A decimal id in uint32 range, else undefined. */
function numericId(s: string): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** An Int64Value / int64 from CRI (a decimal string) as a uid or gid; `field` names it in the error. */
export function idOf(value: string, field: string): number {
  const n = numericId(value);
  if (n === undefined) throw invalid(field, `"${value}" is not an id from 0 to ${MAX_ID}`);
  return n;
}

/** The text of a database file inside the rootfs, or undefined when missing, looping, not a regular file or huge. */
function readDb(rootfs: string, file: string, reader: RootReader): string | undefined {
  let p: string;
  try {
    p = resolveInRoot(rootfs, file, reader);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
    throw err;
  }
  // A FIFO or device here would block or read forever: only regular files are read.
  const st = reader.lstat(p);
  if (!st || !st.isFile() || st.size > MAX_DB_BYTES) return undefined;
  return reader.readFile(p);
}

function records(text: string | undefined): string[][] {
  if (text === undefined) return [];
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

export function parsePasswd(text: string | undefined): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of records(text)) {
    const uid = numericId(f[2] ?? '');
    const gid = numericId(f[3] ?? '');
    if (uid === undefined || gid === undefined) continue; // malformed lines are skipped, as libc does
    out.push({ name: f[0], uid, gid, home: f[5] ?? '' });
  }
  return out;
}

export function parseGroup(text: string | undefined): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of records(text)) {
    const gid = numericId(f[2] ?? '');
    if (gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

/** Resolves the container's user. Unknown names are InvalidArgument naming the CRI field or the image's config.User. */
export function resolveUser(rootfs: string, image: ImageRunConfig, sc: LinuxContainerSecurityContext | null, reader: RootReader = nodeReader): ResolvedUser {
  let passwd: PasswdEntry[] | undefined;
  let groups: GroupEntry[] | undefined;
  const users = () => (passwd ??= parsePasswd(readDb(rootfs, '/etc/passwd', reader)));
  const groupDb = () => (groups ??= parseGroup(readDb(rootfs, '/etc/group', reader)));

  // CRI's user replaces the image's whole `user[:group]`, as containerd does; the name wins over the uid.
  let userPart: string;
  let groupPart: string | undefined;
  let field: string;
  if (sc?.runAsUsername) {
    [userPart, field] = [sc.runAsUsername, `${SC}.run_as_username`];
  } else if (sc?.runAsUser) {
    [userPart, field] = [String(idOf(sc.runAsUser.value, `${SC}.run_as_user.value`)), `${SC}.run_as_user`];
  } else {
    if (sc?.runAsGroup) throw invalid(`${SC}.run_as_group`, 'is set without run_as_user or run_as_username');
    const i = image.user.indexOf(':');
    [userPart, groupPart, field] = i < 0 ? [image.user, undefined, IMAGE_USER] : [image.user.slice(0, i), image.user.slice(i + 1), IMAGE_USER];
    if (userPart === '') userPart = '0';
  }

  let entry: PasswdEntry | undefined;
  let uid = numericId(userPart);
  let gid: number;
  if (uid !== undefined) {
    entry = users().find((u) => u.uid === uid);
    gid = entry?.gid ?? 0;
  } else {
    entry = users().find((u) => u.name === userPart);
    if (!entry) throw invalid(field, `user "${userPart}" is not in the image's /etc/passwd`);
    ({ uid, gid } = entry);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = numericId(groupPart) ?? groupDb().find((x) => x.name === groupPart)?.gid;
    if (g === undefined) throw invalid(field, `group "${groupPart}" is not in the image's /etc/group`);
    gid = g;
  }
  if (sc?.runAsGroup) gid = idOf(sc.runAsGroup.value, `${SC}.run_as_group.value`);

  const extra = new Set<number>();
  const username = entry?.name ?? (numericId(userPart) === undefined ? userPart : undefined);
  if ((sc?.supplementalGroupsPolicy ?? 'Merge') === 'Merge' && username !== undefined) {
    // The group named after the user is its primary one, not a supplemental one (containerd skips it too).
    for (const g of groupDb()) if (g.name !== username && g.members.includes(username)) extra.add(g.gid);
  }
  (sc?.supplementalGroups ?? []).forEach((g, i) => extra.add(idOf(g, `${SC}.supplemental_groups[${i}]`)));
  return {
    uid,
    gid,
    // The primary group leads the list, as containerd reports it (ContainerStatus.user) and sets it.
    additionalGids: [gid, ...[...extra].filter((g) => g !== gid).sort((a, b) => a - b)],
    ...(entry?.home ? { home: entry.home } : {}),
    ...(username !== undefined ? { username } : {}),
  };
}
