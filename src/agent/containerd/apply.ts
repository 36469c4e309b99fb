/**
 * Runtime handlers on a node whose CRI is still containerd: the files planHandlers() asks for are written
 * atomically, containerd is restarted only when a byte it reads changed, and it must then be healthy over CRI
 * with exactly the expected handlers; otherwise every file gets its previous bytes back, containerd is
 * restarted once more, and the error names the handlers. How containerd is restarted (systemd over D-Bus, or
 * the host's systemctl with --service-manager direct) and how its health is judged are the caller's: see health.ts for the CRI one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syncDir, writeFileAtomic } from '../../common/atomic';
import { BerthError } from '../../common/errors';
import { decodeBackup, encodeBackup, type ConfigBackup } from './backup';
import type { ContainerdHandler } from './dropin';
import { planHandlers, type ObservedFiles } from './plan';
import { defaultConfigVersion, layoutFor, type ContainerdVersion } from './version';

/** What containerd must show after a restart: these handlers served, those gone. */
export interface HandlerExpectation {
  readonly present: readonly string[];
  readonly absent: readonly string[];
}

export interface HealthReport {
  readonly ok: boolean;
  readonly message: string;
}

export interface ContainerdTarget {
  /** containerd's main config (`--config`), as the agent sees it. */
  readonly configPath: string;
  /** Where Berth's drop-ins go, as the agent sees it (containerd 2.x reads them through an `imports` glob naming them). */
  readonly dropInDir: string;
  /** The same directory as containerd sees it, for the `imports` glob (in the DaemonSet: without /host); default dropInDir. */
  readonly hostDropInDir?: string;
  /** The original main config's backup; default `<configPath>.berth-backup.json`. */
  readonly backupPath?: string;
  readonly version: ContainerdVersion;
  restart(): Promise<void>;
  /** One probe; polled after a restart until ok or `healthTimeoutMs`. Should not throw (a throw counts as not ok). */
  healthy(expect: HandlerExpectation): Promise<HealthReport>;
  /** Default 60 s: containerd with many containers takes a while to reload its state. */
  readonly healthTimeoutMs?: number;
  readonly pollMs?: number;
}

export interface ApplyResult {
  /** Some file changed (the backup included). */
  readonly changed: boolean;
  readonly restarted: boolean;
  /** The handlers Berth has configured in containerd now. */
  readonly handlers: readonly string[];
}

/** The `imports` entry for Berth's drop-ins; only Berth's own files match it. */
export const dropInGlob = (dropInDir: string): string => path.join(dropInDir, 'berth-*.toml');
const backupPathOf = (t: Pick<ContainerdTarget, 'configPath' | 'backupPath'>): string => t.backupPath ?? `${t.configPath}.berth-backup.json`;
type FilesOf = Pick<ContainerdTarget, 'configPath' | 'dropInDir' | 'hostDropInDir' | 'backupPath' | 'version'>;
const planOptions = (t: FilesOf) => ({ layout: layoutFor(t.version), defaultVersion: defaultConfigVersion(t.version), glob: dropInGlob(t.hostDropInDir ?? t.dropInDir), configPath: t.configPath });

