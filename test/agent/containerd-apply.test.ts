/**
 * applyHandlers() against REAL containerds: Debian's 1.6 (hack/deps) and 2.x (hack/peers), each a plain process
 * of this suite with its own root, state, socket and main config under a temp dir, restarted by PID. After each
 * step the CRI says what containerd really loaded (crictl info from hack/peers), and a pod sandbox run through
 * the new handler shows that containerd used its BinaryName (Debian's runc) with its Root. Then: the same set
 * again restarts nothing, a changed root restarts once, a containerd that does not come back gets every file's
 * previous bytes and is running again, and removing the handler leaves the original config byte for byte.
 */
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { applyHandlers, type ContainerdTarget } from '../../src/agent/containerd/apply';
import { BLOCK_BEGIN } from '../../src/agent/containerd/inline-block';
import { importsOf } from '../../src/agent/containerd/imports';
import { criHealth } from '../../src/agent/containerd/health';
import { readContainerdVersion, type ContainerdVersion } from '../../src/agent/containerd/version';
import type { ContainerdHandler } from '../../src/agent/containerd/dropin';
import { BerthError } from '../../src/common/errors';
import { atFileEnd } from '../helpers/cleanup';
import type { ContainerdBinaries } from '../helpers/containerd';
import { CriContainerd, peerFiles, RUNC, snapshotFiles } from '../helpers/cri-containerd';
import { removeCgroupDirs } from '../helpers/oci';
import { cleanupTempDirs, tempDir } from '../image/helpers';

jest.setTimeout(180_000);

const REPO = path.resolve(__dirname, '..', '..');
const PID = process.pid;
const CGROUP_PARENT = `berth-ctrd-apply-${PID}`;
const PAUSE_REF = `berth.test/pause-${PID}:latest`;
const CRI_NS = 'k8s.io';

/** One containerd of the suite, with what applyHandlers() is given and the pods run through it. */
class Daemon extends CriContainerd {
  readonly dropInDir: string;
  readonly sandboxes = new Set<string>();

  constructor(readonly install: ContainerdBinaries, dir: string, crictl: string) {
    super({ ...install, crictl }, dir);
    this.dropInDir = path.join(dir, 'etc', 'berth.d');
  }

  /** What applyHandlers() gets: restart = stop by PID and start again, counted. */
  target(version: ContainerdVersion, extra: Partial<ContainerdTarget> = {}): ContainerdTarget {
    return {
      configPath: this.configPath, dropInDir: this.dropInDir, version, healthy: criHealth(this.socket), healthTimeoutMs: 20_000, pollMs: 200,
      restart: this.restart,
      ...extra,
    };
  }

