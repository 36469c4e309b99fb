// What a cluster changes on the host itself, and how down puts it back: the network it addresses nodes and pods
// with (a dummy link holding the node IPs, one bridge per node), the kernel settings kubelet sets at start, and
// the canary chains kubelet keeps in iptables. Host-wide settings are recorded before the first cluster starts
// and restored when the last one goes.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { CLUSTERS_DIR } = require('./layout');

const BEFORE = path.join(CLUSTERS_DIR, '.host-before.json');
// What kubelet sets when protectKernelDefaults is off (and ip_forward, which the bridge plugin turns on).
const SYSCTLS = ['vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys', 'kernel/keys/root_maxbytes', 'net/ipv4/ip_forward'];
const CANARY = 'KUBE-KUBELET-CANARY';

const ip = (args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });

/** Names of the clusters that have a directory (up, or half torn down). */
function clusterNames() {
  try {
    return fs.readdirSync(CLUSTERS_DIR).filter((n) => !n.startsWith('.') && fs.existsSync(path.join(CLUSTERS_DIR, n, 'cluster.json')));
  } catch {
    return [];
  }
}

/**
 * Directories the peers make outside a cluster's own (containerd's shim sockets are always in /run/containerd/s,
 * runc's default root is /run/containerd/runc, dockerd's plugin sockets are in /run/docker/plugins, containerd's
 * CNI library caches results in /var/lib/cni/results), children before parents. The test suites' leak check
 * uses the list too.
 */
const HOST_DIRS = ['/run/containerd/s', '/run/containerd/fifo', '/run/containerd/runc', '/run/containerd', '/run/docker/plugins', '/run/docker', '/run/netns', '/var/log/containers', '/etc/docker', '/var/lib/cni/results', '/var/lib/cni'];
// kubelet's chains (iptables-nft here), in the order they can be removed.
const KUBELET_CHAINS = [['mangle', 'KUBE-IPTABLES-HINT'], ['mangle', CANARY], ['nat', CANARY], ['filter', CANARY], ['filter', 'KUBE-FIREWALL']];

const nftTables = () => (spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout || '').split('\n').map((l) => l.trim()).filter(Boolean);

/** Removes `dir`'s empty subdirectories, deepest first, then `dir` if it is empty by then. */
function removeEmptyTree(dir) {
  let entries = [];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of entries) if (e.isDirectory()) removeEmptyTree(path.join(dir, e.name));
  try { fs.rmdirSync(dir); } catch { /* holds something else by now */ }
}

/**
 * Removes those of HOST_DIRS that were not there before (`existedBefore`) and hold nothing but empty
 * directories by now (a runc root per containerd namespace, say: all of them the peers' making).
 */
function removeEmptyNewDirs(existedBefore) {
  for (const d of HOST_DIRS.filter((x) => !existedBefore.includes(x))) removeEmptyTree(d);
}

/** Records the host's settings when no cluster is there yet (the state the last down goes back to). */
function recordHostBefore() {
  if (fs.existsSync(BEFORE)) return;
  const sysctls = {};
  for (const s of SYSCTLS) sysctls[s] = fs.readFileSync(`/proc/sys/${s}`, 'utf8').trim();
  const dirs = HOST_DIRS.filter((d) => fs.existsSync(d));
  fs.mkdirSync(CLUSTERS_DIR, { recursive: true });
  fs.writeFileSync(BEFORE, `${JSON.stringify({ sysctls, dirs, tables: nftTables(), dockerKey: fs.existsSync('/etc/docker/key.json') })}\n`);
}

/** Removes a kubelet chain and the rules that jump to it; true when it is gone. */
function removeChain(tool, table, chain) {
  const run = (args) => spawnSync(tool, ['-w', '-t', table, ...args], { encoding: 'utf8' });
  const listed = run(['-S']);
  if (listed.status !== 0 || !listed.stdout.split('\n').includes(`-N ${chain}`)) return true;
  for (const rule of listed.stdout.split('\n').filter((l) => l.startsWith('-A ') && l.endsWith(`-j ${chain}`))) {
    run(['-D', ...rule.slice(3).split(' ')]);
  }
  run(['-F', chain]);
  return run(['-X', chain]).status === 0;
}

