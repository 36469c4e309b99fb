/**
 * ContainerdNode against REAL containerds, Debian's 1.6 (hack/deps) and 2.x (hack/peers), each a plain process
 * of this suite whose host root, config, root, state and socket are in a temp dir, restarted by PID through the
 * injectable restart (the e2e test covers the real strategies). The config is not at containerd's default path,
 * so the node must find it on the running process's command line. A runc handler: containerd serves it (crictl
 * info) and observe() lists it; the canary passes; the same set again, or a new generation with the same
 * settings, restarts nothing; unconfigure removes it and leaves the config byte for byte as it was; a second
 * handler keeps the first, and uninstall removes both. Also: nodeSideFor()'s choice, and the direct restart
 * strategy through a host's systemctl.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { RuntimeHandler } from '../../src/agent/api/types';
import { ContainerdNode, CRI_HEALTHY } from '../../src/agent/node/containerd-node';
import { locateContainerd } from '../../src/agent/node/containerd-locate';
import { restartWithSystemctl } from '../../src/agent/node/host-units';
import { BerthdNode } from '../../src/agent/node/berthd-node';
import { ForeignCriNode } from '../../src/agent/node/foreign-cri-node';
import { hostExec, type HostExec } from '../../src/agent/node/host-exec';
import { nodeSideFor } from '../../src/agent/node/select';
import { BerthError } from '../../src/common/errors';
import { atFileEnd } from '../helpers/cleanup';
import { CriContainerd, peerFiles, RUNC, snapshotFiles } from '../helpers/cri-containerd';
import { cleanupTempDirs, tempDir } from '../image/helpers';

jest.setTimeout(120_000);

const REPO = path.resolve(__dirname, '..', '..');
const CANARY = path.join(REPO, 'build', 'bin', 'berth-canary');
const HANDLER = 'runc-node';
/** containerd as on a host, under the host root; its config at a non-default path. */
const HOST_LAYOUT = { socket: 'run/containerd/containerd.sock', config: 'etc/ctrd/config.toml', root: 'var/lib/containerd', state: 'run/containerd' };

/** The node's own config, and a network config, so that NetworkReady (part of CriHealthy, as kubelet judges a CRI) can be true. */
function writeNodeConfig(d: CriContainerd, major: number): string {
  const text = d.writeConfig(major);
  fs.mkdirSync(path.join(d.dir, 'cni/net.d'), { recursive: true });
  fs.writeFileSync(path.join(d.dir, 'cni/net.d/10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo', plugins: [{ type: 'loopback' }] }));
  return text;
}

const daemons: CriContainerd[] = [];
async function cleanupAll(): Promise<void> {
  for (const d of daemons.splice(0)) {
    await d.stop();
    d.killShims();
    d.unmountAll();
  }
  cleanupTempDirs();
}
afterAll(cleanupAll, 60_000);
atFileEnd('containerd of containerd-node.test.ts', cleanupAll);

const runcHandler = (generation: number): RuntimeHandler => ({
  metadata: { name: 'rh-runc', uid: 'uid-1', generation },
  spec: { handler: HANDLER, runtime: { type: 'runc' } },
} as unknown as RuntimeHandler);

