/**
 * The stack under a host root (src/agent/install/stack.ts): copy with a manifest, reuse of a complete copy,
 * replacement of an incomplete one, leftovers of a crash mid-copy, the `current` switch, the switch back when
 * the new version is unhealthy, and pruning. The source is a small tree shaped like build/ (bin/, lib/), plus
 * one run over the real build/ to show the bundles' mtimes (their V8 code cache key) survive the copy.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostView, layoutOf, type Layout } from '../../src/agent/install/layout';
import { currentVersion, installedVersions, installStack, MANIFEST, previousVersion, pruneStacks, rolloutStack, switchCurrent, verifyStack } from '../../src/agent/install/stack';
import { BerthError } from '../../src/common/errors';
import { cleanupTempDirs, tempDir } from '../image/helpers';

const REPO = path.resolve(__dirname, '..', '..');

let work: string;
let layout: Layout;
let source: string;

function makeSource(dir: string, tag: string): string {
  fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'bin', 'berthd'), `#!/bin/sh\necho ${tag}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'lib', 'berthd.js'), `// ${tag}\n${'x'.repeat(5000)}\n`);
  fs.symlinkSync('berthd', path.join(dir, 'bin', 'berthd-alias'));
  // build/ holds more than the stack: not copied.
  fs.mkdirSync(path.join(dir, 'bench'));
  fs.writeFileSync(path.join(dir, 'bench', 'cri.json'), '{}');
  return dir;
}

beforeEach(() => {
  work = tempDir('berth-agent-stack-');
  layout = layoutOf(hostView(path.join(work, 'host'), 'direct'));
  fs.mkdirSync(layout.view.hostRoot);
  source = makeSource(path.join(work, 'src-a'), 'a');
});

afterAll(() => cleanupTempDirs());

const healthy = async () => ({ healthy: true, message: 'ok' });

test('install copies bin/ and lib/ into /opt/berth/<version> with modes, links and a manifest that verifies', () => {
  const r = installStack(layout, '1.0.0', source);
  expect(r).toMatchObject({ version: '1.0.0', reused: false, replaced: '' });
  expect(r.dir).toBe(path.join(layout.view.hostRoot, 'opt/berth/1.0.0'));
  expect(fs.readFileSync(path.join(r.dir, 'bin/berthd'), 'utf8')).toBe('#!/bin/sh\necho a\n');
  expect(fs.statSync(path.join(r.dir, 'bin/berthd')).mode & 0o777).toBe(0o755);
  expect(fs.readlinkSync(path.join(r.dir, 'bin/berthd-alias'))).toBe('berthd');
  expect(fs.statSync(path.join(r.dir, 'lib/berthd.js')).mtimeMs).toBe(fs.statSync(path.join(source, 'lib/berthd.js')).mtimeMs);
  const manifest = JSON.parse(fs.readFileSync(path.join(r.dir, MANIFEST), 'utf8'));
  expect(manifest.version).toBe('1.0.0');
  expect(manifest.entries.map((e: { path: string }) => e.path).sort()).toEqual(['bin', 'bin/berthd', 'bin/berthd-alias', 'lib', 'lib/berthd.js']);
  expect(verifyStack(r.dir, '1.0.0')).toEqual({ complete: true, why: '' });
  // Nothing else was left in /opt/berth.
  expect(fs.readdirSync(layout.agent.stacks)).toEqual(['1.0.0']);
});

test('a complete copy is reused as it is; a changed or truncated one is replaced', () => {
  const first = installStack(layout, '1.0.0', source);
  const inode = fs.statSync(path.join(first.dir, 'lib/berthd.js')).ino;
  expect(installStack(layout, '1.0.0', source)).toMatchObject({ reused: true });
  expect(fs.statSync(path.join(first.dir, 'lib/berthd.js')).ino).toBe(inode);

  // Same size, other bytes: only the hash tells.
  const js = path.join(first.dir, 'lib/berthd.js');
  const text = fs.readFileSync(js, 'utf8');
  fs.writeFileSync(js, text.replace('// a', '// b'));
  expect(verifyStack(first.dir).why).toBe('lib/berthd.js does not match its sha256');
  const again = installStack(layout, '1.0.0', source);
  expect(again).toMatchObject({ reused: false, replaced: 'lib/berthd.js does not match its sha256' });
  expect(fs.readFileSync(js, 'utf8')).toBe(text);

  fs.truncateSync(path.join(first.dir, 'bin/berthd'), 3);
  expect(installStack(layout, '1.0.0', source).replaced).toMatch(/^bin\/berthd has 3 bytes/);
  fs.rmSync(path.join(first.dir, MANIFEST));
  expect(installStack(layout, '1.0.0', source).replaced).toBe(`${MANIFEST}: ENOENT`);
  expect(verifyStack(first.dir, '1.0.0').complete).toBe(true);
});

test('a crash mid-copy leaves only a temp dir, which the next install removes; a version dir without manifest is not trusted', () => {
  // What a killed agent leaves: a temp dir with part of the files, and no version dir.
  const leftover = path.join(layout.agent.stacks, `.1.0.0.tmp-99999-deadbeef`);
  fs.mkdirSync(path.join(leftover, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(leftover, 'bin/berthd'), '#!/bin/sh\n');
  expect(installedVersions(layout)).toEqual([]);
  expect(() => switchCurrent(layout, '1.0.0')).toThrow(BerthError);

  // A dir under the final name that some other copy left half done.
  const half = path.join(layout.agent.stacks, '1.0.0');
  fs.mkdirSync(path.join(half, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(half, 'bin/berthd'), 'half');
  expect(() => switchCurrent(layout, '1.0.0')).toThrow(/not complete \(\.berth-manifest\.json: ENOENT\)/);

  const r = installStack(layout, '1.0.0', source);
  expect(r.replaced).toBe(`${MANIFEST}: ENOENT`);
  expect(fs.existsSync(leftover)).toBe(false);
  expect(fs.readdirSync(layout.agent.stacks)).toEqual(['1.0.0']);
  expect(verifyStack(r.dir, '1.0.0').complete).toBe(true);
});

test('switch: current then previous, atomically by rename (only links and versions in /opt/berth); the same version is no change', () => {
  installStack(layout, '1.0.0', source);
  installStack(layout, '2.0.0', makeSource(path.join(work, 'src-b'), 'b'));
  expect(switchCurrent(layout, '1.0.0')).toBeUndefined();
  expect(currentVersion(layout)).toBe('1.0.0');
  expect(fs.readlinkSync(path.join(layout.agent.stacks, 'current'))).toBe('1.0.0');
  expect(switchCurrent(layout, '2.0.0')).toBe('1.0.0');
  expect([currentVersion(layout), previousVersion(layout)]).toEqual(['2.0.0', '1.0.0']);
  expect(fs.readFileSync(path.join(layout.agent.stacks, 'current/bin/berthd'), 'utf8')).toContain('echo b');
  expect(switchCurrent(layout, '2.0.0')).toBe('2.0.0');
  expect(previousVersion(layout)).toBe('1.0.0');
  expect(fs.readdirSync(layout.agent.stacks).sort()).toEqual(['1.0.0', '2.0.0', 'current', 'previous']);
  expect(() => switchCurrent(layout, '../x')).toThrow(/not a usable version name/);
});

test('rollout: upgrade keeps previous and prunes older ones; downgrade is the same operation; unchanged does nothing', async () => {
  const applied: string[] = [];
  const apply = async () => {
    applied.push(currentVersion(layout) ?? '-');
  };
  const srcB = makeSource(path.join(work, 'src-b'), 'b');
  const srcC = makeSource(path.join(work, 'src-c'), 'c');
  expect(await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply, healthy })).toMatchObject({ current: '1.0.0', switched: true, healthy: true, pruned: [] });
  expect(await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply, healthy })).toMatchObject({ current: '1.0.0', switched: false });
  expect(await rolloutStack({ layout, version: '2.0.0', sourceDir: srcB, apply, healthy })).toMatchObject({ current: '2.0.0', switched: true, pruned: [] });
  const up = await rolloutStack({ layout, version: '3.0.0', sourceDir: srcC, apply, healthy });
  expect(up).toMatchObject({ current: '3.0.0', switched: true, rolledBack: false, pruned: ['1.0.0'] });
  expect(installedVersions(layout)).toEqual(['2.0.0', '3.0.0']);
  // Downgrade: 2.0.0 is still there (previous): reused, switched to, 3.0.0 becomes previous.
  const down = await rolloutStack({ layout, version: '2.0.0', sourceDir: srcB, apply, healthy });
  expect(down).toMatchObject({ current: '2.0.0', switched: true, pruned: [] });
  expect(down.install.reused).toBe(true);
  expect(previousVersion(layout)).toBe('3.0.0');
  expect(applied).toEqual(['1.0.0', '2.0.0', '3.0.0', '2.0.0']);
});

test('rollout: an unhealthy new version is switched back (and applied again); the failed one goes at the next prune', async () => {
  const applied: string[] = [];
  const apply = async () => {
    applied.push(currentVersion(layout) ?? '-');
  };
  await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply, healthy });
  await rolloutStack({ layout, version: '2.0.0', sourceDir: makeSource(path.join(work, 'src-b'), 'b'), apply, healthy });
  const bad = await rolloutStack({
    layout, version: '3.0.0', sourceDir: makeSource(path.join(work, 'src-c'), 'c'), apply,
    healthy: async () => (currentVersion(layout) === '3.0.0' ? { healthy: false, message: 'RuntimeReady is false' } : { healthy: true, message: 'ok' }),
  });
  expect(bad).toMatchObject({ current: '2.0.0', rolledBack: true, healthy: true });
  expect(bad.message).toMatch(/stack 3\.0\.0 was not healthy \(RuntimeReady is false\); switched back to 2\.0\.0/);
  expect([currentVersion(layout), previousVersion(layout)]).toEqual(['2.0.0', '1.0.0']);
  expect(applied).toEqual(['1.0.0', '2.0.0', '3.0.0', '2.0.0']);
  expect(pruneStacks(layout)).toEqual(['3.0.0']);
  expect(installedVersions(layout)).toEqual(['1.0.0', '2.0.0']);
});

test('rollout: an agent killed between switch and verdict leaves the switch unconfirmed; the next one judges it and switches back', async () => {
  await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply: async () => undefined, healthy });
  const srcB = makeSource(path.join(work, 'src-b'), 'b');
  // The first agent dies in apply(), after switching.
  await expect(rolloutStack({ layout, version: '2.0.0', sourceDir: srcB, apply: async () => { throw new Error('killed'); }, healthy })).rejects.toThrow('killed');
  expect(currentVersion(layout)).toBe('2.0.0');
  const next = await rolloutStack({ layout, version: '2.0.0', sourceDir: srcB, apply: async () => undefined, healthy: async () => ({ healthy: currentVersion(layout) !== '2.0.0', message: 'no' }) });
  expect(next).toMatchObject({ current: '1.0.0', rolledBack: true });
  // Confirmed state after the way back: a rollout to 1.0.0 is no change.
  expect(await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply: async () => undefined, healthy })).toMatchObject({ switched: false });
});

test('the first install has nothing to go back to: it stays current, reported unhealthy', async () => {
  const r = await rolloutStack({ layout, version: '1.0.0', sourceDir: source, apply: async () => undefined, healthy: async () => ({ healthy: false, message: 'nope' }) });
  expect(r).toMatchObject({ current: '1.0.0', healthy: false, rolledBack: false });
  expect(r.message).toMatch(/no version to go back to: nope/);
});

test('the real build/ installs and verifies; its bundles keep their mtimes (the V8 code cache key)', () => {
  const build = path.join(REPO, 'build');
  if (!fs.existsSync(path.join(build, 'bin', 'berthd'))) throw new Error('build/bin/berthd is missing: run npm run build');
  const r = installStack(layout, '0.1.0', build);
  for (const f of ['bin/berthd', 'lib/berthd.js', 'lib/berthd.js.cache', 'bin/berth-monitor']) {
    expect(fs.statSync(path.join(r.dir, f)).mtimeMs).toBe(fs.statSync(path.join(build, f)).mtimeMs);
    expect(fs.statSync(path.join(r.dir, f)).mode).toBe(fs.statSync(path.join(build, f)).mode);
  }
  expect(verifyStack(r.dir, '0.1.0').complete).toBe(true);
});
