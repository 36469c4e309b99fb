/**
 * A real, independent CNI client: Debian's containerd (temp config, root, state and socket) runs a busybox
 * container with `ctr run --cni` over a conflist naming our plugins. ctr 1.6 reads only /etc/cni/net.d and
 * /opt/cni/bin: the test creates them when absent and removes them afterwards (it refuses to run if they
 * already hold anything, so the host's own CNI setup is never touched).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { rememberRunNetns } from '../helpers/netns';
import { REPO, cleanupTempDirs, tempDir } from './helpers';
import { OCT, PID, berthBinDir, bridgePorts, cleanupNet, requireNet, trackLink, trackOwner } from './net-helpers';

const CONF_DIR = '/etc/cni/net.d';
const BIN_DIR = '/opt/cni/bin';
/** Where ctr's CNI library caches results (/var/lib/cni/results): it creates it, and never removes it. */
const CNI_CACHE = '/var/lib/cni/results';
const made: string[] = [];
/** Directories ctr may create, from the deepest up: removed afterwards when they did not exist and are empty. */
const ctrMade: string[] = [];
let containerd: ChildProcess | undefined;
let sock: string;
let root: string;
const bridge = `bk${PID}`;
const network = `bctr${PID}`;

function mkdirOwned(dir: string): void {
  if (fs.existsSync(dir)) {
    if (fs.readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty: refusing to change the host's CNI configuration`);
    return;
  }
  // Remember the topmost directory created, to remove exactly that.
  let top = dir;
  while (!fs.existsSync(path.dirname(top))) top = path.dirname(top);
  fs.mkdirSync(dir, { recursive: true });
  made.push(top);
}

function rememberMissing(dir: string): void {
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) ctrMade.push(d);
}

function removeIfEmpty(dirs: string[]): void {
  for (const d of dirs) {
    try {
      fs.rmdirSync(d);
    } catch {
      // not empty (someone else's, or a leak the check reports) or never made
    }
  }
}

// Shared with the benchmarks that run containerd (plain JS, so that `npm run bench` needs no compile step).
const { writeContainerdConfig, removeNamespaceCgroups } = require('../../hack/bench/common') as {
  writeContainerdConfig(dir: string, socket: string): string;
  removeNamespaceCgroups(namespace: string): void;
};

/** An OCI image layout tarball of the busybox fixture rootfs, named `ref`. */
function imageTar(dir: string, ref: string): string {
  const layout = path.join(dir, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const d = crypto.createHash('sha256').update(data).digest('hex');
    fs.writeFileSync(path.join(blobs, d), data);
    return { digest: `sha256:${d}`, size: data.length };
  };
  const layerFile = path.join(dir, 'layer.tar');
  execFileSync('tar', ['-C', path.join(REPO, '.fixtures', 'rootfs'), '--numeric-owner', '-cf', layerFile, '.']);
  const layerData = fs.readFileSync(layerFile);
  const layer = put(layerData);
  const config = put(Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': ref, 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  const tar = path.join(dir, 'image.tar');
  execFileSync('tar', ['-C', layout, '-cf', tar, '.']);
  return tar;
}

const ctr = (...args: string[]) => execFileSync('ctr', ['-a', sock, '-n', `berth${PID}`, ...args], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });

beforeAll(async () => {
  requireNet();
  for (const f of ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/sbin/runc']) if (!fs.existsSync(f)) throw new Error(`${f} is missing: hack/deps installs containerd and runc`);
  const binDir = await berthBinDir();
  rememberRunNetns(); // ctr makes the container's namespace under /run/netns
  rememberMissing(CNI_CACHE);
  mkdirOwned(CONF_DIR);
  mkdirOwned(BIN_DIR);
  for (const name of ['berth-bridge', 'berth-host-local', 'berth-loopback', 'berth-portmap']) fs.copyFileSync(path.join(binDir, name), path.join(BIN_DIR, name));
  fs.symlinkSync(fs.realpathSync(path.join(binDir, 'lib')), path.join(BIN_DIR, 'lib'));
  trackLink(bridge);
  fs.writeFileSync(path.join(CONF_DIR, `10-berth-test-${PID}.conflist`), JSON.stringify({
    cniVersion: '1.0.0', name: network,
    plugins: [
      { type: 'berth-bridge', bridge, isGateway: true, isDefaultGateway: true, ipMasq: true, ipam: { type: 'berth-host-local', dataDir: tempDir(), ranges: [[{ subnet: `10.${OCT}.50.0/24` }]] } },
      { type: 'berth-portmap', capabilities: { portMappings: true } },
      { type: 'berth-loopback' },
    ],
  }));
  root = tempDir('berth-ctrd-');
  sock = path.join(root, 'containerd.sock');
  const config = writeContainerdConfig(root, sock);
  containerd = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', fs.openSync(path.join(root, 'containerd.log'), 'w')] });
  for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 100));
  if (!fs.existsSync(sock)) throw new Error(`containerd did not start: ${fs.readFileSync(path.join(root, 'containerd.log'), 'utf8').slice(-2000)}`);
}, 60000);

afterAll(async () => {
  try {
    if (containerd) {
      try {
        ctr('tasks', 'kill', '-s', 'SIGKILL', `c${PID}`);
      } catch {
        // not running
      }
      containerd.kill('SIGTERM');
      await new Promise((r) => containerd!.once('exit', r));
    }
  } finally {
    for (const d of made.splice(0).reverse()) fs.rmSync(d, { recursive: true, force: true });
    removeIfEmpty(ctrMade.splice(0));
    removeNamespaceCgroups(`berth${PID}`);
    trackOwner(network, `berth${PID}-c${PID}`, 'nftables');
    await cleanupNet();
    try {
      execFileSync('umount', ['-R', root], { stdio: 'ignore' });
    } catch {
      // nothing mounted
    }
    cleanupTempDirs();
  }
}, 60000);

test('ctr run --cni: the container gets its address from our plugins, and everything goes on exit', () => {
  const ref = `docker.io/berth/busybox-${PID}:latest`;
  ctr('images', 'import', '--no-unpack=false', imageTar(tempDir(), ref));
  const out = ctr('run', '--rm', '--cni', '--snapshotter', 'native', ref, `c${PID}`, '/bin/sh', '-c', 'ip -o addr show eth0; ip route; ping -c 1 -W 2 10.' + OCT + '.50.1');
  expect(out).toMatch(new RegExp(`eth0\\s+inet 10\\.${OCT}\\.50\\.2/24`));
  expect(out).toMatch(new RegExp(`default via 10\\.${OCT}\\.50\\.1 dev eth0`));
  expect(out).toMatch(/1 packets received/);
  // ctr ran DEL on exit: the veth is gone from the bridge.
  expect(bridgePorts(bridge)).toEqual([]);
});
