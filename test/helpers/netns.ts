/**
 * Network namespaces made with `ip netns add`, and /run/netns put back as it was. `ip netns add` creates
 * /run/netns when missing and turns it into a shared self-bind mount; `ip netns del` leaves both behind. The
 * first add in a test file records how /run/netns was; restoreRunNetns() (called by the suites' cleanup, and
 * at the file's end in any case) deletes the namespaces still there and, when /run/netns is empty, undoes
 * what the adds did: unmounts it if it was not a mount point, removes it if it did not exist.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { atFileEnd } from './cleanup';

const RUN_NETNS = '/run/netns';
const made = new Set<string>();
let before: { existed: boolean; mounted: boolean } | undefined;

function isMountPoint(dir: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === dir);
}

/** Records how /run/netns is now, once per file: for suites whose tools (ctr, a CNI runtime) make namespaces. */
export function rememberRunNetns(): void {
  if (before) return;
  before = { existed: fs.existsSync(RUN_NETNS), mounted: isMountPoint(RUN_NETNS) };
  atFileEnd('restore /run/netns', restoreRunNetns);
}

/** `ip netns add name`; returns the namespace's path (as /var/run/netns/NAME, the path CNI runtimes pass). */
export function addNetns(name: string): string {
  rememberRunNetns();
  execFileSync('ip', ['netns', 'add', name]);
  made.add(name);
  return `/var/run/netns/${name}`;
}

/** `ip netns del name`, ignoring one that is gone already. */
export function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  made.delete(name);
}

export function restoreRunNetns(): void {
  for (const n of [...made]) deleteNetns(n);
  if (!before) return;
  const was = before;
  before = undefined;
  // Someone else's namespaces in it (another suite, another user): leave /run/netns alone.
  if (!fs.existsSync(RUN_NETNS) || fs.readdirSync(RUN_NETNS).length > 0) return;
  if (!was.mounted && isMountPoint(RUN_NETNS)) {
    // Not lazy: a busy mount means it is in use, and then it stays.
    const r = spawnSync('umount', [RUN_NETNS], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`umount ${RUN_NETNS}: ${r.stderr.trim()}`);
  }
  if (!was.existed && !isMountPoint(RUN_NETNS)) fs.rmdirSync(RUN_NETNS);
}
