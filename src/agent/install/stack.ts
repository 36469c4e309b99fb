/**
 * The stack on the host: `/opt/berth/<version>/` (bin/, lib/ as the build has them), a `current` link the
 * services run from and a `previous` link to go back to.
 *
 * Crash safety: a version is copied into a temp dir beside its final place and renamed into place only once
 * complete, its manifest (every file's size and sha256) written last; a version dir whose manifest is missing
 * or does not match its files is not trusted and is copied again. Links are switched by renaming a new link
 * over the old one, so `current` always names a complete version.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { syncDir, writeFileAtomic } from '../../common/atomic';
import { BerthError, invalid } from '../../common/errors';
import { CURRENT_LINK, type Layout, PREVIOUS_LINK, validateVersion } from './layout';

export const MANIFEST = '.berth-manifest.json';
/** What of the source is the stack (build/ also holds bench results, test journals, tsc's cache). */
export const STACK_DIRS = ['bin', 'lib'] as const;

export interface ManifestEntry {
  /** Relative to the version dir, '/'-separated. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink';
  readonly mode?: number;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
}

export interface StackManifest {
  readonly version: string;
  readonly entries: readonly ManifestEntry[];
}

/** Temp dirs and links of ours (`.<name>.tmp-<pid>-<hex>`), left behind only by a crash. */
const TEMP = /^\..+\.tmp-\d+-[0-9a-f]+$/;
const tempName = (name: string): string => `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

function sha256Of(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/**
 * Copies the stack dirs of `src` into `dst` with `cp -a`: Node can set mtimes only to about a quarter of a
 * microsecond (a double of seconds), and the bundles' V8 code cache is keyed on their exact mtime.
 */
function copyStack(src: string, dst: string): void {
  fs.mkdirSync(dst, { mode: 0o755 });
  const dirs = STACK_DIRS.filter((d) => fs.existsSync(path.join(src, d))).map((d) => path.join(src, d));
  const r = spawnSync('cp', ['-a', '--', ...dirs, `${dst}/`], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new BerthError('Internal', `cp -a ${dirs.join(' ')} ${dst}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** The manifest of `dir` (its stack dirs), each file fsynced on the way so the copy is on disk before it. */
function manifestOf(dir: string, rel: string, out: ManifestEntry[]): void {
  const names = fs.readdirSync(path.join(dir, rel)).sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    if (!rel && !(STACK_DIRS as readonly string[]).includes(name)) continue;
    const p = path.join(dir, r);
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) out.push({ path: r, type: 'symlink', target: fs.readlinkSync(p) });
    else if (st.isDirectory()) {
      out.push({ path: r, type: 'dir', mode: st.mode & 0o7777 });
      manifestOf(dir, r, out);
    } else if (st.isFile()) {
      const fd = fs.openSync(p, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      out.push({ path: r, type: 'file', mode: st.mode & 0o7777, size: st.size, sha256: sha256Of(p) });
    }
  }
}

/** The copy holds what the source holds (a source changed during the copy, a full disk). */
function sameAsSource(src: string, entries: readonly ManifestEntry[]): string {
  for (const e of entries) {
    if (e.type !== 'file') continue;
    const p = path.join(src, e.path);
    if (fs.statSync(p).size !== e.size || sha256Of(p) !== e.sha256) return `${e.path} differs from ${p}`;
  }
  return '';
}

export interface Verdict {
  readonly complete: boolean;
  /** Why not, naming the first file that differs. */
  readonly why: string;
}