describe.each<[string, number]>([['1.6 (Debian)', 1], ['2.x (hack/peers)', 2]])('ContainerdNode on a real containerd %s', (_label, major) => {
  let d: CriContainerd;
  let host: HostExec;
  let node: ContainerdNode;
  let original: string;
  const etc = () => path.dirname(d.configPath);
  const configure = (generation: number) => node.configure({ kind: 'configureHandler', handler: HANDLER, runtimeHandler: 'rh-runc', uid: 'uid-1', generation, runtime: { type: 'runc' } });

  beforeAll(async () => {
    const need = peerFiles();
    for (const f of [RUNC, CANARY]) if (!fs.existsSync(f)) throw new Error(`${f} is missing (hack/deps installs runc; npm run build makes berth-canary)`);
    const root = tempDir('berth-ctrd-node-');
    host = hostExec(root, 'same-namespace');
    // The node "has runc installed": its host root's /usr/sbin/runc is this machine's.
    fs.mkdirSync(host.inAgent('/usr/sbin'), { recursive: true });
    fs.symlinkSync(RUNC, host.inAgent('/usr/sbin/runc'));
    const bin = major >= 2
      ? { containerd: need('containerd'), shimDir: path.dirname(need('containerd-shim-runc-v2')) }
      : { containerd: '/usr/bin/containerd', shimDir: '/usr/bin' };
    if (!fs.existsSync(bin.containerd)) throw new Error(`${bin.containerd} is missing: hack/deps installs containerd`);
    d = new CriContainerd({ ...bin, crictl: need('crictl') }, root, HOST_LAYOUT);
    daemons.push(d);
    original = writeNodeConfig(d, major);
    await d.start();
    node = new ContainerdNode({
      host, stackVersion: '0.0.0-test', stackBin: '/opt/berth/current/bin', canaryProgram: CANARY, workDir: '/run/berth-agent',
      socket: d.socket, berthdSocket: host.inAgent('/run/berth/berthd.sock'), restart: d.restart, healthTimeoutMs: 20_000,
    });
  });

  test('containerd is found by the socket it listens on, with its --config', () => {
    expect(locateContainerd({ host, socketPaths: [d.socket] })).toMatchObject({ pid: d.pid, configPath: d.configPath, hostConfigPath: d.configPath });
  });

  test('refused before anything is written: a binary the node does not have, a socket no containerd serves', async () => {
    const before = snapshotFiles(etc());
    const missing = await node.configure({ kind: 'configureHandler', handler: 'nope', runtimeHandler: 'rh-nope', generation: 1, runtime: { type: 'binary', path: '/nope/runc' } }).then(() => undefined, (e: unknown) => e);
    expect(missing).toMatchObject({ kind: 'NotFound', field: 'spec.runtime.path' });
    const other = hostExec(tempDir('berth-ctrd-none-'), 'same-namespace');
    fs.mkdirSync(other.inAgent('/usr/sbin'), { recursive: true });
    fs.symlinkSync(RUNC, other.inAgent('/usr/sbin/runc'));
    const orphan = new ContainerdNode({
      host: other, stackVersion: '0', stackBin: '/opt/berth/current/bin', canaryProgram: CANARY, workDir: '/run/berth-agent',
      socket: other.inAgent('/run/containerd/containerd.sock'), berthdSocket: other.inAgent('/run/berth/berthd.sock'), restart: d.restart,
    });
    const down = await orphan.configure({ kind: 'configureHandler', handler: HANDLER, runtimeHandler: 'rh-runc', generation: 1, runtime: { type: 'runc', path: RUNC } }).then(() => undefined, (e: unknown) => e);
    expect(down).toMatchObject({ kind: 'Unavailable', message: expect.stringContaining('no containerd process serves') });
    expect(d.restarts).toBe(0);
    expect(snapshotFiles(etc())).toEqual(before);
  });

  test('before any handler: nothing configured, runtime containerd, CriHealthy True', async () => {
    const o = await node.observe();
    expect(o.configured).toEqual([]);
    expect(o.facts).toMatchObject({ runtime: 'containerd', stackVersion: '0.0.0-test', berthd: { healthy: false } });
    expect(o.conditions).toEqual([expect.objectContaining({ type: CRI_HEALTHY, status: 'True', message: expect.stringMatching(new RegExp(`^containerd v?${major >= 2 ? 2 : 1}\\.\\d+`)) })]);
  });

  test('configure a runc handler: one restart, containerd serves it with our BinaryName, observe() lists it as ours', async () => {
    await configure(1);
    expect(d.restarts).toBe(1);
    expect(d.runtimes()[HANDLER]?.options).toMatchObject({ BinaryName: host.onHost('/usr/sbin/runc'), SystemdCgroup: false });
    if (major >= 2) {
      expect(fs.readdirSync(path.join(etc(), 'conf.d'))).toEqual([`berth-${HANDLER}.toml`]);
      expect(fs.readFileSync(d.configPath, 'utf8')).toContain(`imports = ["${path.join(etc(), 'conf.d', 'berth-*.toml')}"]`);
    } else {
      // 1.6 merges imports badly (inline-block.ts): Berth's block at the end of the main config, no drop-in.
      expect(fs.readFileSync(d.configPath, 'utf8').startsWith(original)).toBe(true);
      expect(fs.existsSync(path.join(etc(), 'conf.d'))).toBe(false);
    }
    expect((await node.observe()).configured).toEqual([{ handler: HANDLER, generation: 1, uid: 'uid-1' }]);
  });

  test('the canary passes through the handler\'s binary', async () => {
    const r = await node.canary({ kind: 'runCanary', handler: HANDLER, generation: 1, timeoutSeconds: 30 }, runcHandler(1));
    expect(r.message).toMatch(/^canary container ran through /);
    expect(r.passed).toBe(true);
    expect(fs.readdirSync(host.inAgent('/run/berth-agent'))).toEqual([]);
  });

  test('the same set again: no restart, containerd\'s files unchanged; a new generation with the same settings: still none', async () => {
    const files = () => Object.fromEntries(Object.entries(snapshotFiles(etc())).filter(([f]) => !f.endsWith('.berth-handlers.json')));
    const before = files();
    await configure(1);
    expect(d.restarts).toBe(1);
    expect(files()).toEqual(before);
    await configure(2);
    expect(d.restarts).toBe(1);
    expect(files()).toEqual(before);
    expect((await node.observe()).configured).toEqual([{ handler: HANDLER, generation: 2, uid: 'uid-1' }]);
  });

  test('the record lost (the agent stopped between its two writes): the handler is listed as unknown, configuring it again restarts nothing', async () => {
    fs.rmSync(`${d.configPath}.berth-handlers.json`);
    expect((await node.observe()).configured).toEqual([{ handler: HANDLER, generation: 0, uid: '' }]);
    await configure(2);
    expect(d.restarts).toBe(1);
    expect((await node.observe()).configured).toEqual([{ handler: HANDLER, generation: 2, uid: 'uid-1' }]);
  });

  test('unconfigure: one restart, containerd no longer has it, its config byte for byte as at the start', async () => {
    await node.unconfigure(HANDLER);
    expect(d.restarts).toBe(2);
    expect(Object.keys(d.runtimes()).sort()).toEqual(['runc']);
    expect(fs.readFileSync(d.configPath, 'utf8')).toBe(original);
    expect((fs.statSync(d.configPath).mode & 0o777).toString(8)).toBe('640');
    expect(snapshotFiles(etc())).toEqual({ [d.configPath]: `640 ${Buffer.from(original).toString('base64')}` });
    expect((await node.observe()).configured).toEqual([]);
    // Nothing left to remove: no restart.
    await node.unconfigure(HANDLER);
    expect(d.restarts).toBe(2);
  });

  test('a second handler keeps the first (the full set is written); uninstall removes both and leaves the config as it was', async () => {
    await configure(3);
    const twoRoot = host.inAgent('/run/two');
    await node.configure({ kind: 'configureHandler', handler: 'runc-two', runtimeHandler: 'rh-two', uid: 'uid-2', generation: 1, runtime: { type: 'runc', root: twoRoot, systemdCgroup: false } });
    expect(d.restarts).toBe(4);
    const rt = d.runtimes();
    expect(Object.keys(rt).sort()).toEqual(['runc', HANDLER, 'runc-two'].sort());
    expect(rt['runc-two']?.options).toMatchObject({ Root: twoRoot });
    expect((await node.observe()).configured).toEqual([{ handler: HANDLER, generation: 3, uid: 'uid-1' }, { handler: 'runc-two', generation: 1, uid: 'uid-2' }]);
    await node.uninstall();
    expect(d.restarts).toBe(5);
    expect(Object.keys(d.runtimes())).toEqual(['runc']);
    expect(snapshotFiles(etc())).toEqual({ [d.configPath]: `640 ${Buffer.from(original).toString('base64')}` });
  });
});

