/**
 * What a test file leaves for the very end: temp directories made by the suites' tempDir() helpers and tasks
 * such as restoring /run/netns. Suites still clean up in their own afterAll hooks; whatever is registered here
 * and still present when the file is done (its last hook ran, passed or failed) is removed by the test
 * environment (test/helpers/environment.ts), so a failing or forgetful suite cannot leave temp dirs behind.
 *
 * The registry lives on the test file's global object, which the environment can read from outside.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Every entry below `root`, down to `maxDepth` levels (1: its children only), in walk order. Directories are
 * descended unless `descend` says no; unreadable ones are skipped (they vanish under concurrent work).
 */
export function entriesBelow(root: string, maxDepth: number, descend: (p: string) => boolean = () => true): { path: string; dir: boolean }[] {
  const out: { path: string; dir: boolean }[] = [];
  const walk = (dir: string, level: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      out.push({ path: p, dir: e.isDirectory() });
      if (e.isDirectory() && level < maxDepth && descend(p)) walk(p, level + 1);
    }
  };
  walk(root, 1);
  return out;
}

export const FINAL_CLEANUP_KEY = '__berthFinalCleanup';

export interface FinalCleanup {
  tempDirs: Set<string>;
  tasks: Array<{ name: string; run: () => void | Promise<void> }>;
}

type WithRegistry = { [FINAL_CLEANUP_KEY]?: FinalCleanup };

function registry(): FinalCleanup {
  const g = globalThis as WithRegistry;
  g[FINAL_CLEANUP_KEY] ??= { tempDirs: new Set(), tasks: [] };
  return g[FINAL_CLEANUP_KEY];
}

/** Where each run lists the temp dirs its helpers made (see RUN_JOURNALS in leaks.ts): one file per run. */
export const RUN_JOURNALS = path.resolve(__dirname, '..', '..', 'build', 'test-runs');

export function trackTempDir(dir: string): void {
  registry().tempDirs.add(dir);
  // Lets the leak check of another run going on at the same time tell these dirs from its own.
  const run = process.env.BERTH_TEST_RUN;
  if (run) {
    try {
      fs.mkdirSync(RUN_JOURNALS, { recursive: true });
      fs.appendFileSync(path.join(RUN_JOURNALS, run), `${dir}\n`);
    } catch {
      // bookkeeping only
    }
  }
}

/** Runs `run` once the test file is done (after every afterAll), whatever happened; last registered runs first. */
export function atFileEnd(name: string, run: () => void | Promise<void>): void {
  registry().tasks.push({ name, run });
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Mount points at or below `dir` in this mount namespace, deepest first. */
export function mountPointsUnder(dir: string): string[] {
  let info = '';
  try {
    info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return info.split('\n').filter(Boolean).map((l) => unescapeMount(l.split(' ')[4]))
    .filter((m) => m === dir || m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * rm -rf that never crosses a mount: a tree with something mounted below it is left alone and reported (a
 * recursive delete would empty the mounted file system, e.g. a bind-mounted host directory). The mount
 * itself is the suite's leak to fix; the leak check (test/helpers/leaks.ts) lists it.
 * Returns a problem description, or undefined when the tree is gone.
 */
export function removeTree(dir: string): string | undefined {
  const mounted = mountPointsUnder(dir);
  if (mounted.length > 0) return `${dir} not removed: still mounted below it: ${mounted.join(', ')}`;
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    // A busy cgroup or a file a container still holds open can fail the first pass; one retry is enough.
    spawnSync('sync');
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      return `${dir} not removed: ${(err as Error).message}`;
    }
  }
  return undefined;
}

/** Removes the given temp dirs (dropping them from the registry); throws once, after trying all, if any stayed. */
export function removeTempDirs(dirs: string[]): void {
  const problems: string[] = [];
  for (const d of dirs) {
    registry().tempDirs.delete(d);
    const p = removeTree(d);
    if (p) problems.push(p);
  }
  if (problems.length > 0) throw new Error(`temp dirs left behind:\n  ${problems.join('\n  ')}`);
}

/** The environment's part: tasks (newest first), then every registered temp dir still there. Never throws. */
export async function runFinalCleanup(reg: FinalCleanup | undefined): Promise<string[]> {
  if (!reg) return [];
  const problems: string[] = [];
  for (const t of reg.tasks.splice(0).reverse()) {
    try {
      await t.run();
    } catch (err) {
      problems.push(`${t.name}: ${(err as Error).message}`);
    }
  }
  // Parents before children does not matter for rm -rf; sorting just makes the report stable.
  for (const d of [...reg.tempDirs].sort()) {
    reg.tempDirs.delete(d);
    if (!fs.existsSync(d)) continue;
    const p = removeTree(path.resolve(d));
    if (p) problems.push(p);
  }
  return problems;
}