/** Whether `dir` holds exactly what its manifest says (sizes, hashes, link targets). */
export function verifyStack(dir: string, version?: string): Verdict {
  let m: StackManifest;
  try {
    m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST), 'utf8')) as StackManifest;
  } catch (err) {
    return { complete: false, why: `${MANIFEST}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  if (!m || !Array.isArray(m.entries)) return { complete: false, why: `${MANIFEST} has no entries` };
  if (version !== undefined && m.version !== version) return { complete: false, why: `${MANIFEST} is for version ${JSON.stringify(m.version)}` };
  for (const e of m.entries) {
    const p = path.join(dir, e.path);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return { complete: false, why: `${e.path} is missing` };
    }
    if (e.type === 'symlink') {
      if (!st.isSymbolicLink() || fs.readlinkSync(p) !== e.target) return { complete: false, why: `${e.path} is not the link to ${e.target}` };
    } else if (e.type === 'dir') {
      if (!st.isDirectory()) return { complete: false, why: `${e.path} is not a directory` };
    } else {
      if (!st.isFile() || st.size !== e.size) return { complete: false, why: `${e.path} has ${st.size} bytes, the manifest says ${e.size}` };
      if (sha256Of(p) !== e.sha256) return { complete: false, why: `${e.path} does not match its sha256` };
    }
  }
  return { complete: true, why: '' };
}

/** Removes what a crashed install or switch left in the stacks dir. */
function removeLeftovers(stacks: string): void {
  for (const name of fs.readdirSync(stacks)) {
    if (TEMP.test(name)) fs.rmSync(path.join(stacks, name), { recursive: true, force: true });
  }
}

export interface InstallResult {
  readonly version: string;
  /** The version dir as the agent sees it. */
  readonly dir: string;
  /** A complete copy was there already. */
  readonly reused: boolean;
  /** Why an existing dir was replaced (incomplete, tampered with); '' otherwise. */
  readonly replaced: string;
}

/** Puts the stack from `sourceDir` (bin/, lib/) at `/opt/berth/<version>/`, unless a complete copy is there. */
export function installStack(layout: Layout, version: string, sourceDir: string): InstallResult {
  validateVersion(version);
  if (!fs.existsSync(path.join(sourceDir, 'bin'))) throw invalid('stackSource', `${sourceDir} has no bin/ directory`);
  const stacks = layout.agent.stacks;
  fs.mkdirSync(stacks, { recursive: true, mode: 0o755 });
  removeLeftovers(stacks);
  const dir = layout.versionDir(version);
  let replaced = '';
  if (fs.existsSync(dir)) {
    const v = verifyStack(dir, version);
    if (v.complete) return { version, dir, reused: true, replaced: '' };
    replaced = v.why;
  }
  const tmp = path.join(stacks, tempName(version));
  try {
    const entries: ManifestEntry[] = [];
    copyStack(sourceDir, tmp);
    manifestOf(tmp, '', entries);
    const differs = sameAsSource(sourceDir, entries);
    if (differs) throw new Error(`the copy is not the source: ${differs}`);
    // Last: a dir with this file was copied completely.
    writeFileAtomic(path.join(tmp, MANIFEST), `${JSON.stringify({ version, entries } satisfies StackManifest, null, 1)}\n`, 0o644);
    if (replaced) {
      // Out of the way first (a rename), so that the name never holds a half-removed tree.
      const old = path.join(stacks, tempName(version));
      fs.renameSync(dir, old);
      fs.rmSync(old, { recursive: true, force: true });
    }
    fs.renameSync(tmp, dir);
    syncDir(stacks);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new BerthError('Internal', `installing stack ${version} into ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return { version, dir, reused: false, replaced };
}

function linkTarget(layout: Layout, name: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(path.join(layout.agent.stacks, name)));
  } catch {
    return undefined;
  }
}

export const currentVersion = (layout: Layout): string | undefined => linkTarget(layout, CURRENT_LINK);
export const previousVersion = (layout: Layout): string | undefined => linkTarget(layout, PREVIOUS_LINK);

/** Points `name` at `version` (relative, so it means the same from the agent and from the host). */
function setLink(layout: Layout, name: string, version: string | undefined): void {
  const stacks = layout.agent.stacks;
  const link = path.join(stacks, name);
  if (version === undefined) {
    fs.rmSync(link, { force: true });
  } else {
    const tmp = path.join(stacks, tempName(name));
    fs.symlinkSync(version, tmp);
    fs.renameSync(tmp, link);
  }
  syncDir(stacks);
}

/**
 * Makes `version` current; what was current becomes previous. Returns the old current (undefined on a first
 * install). Switching to the current version changes nothing.
 */
export function switchCurrent(layout: Layout, version: string): string | undefined {
  const dir = layout.versionDir(version);
  const v = verifyStack(dir, version);
  if (!v.complete) throw new BerthError('FailedPrecondition', `stack ${version} at ${dir} is not complete (${v.why}); install it first`);
  const old = currentVersion(layout);
  if (old === version) return old;
  if (old !== undefined) setLink(layout, PREVIOUS_LINK, old);
  setLink(layout, CURRENT_LINK, version);
  return old;
}