describe('nodeSideFor', () => {
  const withEndpoint = (endpoint: string): HostExec => {
    const h = hostExec(tempDir('berth-select-'), 'same-namespace');
    fs.mkdirSync(h.inAgent('/var/lib/kubelet'), { recursive: true });
    fs.writeFileSync(h.inAgent('/var/lib/kubelet/config.yaml'), `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: ${endpoint}\n`);
    return h;
  };
  const opts = { stackVersion: '0', stackBin: '/opt/berth/current/bin', canaryProgram: CANARY, workDir: '/run/berth-agent', serviceManager: 'direct' as const };

  test('containerd\'s endpoint: the containerd side, on kubelet\'s socket', () => {
    const host = withEndpoint('unix:///run/containerd/containerd.sock');
    const s = nodeSideFor({ ...opts, host });
    expect(s.runtime).toBe('containerd');
    expect(s.side).toBeInstanceOf(ContainerdNode);
    expect(s.socket).toBe(host.inAgent('/run/containerd/containerd.sock'));
  });

  test('berthd\'s endpoint, or none: the berthd side', () => {
    for (const host of [withEndpoint('unix:///run/berth/berthd.sock'), hostExec(tempDir('berth-select-'), 'same-namespace')]) {
      const s = nodeSideFor({ ...opts, host });
      expect(s.runtime).toBe('berthd');
      expect(s.side).toBeInstanceOf(BerthdNode);
    }
  });

  test('cri-dockerd\'s or CRI-O\'s endpoint: a side that configures nothing and says why (no label for a handler kubelet lacks)', async () => {
    for (const [endpoint, runtime] of [['unix:///run/cri-dockerd.sock', 'cri-dockerd'], ['unix:///var/run/crio/crio.sock', 'cri-o']]) {
      const host = withEndpoint(endpoint);
      fs.mkdirSync(host.inAgent('/etc/berth/runtimes.d'), { recursive: true });
      fs.writeFileSync(host.inAgent('/etc/berth/runtimes.d/runc.yaml'), '# berth-agent: runtimeHandler=runc uid=u generation=1\npath: /usr/sbin/runc\n');
      const s = nodeSideFor({ ...opts, host });
      expect([s.runtime, s.side]).toEqual([runtime, expect.any(ForeignCriNode)]);
      expect(s.socket).toBe(host.inAgent(endpoint.replace('unix://', '')));
      const seen = await s.side.observe();
      expect(seen.configured).toEqual([]);
      expect(seen.facts.runtime).toBe(runtime);
      expect(seen.conditions.find((c) => c.type === 'CriSupported')).toMatchObject({ status: 'False', reason: 'ForeignCri' });
      const err = await s.side.configure({ kind: 'configureHandler', handler: 'runc', runtimeHandler: 'runc', generation: 1, runtime: { type: 'runc' } } as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).kind).toBe('FailedPrecondition');
      expect((err as BerthError).message).toContain(runtime);
      expect((await s.side.canary({ kind: 'runCanary', handler: 'runc', generation: 1, timeoutSeconds: 5 }, undefined)).passed).toBe(false);
      s.side.close();
    }
  });
});