/** Once no cluster is left: the sysctls as they were; kubelet's chains, Docker's key and the peers' dirs gone. */
function restoreHostIfLast() {
  if (clusterNames().length > 0 || !fs.existsSync(BEFORE)) return [];
  const before = JSON.parse(fs.readFileSync(BEFORE, 'utf8'));
  const problems = [];
  for (const [s, v] of Object.entries(before.sysctls)) {
    try { fs.writeFileSync(`/proc/sys/${s}`, v); } catch (err) { problems.push(`sysctl ${s}: ${err.code}`); }
  }
  for (const tool of ['iptables', 'ip6tables']) {
    for (const [table, chain] of KUBELET_CHAINS) if (!removeChain(tool, table, chain)) problems.push(`${tool} -t ${table}: ${chain} stays`);
  }
  // Tables kubelet made (iptables-nft makes a whole table for one chain), if nothing else uses them by now.
  for (const t of nftTables().filter((x) => !before.tables.includes(x))) {
    const [, family, name] = t.split(' ');
    const json = spawnSync('nft', ['-j', 'list', 'table', family, name], { encoding: 'utf8' }).stdout || '';
    if (!json.includes('"rule"')) spawnSync('nft', ['delete', 'table', family, name], { stdio: 'ignore' });
  }
  // dockerd (20.10) makes its identity key in /etc/docker whatever its data root.
  if (!before.dockerKey) fs.rmSync('/etc/docker/key.json', { force: true });
  removeEmptyNewDirs(before.dirs);
  fs.rmSync(BEFORE);
  return problems;
}

/** The second octet of 10.X.0.0/16 for a new cluster: one no route and no other cluster uses. */
function freeOctet(taken) {
  const routes = ip(['-4', 'route', 'show', 'table', 'all']);
  for (let x = 200; x < 255; x++) if (!taken.includes(x) && !routes.includes(`10.${x}.`)) return x;
  throw new Error('no free 10.X.0.0/16 for the cluster (10.200–10.254 are all routed)');
}

/**
 * The cluster's addresses: node i has IP 10.X.255.(i+1) on the cluster's dummy link and pods in 10.X.i.0/24 on
 * bridge bn<hash><i>; the API server advertises 10.X.255.254 (it listens on 127.0.0.1 only).
 */
function planNetwork(name, nodes, taken) {
  const x = freeOctet(taken);
  const hash = crypto.createHash('sha256').update(name).digest('hex').slice(0, 8);
  const range = [...Array(nodes).keys()];
  return {
    octet: x, dummy: `bd${hash}`, advertise: `10.${x}.255.254`,
    nodeIps: range.map((i) => `10.${x}.255.${i + 1}`),
    subnets: range.map((i) => `10.${x}.${i}.0/24`),
    bridges: range.map((i) => `bn${hash}${i}`),
  };
}

/** kubelet will not advertise a loopback address: the node IPs live on a portless bridge (this kernel has no dummy
 * links) that only this host reaches. */
function addNodeAddresses(net) {
  ip(['link', 'add', net.dummy, 'type', 'bridge']);
  for (const a of [...net.nodeIps, net.advertise]) ip(['addr', 'add', `${a}/32`, 'dev', net.dummy]);
  ip(['link', 'set', net.dummy, 'up']);
}

/** Removes the dummy link and the nodes' bridges; returns what it could not remove. */
function removeNetwork(net) {
  const problems = [];
  for (const link of [net.dummy, ...net.bridges]) {
    const r = spawnSync('ip', ['link', 'del', link], { encoding: 'utf8' });
    if (r.status !== 0 && !/Cannot find device/.test(r.stderr)) problems.push(`link ${link}: ${r.stderr.trim()}`);
  }
  return problems;
}

/** Unmounts every mount at or under `dir` (deepest first, lazily: a runtime may still hold one). */
function unmountUnder(dir) {
  const unescape = (s) => s.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
  const points = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescape(l.split(' ')[4])).filter((m) => m === dir || m.startsWith(`${dir}/`));
  const problems = [];
  for (const m of [...new Set(points)].sort((a, b) => b.length - a.length)) {
    const r = spawnSync('umount', ['-l', m], { encoding: 'utf8' });
    if (r.status !== 0 && !/not mounted|no mount point/.test(r.stderr)) problems.push(`umount ${m}: ${r.stderr.trim()}`);
  }
  return problems;
}

/** kubelet's legacy /var/log/containers links into the cluster's pods' logs. */
function removeContainerLogLinks(dir) {
  const logs = '/var/log/containers';
  let names = [];
  try { names = fs.readdirSync(logs); } catch { return; }
  for (const n of names) {
    const f = path.join(logs, n);
    try { if (fs.readlinkSync(f).startsWith(`${dir}/`)) fs.rmSync(f); } catch { /* not a link */ }
  }
}

module.exports = { HOST_DIRS, removeEmptyNewDirs, clusterNames, recordHostBefore, restoreHostIfLast, planNetwork, addNodeAddresses, removeNetwork, unmountUnder, removeContainerLogLinks };