/** Version dirs present (complete or not), links and temp dirs excluded. */
export function installedVersions(layout: Layout): string[] {
  try {
    return fs.readdirSync(layout.agent.stacks, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** Removes every version other than current and previous; returns the removed ones. */
export function pruneStacks(layout: Layout): string[] {
  const keep = new Set([currentVersion(layout), previousVersion(layout)].filter((v): v is string => v !== undefined));
  const removed: string[] = [];
  for (const v of installedVersions(layout)) {
    if (keep.has(v)) continue;
    const old = path.join(layout.agent.stacks, tempName(v));
    fs.renameSync(path.join(layout.agent.stacks, v), old);
    fs.rmSync(old, { recursive: true, force: true });
    removed.push(v);
  }
  return removed;
}

// --- the switch with its way back ---------------------------------------------------------------------------

/** Holds the version switched to until it was found healthy, so that an agent killed meanwhile finishes the job. */
const UNCONFIRMED = '.unconfirmed';

function unconfirmed(layout: Layout): string | undefined {
  try {
    return fs.readFileSync(path.join(layout.agent.stacks, UNCONFIRMED), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface Health {
  readonly healthy: boolean;
  readonly message: string;
}

export interface RolloutOptions {
  readonly layout: Layout;
  readonly version: string;
  /** bin/, lib/: `build/` in tests, the image's stack dir in the DaemonSet. */
  readonly sourceDir: string;
  /** Makes the services run what `current` is now (restarts those whose binary changed). */
  readonly apply: () => Promise<void>;
  /** Waits (bounded) until the services are healthy or gives up. */
  readonly healthy: () => Promise<Health>;
}

export interface RolloutResult {
  /** The version current now. */
  readonly current: string;
  /** `current` was switched (and services applied) during this call. */
  readonly switched: boolean;
  /** The wanted version was unhealthy and the previous one was put back. */
  readonly rolledBack: boolean;
  readonly healthy: boolean;
  readonly message: string;
  readonly install: InstallResult;
  readonly pruned: readonly string[];
}

/**
 * Upgrade and downgrade alike: install `version`, switch `current` to it, apply, and keep it if healthy
 * (pruning all but current and previous) or switch back to the old one and apply again. When `version` is
 * current already and confirmed, nothing is switched or applied.
 */
export async function rolloutStack(o: RolloutOptions): Promise<RolloutResult> {
  const { layout, version } = o;
  const install = installStack(layout, version, o.sourceDir);
  const marker = path.join(layout.agent.stacks, UNCONFIRMED);
  const cur = currentVersion(layout);
  const pending = unconfirmed(layout);
  if (cur === version && pending !== version) {
    return { current: version, switched: false, rolledBack: false, healthy: true, message: `stack ${version} is current`, install, pruned: [] };
  }
  // A switch to `version` done by an agent that died before the verdict: its way back is `previous`.
  const back = cur === version ? previousVersion(layout) : cur;
  const previousBefore = cur === version ? undefined : previousVersion(layout);
  writeFileAtomic(marker, `${version}\n`, 0o644);
  if (cur !== version) switchCurrent(layout, version);
  await o.apply();
  const h = await o.healthy();
  if (h.healthy) {
    fs.rmSync(marker, { force: true });
    const pruned = pruneStacks(layout);
    return { current: version, switched: cur !== version, rolledBack: false, healthy: true, message: h.message, install, pruned };
  }
  if (back === undefined || back === version || !verifyStack(layout.versionDir(back), back).complete) {
    // Nothing to go back to: the wanted version stays, reported unhealthy (the next pass tries again).
    return { current: version, switched: cur !== version, rolledBack: false, healthy: false, message: `stack ${version} is not healthy and there is no version to go back to: ${h.message}`, install, pruned: [] };
  }
  setLink(layout, CURRENT_LINK, back);
  // `previous` names again what it named before this attempt, so the failed version is pruned next time.
  setLink(layout, PREVIOUS_LINK, previousBefore);
  fs.rmSync(marker, { force: true });
  await o.apply();
  const after = await o.healthy();
  return {
    current: back, switched: true, rolledBack: true, healthy: after.healthy,
    message: `stack ${version} was not healthy (${h.message}); switched back to ${back}${after.healthy ? '' : ` (not healthy either: ${after.message})`}`,
    install, pruned: [],
  };
}