describe('restarting containerd with --service-manager direct', () => {
  test('runs the host\'s own systemctl restart containerd', async () => {
    const host = hostExec(tempDir('berth-restart-'), 'same-namespace');
    const calls = host.inAgent('/calls');
    fs.mkdirSync(host.inAgent('/usr/bin'), { recursive: true });
    fs.writeFileSync(host.inAgent('/usr/bin/systemctl'), `#!/bin/sh\necho "$@" >> ${calls}\n`, { mode: 0o755 });
    await restartWithSystemctl(host)();
    expect(fs.readFileSync(calls, 'utf8')).toBe('restart containerd\n');
  });

  test('a failing systemctl fails the restart with its words', async () => {
    const host = hostExec(tempDir('berth-restart-'), 'same-namespace');
    fs.mkdirSync(host.inAgent('/usr/bin'), { recursive: true });
    fs.writeFileSync(host.inAgent('/usr/bin/systemctl'), '#!/bin/sh\necho "Unit containerd.service not found." >&2\nexit 5\n', { mode: 0o755 });
    await expect(restartWithSystemctl(host)()).rejects.toThrow(/Unit containerd\.service not found\./);
  });

  test('a host without systemctl: a FailedPrecondition naming what is missing', async () => {
    const host = hostExec(tempDir('berth-restart-'), 'same-namespace');
    const err = await restartWithSystemctl(host)().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err).toMatchObject({ kind: 'FailedPrecondition', message: expect.stringContaining('/usr/bin/systemctl') });
  });
});