function readIfExists(file: string): { data: Buffer; mode: number } | undefined {
  try {
    return { data: fs.readFileSync(file), mode: fs.statSync(file).mode & 0o7777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function observe(t: FilesOf): ObservedFiles {
  const main = readIfExists(t.configPath);
  const dropIns = new Map<string, Buffer>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(t.dropInDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const n of names.filter((x) => x.endsWith('.toml')).sort()) {
    const f = readIfExists(path.join(t.dropInDir, n));
    if (f) dropIns.set(n, f.data);
  }
  const b = readIfExists(backupPathOf(t));
  const backup: ConfigBackup | undefined = b ? decodeBackup(b.data.toString('utf8'), backupPathOf(t)) : undefined;
  return { main: main?.data, ...(main ? { mainMode: main.mode } : {}), dropIns, backup };
}

/** One file's change: its bytes before and after (undefined: no file). */
interface Change {
  readonly file: string;
  readonly before: { data: Buffer; mode: number } | undefined;
  readonly after: Buffer | undefined;
  readonly mode: number;
  /** containerd reads it (the backup it does not). */
  readonly read: boolean;
}

function put(file: string, data: Buffer | undefined, mode: number): void {
  if (data === undefined) {
    try {
      fs.rmSync(file);
      syncDir(path.dirname(file));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  writeFileAtomic(file, data, mode);
  // writeFileAtomic creates the file with `mode` minus the umask: the original's mode comes back exactly.
  fs.chmodSync(file, mode);
}

/**
 * The changes in the order that keeps every moment consistent: the backup before the main config is first
 * edited, drop-ins before the import that names them (a glob never dangles anyway), removals last, the
 * backup's removal after the original is back.
 */
function changesFor(t: ContainerdTarget, desired: readonly ContainerdHandler[]): { changes: Change[]; before: readonly string[]; after: readonly string[] } {
  const o = observe(t);
  const plan = planHandlers(desired, o, planOptions(t));
  const changes: Change[] = [];
  const bp = backupPathOf(t);
  const backupBefore = readIfExists(bp);
  const backupAfter = plan.backup ? (o.backup ? backupBefore?.data : Buffer.from(encodeBackup(plan.backup))) : undefined;
  const differs = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b !== undefined : b === undefined || !a.equals(b));
  if (backupAfter && !backupBefore) changes.push({ file: bp, before: undefined, after: backupAfter, mode: 0o600, read: false });
  const dropIn = (name: string) => path.join(t.dropInDir, name);
  const dropInBefore = (name: string) => (o.dropIns.has(name) ? readIfExists(dropIn(name)) : undefined);
  for (const [name, data] of plan.dropIns) if (data) changes.push({ file: dropIn(name), before: dropInBefore(name), after: data, mode: 0o644, read: true });
  const mainBefore = o.main ? { data: o.main, mode: o.mainMode ?? 0o644 } : undefined;
  if (differs(o.main, plan.main)) {
    const restoring = plan.main !== undefined && o.backup?.content !== undefined && plan.main.equals(o.backup.content);
    const mode = restoring ? (o.backup?.mode ?? 0o644) : (o.mainMode ?? 0o644);
    changes.push({ file: t.configPath, before: mainBefore, after: plan.main, mode, read: true });
  }
  for (const [name, data] of plan.dropIns) if (!data) changes.push({ file: dropIn(name), before: dropInBefore(name), after: undefined, mode: 0o644, read: true });
  if (!backupAfter && backupBefore) changes.push({ file: bp, before: backupBefore, after: undefined, mode: 0o600, read: false });
  return { changes, before: plan.before, after: plan.after };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function restartAndWait(t: ContainerdTarget, expect: HandlerExpectation): Promise<HealthReport> {
  try {
    await t.restart();
  } catch (err) {
    return { ok: false, message: `restart failed: ${(err as Error).message}` };
  }
  const deadline = Date.now() + (t.healthTimeoutMs ?? 60_000);
  for (;;) {
    let r: HealthReport;
    try {
      r = await t.healthy(expect);
    } catch (err) {
      r = { ok: false, message: (err as Error).message };
    }
    if (r.ok || Date.now() >= deadline) return r;
    await sleep(t.pollMs ?? 250);
  }
}

/** Brings containerd's handlers to exactly `desired` (Berth's own; the node's other runtimes are left alone). */
export async function applyHandlers(desired: readonly ContainerdHandler[], t: ContainerdTarget): Promise<ApplyResult> {
  const { changes, before, after } = changesFor(t, desired);
  if (changes.length === 0) return { changed: false, restarted: false, handlers: after };
  const done: Change[] = [];
  try {
    for (const c of changes) {
      put(c.file, c.after, c.mode);
      done.push(c);
    }
  } catch (err) {
    putBack(done);
    throw new BerthError('Internal', `writing containerd's config: ${(err as Error).message} (the files were put back)`, { cause: err });
  }
  if (!changes.some((c) => c.read)) return { changed: true, restarted: false, handlers: after };

  const expect: HandlerExpectation = { present: after, absent: before.filter((h) => !after.includes(h)) };
  const health = await restartAndWait(t, expect);
  if (health.ok) return { changed: true, restarted: true, handlers: after };

  putBack(changes);
  const back = await restartAndWait(t, { present: before, absent: after.filter((h) => !before.includes(h)) });
  const culprits = culpritsOf(changes, before, after, t.dropInDir);
  throw new BerthError('Unavailable', `containerd was not healthy after configuring handler${culprits.length === 1 ? '' : 's'} ${culprits.join(', ')}: ${health.message}; `
    + (back.ok ? 'its previous configuration is back and it is healthy again' : `its previous configuration is back, but it is not healthy either: ${back.message}`));
}

/** Every file as it was before, newest change first. */
function putBack(changes: readonly Change[]): void {
  for (const c of [...changes].reverse()) put(c.file, c.before?.data, c.before?.mode ?? c.mode);
}

/** The handlers a failed change was about: those added, removed, or whose drop-in changed; else all of them. */
function culpritsOf(changes: readonly Change[], before: readonly string[], after: readonly string[], dropInDir: string): string[] {
  const touched = changes.filter((c) => path.dirname(c.file) === dropInDir).map((c) => path.basename(c.file).replace(/^berth-(.*)\.toml$/, '$1'));
  const named = [...new Set([...touched, ...after.filter((h) => !before.includes(h)), ...before.filter((h) => !after.includes(h))])].sort();
  return named.length ? named : [...after];
}

/** The handlers Berth has configured in containerd now, as its files say (its own drop-ins or block). */
export function configuredHandlers(t: FilesOf): readonly string[] {
  return planHandlers([], observe(t), planOptions(t)).before;
}

/** Uninstall: every drop-in Berth wrote and its `imports` entry or block gone, the original main config back. */
export function removeAll(t: ContainerdTarget): Promise<ApplyResult> {
  return applyHandlers([], t);
}
