/**
 * berthd's config, kubelet's cgroup driver and Berth's CNI config on a node (src/agent/install/config.ts,
 * kubelet-cgroup.ts, cni.ts), under temp host roots. The rendered config is checked by berthd's own
 * validation (`berthd --check-config`), so a key berthd does not accept fails here.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { CONFLIST_NAME, ensureCni, foreignCniConfigs, renderConflist } from '../../src/agent/install/cni';
import { renderBerthdConfig, writeBerthdConfig } from '../../src/agent/install/config';
import { flagValues, parseKubeletCgroupDriver, readKubeletCgroupDriver } from '../../src/agent/install/kubelet-cgroup';
import { hostView, layoutOf, type Layout } from '../../src/agent/install/layout';
import { BerthError } from '../../src/common/errors';
import { cleanupTempDirs, tempDir } from '../image/helpers';
import { KUBEADM_DROPIN } from './kubelet-fixtures';

const BERTHD = path.resolve(__dirname, '..', '..', 'build', 'bin', 'berthd');

let layout: Layout;

beforeEach(() => {
  const root = path.join(tempDir('berth-agent-config-'), 'host');
  fs.mkdirSync(root);
  layout = layoutOf(hostView(root, 'direct'));
});

afterAll(() => cleanupTempDirs());

function write(hostPath: string, text: string): void {
  const f = layout.inAgent(hostPath);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, text);
}

describe('berthd config', () => {
  test('paths are the daemons\' view: the host\'s own with systemd, under the host root with direct', () => {
    const prod = layoutOf(hostView('/host', 'systemd'));
    const doc = parse(renderBerthdConfig(prod, { cgroupDriver: 'systemd' }));
    expect(doc).toEqual({
      root: '/var/lib/berth', state: '/run/berth', listen: 'unix:///run/berth/berthd.sock', logLevel: 'info', cgroupDriver: 'systemd',
      cni: { confDir: '/etc/cni/net.d', binDirs: ['/opt/cni/bin'] }, runtimesDir: '/etc/berth/runtimes.d',
    });
    expect(prod.agent.config).toBe('/host/etc/berth/config.yaml');
    const r = layout.view.hostRoot;
    const direct = parse(renderBerthdConfig(layout, { cgroupDriver: 'cgroupfs' }));
    expect(direct).toMatchObject({ root: `${r}/var/lib/berth`, state: `${r}/run/berth`, listen: `unix://${r}/run/berth/berthd.sock`, runtimesDir: `${r}/etc/berth/runtimes.d`, cni: { confDir: `${r}/etc/cni/net.d`, binDirs: [`${r}/opt/cni/bin`] } });
  });

  test('written atomically, rewritten only when the bytes change; berthd itself accepts the file', () => {
    const a = writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs', registries: { 'registry.k8s.io': { mirrors: ['http://127.0.0.1:5000'] } } });
    expect(a.changed).toBe(true);
    expect(fs.statSync(layout.agent.runtimesDir).isDirectory()).toBe(true);
    const ino = fs.statSync(a.file).ino;
    const b = writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs', registries: { 'registry.k8s.io': { mirrors: ['http://127.0.0.1:5000'] } } });
    expect(b).toEqual({ ...a, changed: false });
    expect(fs.statSync(a.file).ino).toBe(ino);
    const c = writeBerthdConfig(layout, { cgroupDriver: 'systemd' });
    expect(c.changed).toBe(true);
    expect(c.sha256).not.toBe(a.sha256);
    expect(fs.readdirSync(path.dirname(a.file))).toEqual(['config.yaml', 'runtimes.d']);

    if (!fs.existsSync(BERTHD)) throw new Error(`${BERTHD} is missing: run npm run build`);
    const check = spawnSync(BERTHD, ['--config', a.file, '--check-config'], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
    const effective = JSON.parse(check.stdout);
    expect(effective).toMatchObject({ root: layout.agent.root, listen: layout.agent.socket, cgroupDriver: 'systemd', runtimesDir: layout.agent.runtimesDir });
    // registries were not in the last settings: the node's (from the file) were kept.
    expect(effective.registries['registry.k8s.io'].mirrors).toEqual(['http://127.0.0.1:5000']);
  });

  test('keys the agent does not own are kept from the node\'s file; its own are replaced', () => {
    write('/etc/berth/config.yaml', 'root: /elsewhere\nsandbox: {pauseImage: "registry.k8s.io/pause:3.10"}\nstreaming: {address: "127.0.0.1:10010"}\n');
    writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs', extra: { maxConcurrentDownloads: 5 } });
    const doc = parse(fs.readFileSync(layout.agent.config, 'utf8'));
    expect(doc).toMatchObject({ root: layout.agent.root, sandbox: { pauseImage: 'registry.k8s.io/pause:3.10' }, streaming: { address: '127.0.0.1:10010' }, maxConcurrentDownloads: 5 });
  });
});

describe('kubelet cgroup driver', () => {
  const KUBEADM_CONFIG = `apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
containerRuntimeEndpoint: ""
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
`;

  test('nothing on the node: kubelet\'s own default, cgroupfs', () => {
    expect(readKubeletCgroupDriver(layout)).toEqual({ driver: 'cgroupfs', source: "kubelet's default" });
  });

  test('a kubeadm node: the KubeletConfiguration says systemd', () => {
    write('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', KUBEADM_DROPIN);
    write('/var/lib/kubelet/kubeadm-flags.env', 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10"\n');
    write('/var/lib/kubelet/config.yaml', KUBEADM_CONFIG);
    expect(readKubeletCgroupDriver(layout)).toEqual({ driver: 'systemd', source: '/var/lib/kubelet/config.yaml: cgroupDriver' });
  });

  test('a flag wins over the file, the last flag over earlier ones (/etc/default/kubelet comes last)', () => {
    write('/etc/systemd/system/kubelet.service.d/10-kubeadm.conf', KUBEADM_DROPIN);
    write('/var/lib/kubelet/config.yaml', KUBEADM_CONFIG);
    write('/var/lib/kubelet/kubeadm-flags.env', 'KUBELET_KUBEADM_ARGS="--cgroup-driver=systemd"\n');
    write('/etc/default/kubelet', '# overrides\n# KUBELET_EXTRA_ARGS=--cgroup-driver=systemd\nKUBELET_EXTRA_ARGS="--node-ip=10.0.0.5 --cgroup-driver cgroupfs"\n');
    expect(readKubeletCgroupDriver(layout)).toEqual({ driver: 'cgroupfs', source: '/etc/default/kubelet: --cgroup-driver' });
  });

  test('--config elsewhere (a drop-in of a distribution) is followed; a file without cgroupDriver means the default', () => {
    write('/usr/lib/systemd/system/kubelet.service.d/20-config.conf', '[Service]\nEnvironment="KUBELET_CONFIG_ARGS=--config=/etc/kubernetes/kubelet-config.yaml"\n');
    write('/etc/kubernetes/kubelet-config.yaml', 'kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\ncgroupDriver: systemd\n');
    write('/var/lib/kubelet/config.yaml', 'kind: KubeletConfiguration\ncgroupDriver: cgroupfs\n');
    expect(readKubeletCgroupDriver(layout)).toEqual({ driver: 'systemd', source: '/etc/kubernetes/kubelet-config.yaml: cgroupDriver' });
    write('/etc/kubernetes/kubelet-config.yaml', 'kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\n');
    expect(readKubeletCgroupDriver(layout).driver).toBe('cgroupfs');
  });

  test('a test cluster\'s kubelet names real paths of this machine (under the host root): followed as they are', () => {
    const real = layout.inAgent('/var/lib/kubelet/cfg.yaml');
    write('/etc/default/kubelet', `KUBELET_EXTRA_ARGS="--config ${real}"\n`);
    write('/var/lib/kubelet/cfg.yaml', 'cgroupDriver: systemd\n');
    expect(readKubeletCgroupDriver(layout)).toEqual({ driver: 'systemd', source: `${real}: cgroupDriver` });
  });

  test('bad values are errors naming the file; the flag parser reads every spelling', () => {
    expect(() => parseKubeletCgroupDriver({ flagFiles: [{ file: '/etc/default/kubelet', text: 'KUBELET_EXTRA_ARGS=--cgroup-driver=cgroupv2' }] })).toThrow(BerthError);
    try {
      parseKubeletCgroupDriver({ flagFiles: [], config: { file: '/var/lib/kubelet/config.yaml', text: 'cgroupDriver: System' } });
      throw new Error('no error');
    } catch (err) {
      expect((err as BerthError).field).toBe('/var/lib/kubelet/config.yaml: cgroupDriver');
    }
    expect(flagValues('ExecStart=/usr/bin/kubelet --cgroup-driver="systemd" --x=1 --cgroup-driver \'cgroupfs\'', 'cgroup-driver')).toEqual(['systemd', 'cgroupfs']);
    expect(flagValues('Environment="A=--cgroup-driver=systemd"\n#Environment="A=--cgroup-driver=cgroupfs"', 'cgroup-driver')).toEqual(['systemd']);
    expect(flagValues('--cgroup-driver-x=1 --xcgroup-driver=2', 'cgroup-driver')).toEqual([]);
  });
});

describe('CNI config', () => {
  const conflist = () => path.join(layout.agent.cniConfDir, CONFLIST_NAME);

  test('auto on a node without CNI config: the conflist and links to the plugins of the current stack', () => {
    const r = ensureCni(layout, { mode: 'auto', bridge: 'bt0', subnet: '10.99.0.0/24' });
    expect(r).toEqual({ installed: true, changed: true, reason: 'the node had no CNI config' });
    const doc = JSON.parse(fs.readFileSync(conflist(), 'utf8'));
    expect(doc.plugins.map((p: { type: string }) => p.type)).toEqual(['berth-bridge', 'berth-portmap']);
    expect(doc.plugins[0]).toMatchObject({ bridge: 'bt0', ipam: { type: 'berth-host-local', dataDir: layout.inAgent('/var/lib/cni/networks'), ranges: [[{ subnet: '10.99.0.0/24' }]] } });
    for (const p of ['berth-bridge', 'berth-host-local', 'berth-portmap']) {
      expect(fs.readlinkSync(path.join(layout.agent.cniBinDir, p))).toBe(layout.inAgent(`/opt/berth/current/bin/${p}`));
    }
    expect(ensureCni(layout, { mode: 'auto', bridge: 'bt0', subnet: '10.99.0.0/24' }).changed).toBe(false);
    // The production view: host paths in the file and the links.
    expect(JSON.parse(renderConflist(layoutOf(hostView('/host', 'systemd')), { mode: 'auto' })).plugins[0].ipam.dataDir).toBe('/var/lib/cni/networks');
  });

  test('auto on a node with its own CNI config: nothing installed; always: installed beside it; never: ours removed, theirs kept', () => {
    write('/etc/cni/net.d/10-flannel.conflist', '{"name":"cbr0","cniVersion":"1.0.0","plugins":[{"type":"flannel"}]}');
    write('/opt/cni/bin/flannel', '#!/bin/sh\n');
    expect(foreignCniConfigs(layout)).toEqual(['10-flannel.conflist']);
    expect(ensureCni(layout, { mode: 'auto' })).toEqual({ installed: false, changed: false, reason: 'the node has its own CNI config: 10-flannel.conflist' });
    expect(fs.existsSync(conflist())).toBe(false);
    expect(fs.readdirSync(layout.agent.cniBinDir)).toEqual(['flannel']);
    expect(ensureCni(layout, { mode: 'always' })).toMatchObject({ installed: true, changed: true });
    expect(fs.existsSync(conflist())).toBe(true);
    expect(ensureCni(layout, { mode: 'never' })).toEqual({ installed: false, changed: true, reason: 'cni: never' });
    expect(fs.readdirSync(layout.agent.cniConfDir)).toEqual(['10-flannel.conflist']);
    expect(fs.readdirSync(layout.agent.cniBinDir)).toEqual(['flannel']);
    expect(ensureCni(layout, { mode: 'never' }).changed).toBe(false);
  });

  test("a file of our name that is someone else's network (hack/cluster writes one) is theirs: never taken over or removed", () => {
    const theirs = '{"name":"berth-e2e","cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}';
    write(`/etc/cni/net.d/${CONFLIST_NAME}`, theirs);
    expect(foreignCniConfigs(layout)).toEqual([CONFLIST_NAME]);
    expect(ensureCni(layout, { mode: 'auto' })).toEqual({ installed: false, changed: false, reason: `the node has its own CNI config: ${CONFLIST_NAME}` });
    expect(() => ensureCni(layout, { mode: 'always' })).toThrow(/is not Berth's/);
    expect(ensureCni(layout, { mode: 'never' }).changed).toBe(false);
    expect(fs.readFileSync(conflist(), 'utf8')).toBe(theirs);
    fs.rmSync(conflist());
  });

  test('bad settings name the field', () => {
    expect(() => ensureCni(layout, { mode: 'sometimes' as 'auto' })).toThrow(/must be one of auto, always, never/);
    try {
      ensureCni(layout, { mode: 'auto', subnet: '10.0.0.0' });
      throw new Error('no error');
    } catch (err) {
      expect((err as BerthError).field).toBe('cni.subnet');
    }
  });
});