  ctr(args: string[]): void {
    const r = spawnSync(this.install.ctr, ['-a', this.socket, '-n', CRI_NS, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: path.join(this.dir, 'tmp') } });
    if (r.status !== 0) throw new Error(`ctr ${args.join(' ')} → ${r.status}: ${r.stderr}`);
  }

  /** The fixture's static pause image, under the name the config pins as sandbox image. */
  importPause(): void {
    const tar = path.join(this.dir, 'pause.tar');
    const t = spawnSync('tar', ['-C', path.join(REPO, '.fixtures', 'pause-layout'), '--exclude=./.complete', '-cf', tar, '.'], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    this.ctr(['images', 'import', '--base-name', PAUSE_REF.replace(/:latest$/, ''), tar]);
  }

  /** A host-network pod sandbox through `handler`; returns its id. */
  runPod(handler: string): string {
    const pod = path.join(this.dir, `pod-${handler}.json`);
    fs.writeFileSync(pod, JSON.stringify({
      metadata: { name: `p-${handler}`, namespace: 'default', uid: crypto.randomUUID(), attempt: 0 },
      log_directory: path.join(this.dir, 'pod-logs'),
      linux: { cgroup_parent: `/${CGROUP_PARENT}`, security_context: { namespace_options: { network: 2 } } },
    }));
    const id = this.crictl(['runp', '--runtime', handler, pod]).trim();
    this.sandboxes.add(id);
    return id;
  }

  removePod(id: string): void {
    this.crictl(['stopp', id]);
    this.crictl(['rmp', id]);
    this.sandboxes.delete(id);
  }

  /** Everything the daemon and its shims made, whatever state the tests left: pods, daemon, shims, mounts, cgroups. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    const step = async (what: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${this.install.label} ${what}: ${(err as Error).message}`);
      }
    };
    if (this.running) {
      for (const id of this.sandboxes) await step(`pod ${id}`, () => this.removePod(id));
    }
    await step('daemon', () => this.stop());
    await step('shims', async () => {
      this.killShims();
      for (const id of this.sandboxes) {
        fs.rmSync(path.join('/run/containerd/s', crypto.createHash('sha256').update(path.join(this.socket, CRI_NS, id)).digest('hex')), { force: true });
      }
    });
    await step('mounts', () => {
      const left = this.unmountAll();
      if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
    });
    return problems;
  }
}

const daemons: Daemon[] = [];
let tools: { crictl: string; installs: ContainerdBinaries[] } | undefined;

beforeAll(() => {
  const need = peerFiles();
  for (const f of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/containerd-shim-runc-v2', RUNC]) {
    if (!fs.existsSync(f)) throw new Error(`${f} is missing: hack/deps installs containerd and runc`);
  }
  if (!fs.existsSync(path.join(REPO, '.fixtures', 'pause-layout', 'index.json'))) throw new Error('.fixtures/pause-layout is missing: run hack/fixtures');
  tools = {
    crictl: need('crictl'),
    installs: [
      { label: 'containerd 1.6 (Debian)', containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', shimDir: '/usr/bin' },
      { label: 'containerd 2.x (hack/peers)', containerd: need('containerd'), ctr: need('ctr'), shimDir: path.dirname(need('containerd-shim-runc-v2')) },
    ],
  };
});

async function cleanupAll(): Promise<void> {
  const problems: string[] = [];
  for (const d of daemons.splice(0)) problems.push(...await d.cleanup());
  removeCgroupDirs(CGROUP_PARENT);
  cleanupTempDirs();
  if (problems.length) throw new Error(problems.join('\n'));
}
afterAll(cleanupAll, 120_000);
atFileEnd('containerd daemons of containerd-apply.test.ts', cleanupAll);

describe.each<[string, number]>([['1.6 (Debian)', 0], ['2.x (hack/peers)', 1]])('applyHandlers on a real containerd %s', (_label, which) => {
  let d: Daemon;
  let version: ContainerdVersion;
  let original: string;
  const fastRoot = () => path.join(d.dir, 'fast-root');
  const fast = (root: string): ContainerdHandler => ({ handler: 'fast', binaryName: RUNC, root, systemdCgroup: false });

  beforeAll(async () => {
    const install = tools!.installs[which];
    d = new Daemon(install, tempDir('berth-ctrd-apply-'), tools!.crictl);
    daemons.push(d);
    version = await readContainerdVersion(install.containerd);
    expect(version.major).toBe(which === 0 ? 1 : 2);
    original = d.writeConfig(version.major, { sandboxImage: PAUSE_REF });
    await d.start();
    const h = await criHealth(d.socket)({ present: ['runc'], absent: ['fast'] });
    expect(h).toMatchObject({ ok: true });
    d.importPause();
  });

  test('a new handler: one restart, containerd serves it with our BinaryName and Root, a pod runs through it', async () => {
    const r = await applyHandlers([fast(fastRoot())], d.target(version));
    expect(r).toEqual({ changed: true, restarted: true, handlers: ['fast'] });
    expect(d.restarts).toBe(1);
    const rt = d.runtimes();
    expect(rt.fast).toMatchObject({ runtimeType: 'io.containerd.runc.v2', options: { BinaryName: RUNC, Root: fastRoot() } });
    // The node's own settings survived: its runc handler, and (below) its pinned sandbox image.
    expect(rt.runc?.options).toMatchObject({ BinaryName: RUNC, Root: path.join(d.dir, 'runc-root') });
    const main = fs.readFileSync(d.configPath, 'utf8');
    if (version.major >= 2) {
      expect(main.replace(/^imports = .*\n/m, '')).toBe(original);
      expect(importsOf(main)).toEqual([path.join(d.dropInDir, 'berth-*.toml')]);
      expect(fs.readdirSync(d.dropInDir)).toEqual(['berth-fast.toml']);
    } else {
      expect(main.startsWith(original)).toBe(true);
      expect(main.slice(original.length).startsWith(BLOCK_BEGIN)).toBe(true);
    }
    // runc keeps a container's state in <--root>/<namespace>/<id>: the sandbox ran through our runc with our Root.
    const id = d.runPod('fast');
    expect(fs.existsSync(path.join(fastRoot(), CRI_NS, id))).toBe(true);
    expect(JSON.parse(d.crictl(['inspectp', id])).status.runtimeHandler).toBe('fast');
    d.removePod(id);
  });

  test('the same handlers again: nothing written, no restart', async () => {
    const before = snapshotFiles(path.dirname(d.configPath));
    const r = await applyHandlers([fast(fastRoot())], d.target(version));
    expect(r).toEqual({ changed: false, restarted: false, handlers: ['fast'] });
    expect(d.restarts).toBe(1);
    expect(snapshotFiles(path.dirname(d.configPath))).toEqual(before);
  });

  test('a changed root: exactly one restart, and containerd has the new root', async () => {
    const r = await applyHandlers([fast(`${fastRoot()}-2`)], d.target(version));
    expect(r.restarted).toBe(true);
    expect(d.restarts).toBe(2);
    expect(d.runtimes().fast?.options?.Root).toBe(`${fastRoot()}-2`);
  });

  test('containerd does not come back: every file gets its previous bytes, containerd runs again, the error names the handler', async () => {
    const before = snapshotFiles(path.dirname(d.configPath));
    d.nextStartArgs = ['--log-level', 'no-such-level'];
    const restartsBefore = d.restarts;
    let err: unknown;
    try {
      await applyHandlers([fast(`${fastRoot()}-2`), { handler: 'second', binaryName: RUNC, systemdCgroup: false }], d.target(version, { healthTimeoutMs: 5000 }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).kind).toBe('Unavailable');
    expect((err as BerthError).message).toMatch(/handler second: [\s\S]*; its previous configuration is back and it is healthy again$/);
    expect(d.restarts).toBe(restartsBefore + 2);
    expect(snapshotFiles(path.dirname(d.configPath))).toEqual(before);
    expect(d.running).toBe(true);
    expect(Object.keys(d.runtimes()).sort()).toEqual(['fast', 'runc']);
  });

  test('no handlers: our drop-in, import or block and backup gone, the original config back byte for byte, the handler no longer served', async () => {
    const r = await applyHandlers([], d.target(version));
    expect(r).toEqual({ changed: true, restarted: true, handlers: [] });
    expect(d.restarts).toBe(5);
    expect(fs.readFileSync(d.configPath, 'utf8')).toBe(original);
    expect((fs.statSync(d.configPath).mode & 0o777).toString(8)).toBe('640');
    expect(fs.existsSync(`${d.configPath}.berth-backup.json`)).toBe(false);
    expect(fs.existsSync(d.dropInDir) ? fs.readdirSync(d.dropInDir) : []).toEqual([]);
    expect(Object.keys(d.runtimes()).sort()).toEqual(['runc']);
  });
});

test('why 1.6 gets a block, not a drop-in: an imported CRI table replaces the main config\'s whole CRI section', () => {
  const dir = tempDir('berth-ctrd-why-');
  fs.writeFileSync(path.join(dir, 'main.toml'), `version = 2\nimports = ["${dir}/*.drop"]\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "${PAUSE_REF}"\n`);
  fs.writeFileSync(path.join(dir, 'a.drop'), 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.a]\n  runtime_type = "io.containerd.runc.v2"\n');
  const r = spawnSync(tools!.installs[0].containerd, ['--config', path.join(dir, 'main.toml'), 'config', 'dump'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.a]');
  // If Debian's containerd ever merges imports, this fails: then 1.6 could take drop-ins too.
  expect(r.stdout).not.toContain(PAUSE_REF);
});
