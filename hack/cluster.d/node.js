// One node of a hack/cluster: a host root laid out like the node's `/` (kubelet configuration, the kubeadm-style
// flags files, CNI config and plugins, the runtime's config, state and socket, the node's systemctl), its runtime
// units and its kubelet, started the way kubeadm's systemd drop-in starts it.
'use strict';
const fs = require('node:fs');
const { connect } = require('node:net');
const path = require('node:path');
const YAML = require('yaml');
const pki = require('./pki');
const { nodePaths, nodeHostRoot } = require('./layout');
const { writeUnit, runUnit } = require('./units');
const { httpStatus } = require('./kube');

const CGROUP_FS = '/sys/fs/cgroup';

function write(file, text, mode) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, mode ? { mode } : undefined);
}

/** The cgroup hierarchies mounted on this host (v1 controllers and the v2 mount, or the single v2 root). */
function cgroupHierarchies() {
  if (fs.existsSync(path.join(CGROUP_FS, 'cgroup.controllers'))) return [CGROUP_FS];
  return fs.readdirSync(CGROUP_FS).map((n) => path.join(CGROUP_FS, n))
    .filter((d) => { try { return !fs.lstatSync(d).isSymbolicLink() && fs.statSync(d).isDirectory(); } catch { return false; } });
}

/** kubelet refuses a cgroupRoot that does not exist: made in every hierarchy, cpuset filled from its parent. */
function makeCgroupRoot(cgroupRoot) {
  for (const h of cgroupHierarchies()) {
    const dir = path.join(h, cgroupRoot);
    fs.mkdirSync(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const file = path.join(dir, f);
      if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').trim() === '') fs.writeFileSync(file, fs.readFileSync(path.join(h, f), 'utf8'));
    }
  }
}

/** Removes `cgroupRoot` and everything below it from every hierarchy (deepest first); returns what it could not. */
function removeCgroupRoot(cgroupRoot) {
  const left = [];
  const rm = (dir) => {
    let entries = [];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    for (const e of entries) if (e.isDirectory()) rm(path.join(dir, e.name));
    try { fs.rmdirSync(dir); } catch (err) { if (err.code !== 'ENOENT') left.push(`${dir}: ${err.code}`); }
  };
  for (const h of cgroupHierarchies()) rm(path.join(h, cgroupRoot));
  return left;
}

/** Every pid in the cgroups under `cgroupRoot`, in any hierarchy. */
function pidsUnder(cgroupRoot) {
  const pids = new Set();
  const walk = (dir) => {
    let entries = [];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
    try { for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(p)); } catch { /* gone */ }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
  };
  for (const h of cgroupHierarchies()) walk(path.join(h, cgroupRoot));
  return [...pids];
}

/** The node's CNI network: Berth's bridge on its own Linux bridge and /24, host-local IPAM kept in the node, portmap. */
function cniConflist({ network, bridge, subnet, hostRoot }) {
  return {
    cniVersion: '1.0.0', name: network,
    plugins: [
      {
        type: 'berth-bridge', bridge, isGateway: true, isDefaultGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'berth-host-local', dataDir: path.join(hostRoot, 'var/lib/cni/networks'), ranges: [[{ subnet }]] },
      },
      { type: 'berth-portmap', capabilities: { portMappings: true } },
    ],
  };
}

/** The KubeletConfiguration of the node (what kubeadm writes to /var/lib/kubelet/config.yaml, under the host root). */
function kubeletConfiguration({ p, nodeIp, ports, cgroupRoot, featureGates }) {
  return {
    ...(featureGates ? { featureGates } : {}),
    apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration',
    address: nodeIp, port: ports.kubelet, readOnlyPort: 0, healthzBindAddress: '127.0.0.1', healthzPort: ports.healthz,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: path.join(p.pki, 'ca.crt') } },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs', cgroupRoot, cgroupsPerQOS: true,
    // This host has no swap accounting worth failing over, and is cgroup v1 (kubelet 1.35+ refuses it otherwise).
    failSwapOn: false, failCgroupV1: false,
    // No CAP_SYS_RESOURCE here: kubelet's default -999 cannot be set.
    oomScoreAdj: 0,
    staticPodPath: p.manifests, podLogsDir: p.podLogs,
    volumePluginDir: path.join(p.hostRoot, 'usr/libexec/kubernetes/kubelet-plugins/volume/exec'),
    clusterDomain: 'cluster.local', resolvConf: '/etc/resolv.conf',
    // A test machine's disk is shared by every node: evict only when it is really full.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
    imageGCHighThresholdPercent: 99, imageGCLowThresholdPercent: 98,
    serializeImagePulls: false, rotateCertificates: false, serverTLSBootstrap: false,
  };
}

/**
 * Writes the node's host root: kubelet credentials and configuration, kubelet.service with a kubeadm-style
 * drop-in and env files, CNI config and plugins, systemctl, and the runtime's files and units.
 * Returns { node, hostRoot, runtimeUnits, socket }.
 */
function prepareNode({ dir, node, index, pkiDir, certs, server, cluster, runtime, registry, bins, repo, net, ports, cgroupRoot, endpointIn = 'kubeadm-flags' }) {
  const hostRoot = nodeHostRoot(dir, index);
  const p = nodePaths(hostRoot);
  const kubelet = pki.makeCert(pkiDir, `kubelet-${node}`, { cn: `system:node:${node}`, orgs: ['system:nodes'] });
  write(p.kubeletKubeconfig, pki.kubeconfig({ server, ca: certs.ca, cert: kubelet.cert, key: kubelet.key, user: `system:node:${node}`, cluster }), 0o600);
  fs.mkdirSync(p.pki, { recursive: true });
  fs.copyFileSync(certs.ca, path.join(p.pki, 'ca.crt'));
  for (const d of [p.manifests, p.podLogs, p.kubeletDir, path.join(p.kubeletDir, 'pki'), p.cniBin, p.cniData]) fs.mkdirSync(d, { recursive: true });

  const nodeIp = net.nodeIps[index];
  const socket = runtime.socket(hostRoot);
  const endpoint = `unix://${socket}`;
  const inConfig = endpointIn === 'config' || endpointIn === 'instance-config';
  write(p.kubeletConfig, YAML.stringify({
    ...kubeletConfiguration({ p, nodeIp, ports, cgroupRoot, featureGates: runtime.kubeletFeatureGates }),
    ...(inConfig ? { containerRuntimeEndpoint: endpoint } : {}),
  }));
  // kubeadm (NodeLocalCRISocket) keeps the node's endpoint here and merges it into config.yaml.
  if (endpointIn === 'instance-config') write(path.join(p.kubeletDir, 'instance-config.yaml'), YAML.stringify({ apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', containerRuntimeEndpoint: endpoint }));
  write(p.kubeadmFlags, `KUBELET_KUBEADM_ARGS="${endpointIn === 'kubeadm-flags' ? `--container-runtime-endpoint=${endpoint}` : ''}"\n`);
  write(p.kubeletDefaults, `KUBELET_EXTRA_ARGS="--root-dir=${p.kubeletDir} --cert-dir=${path.join(p.kubeletDir, 'pki')} --hostname-override=${node} --node-ip=${nodeIp}"\n`);

  fs.mkdirSync(path.dirname(p.kubeletBin), { recursive: true });
  fs.symlinkSync(bins.get('kubelet').file, p.kubeletBin);
  fs.copyFileSync(path.join(__dirname, 'systemctl'), p.systemctl);
  fs.chmodSync(p.systemctl, 0o755);
  writeUnit(p.units, 'kubelet', { description: 'kubelet: The Kubernetes Node Agent', exec: [p.kubeletBin], restartSec: 2 });
  // kubeadm's drop-in: the kubeconfig and config flags, then kubeadm-flags.env and /etc/default/kubelet, read at
  // every (re)start; the empty ExecStart= replaces the unit's command line.
  write(path.join(p.units, 'kubelet.service.d', '10-kubeadm.conf'), [
    '[Service]',
    `Environment="KUBELET_KUBECONFIG_ARGS=--kubeconfig=${p.kubeletKubeconfig}"`,
    `Environment="KUBELET_CONFIG_ARGS=--config=${p.kubeletConfig}"`,
    `EnvironmentFile=-/${path.relative(hostRoot, p.kubeadmFlags)}`,
    `EnvironmentFile=-/${path.relative(hostRoot, p.kubeletDefaults)}`,
    'ExecStart=',
    `ExecStart=${p.kubeletBin} $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS`, '',
  ].join('\n'));
  // A distribution's own drop-in, after kubeadm's: the endpoint as a flag of its own on kubelet's command line.
  if (endpointIn === 'drop-in') {
    write(path.join(p.units, 'kubelet.service.d', '20-container-runtime.conf'), [
      '[Service]', `Environment="KUBELET_RUNTIME_ARGS=--container-runtime-endpoint=${endpoint}"`, 'ExecStart=',
      `ExecStart=${p.kubeletBin} $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS $KUBELET_RUNTIME_ARGS`, '',
    ].join('\n'));
  }

  write(path.join(p.cniConf, '10-berth.conflist'), `${JSON.stringify(cniConflist({ network: `berth-${cluster}`, bridge: net.bridges[index], subnet: net.subnets[index], hostRoot }), null, 2)}\n`);
  const bin = path.join(repo, 'build/bin');
  for (const plugin of ['berth-bridge', 'berth-host-local', 'berth-portmap', 'berth-loopback']) fs.symlinkSync(path.join(bin, plugin), path.join(p.cniBin, plugin));
  // containerd and cri-dockerd bring up a sandbox's lo with the plugin named "loopback".
  fs.symlinkSync(path.join(bin, 'berth-loopback'), path.join(p.cniBin, 'loopback'));

  makeCgroupRoot(cgroupRoot);
  const runtimeUnits = runtime.setup({ hostRoot, registry });
  return { node, hostRoot, runtimeUnits, socket };
}

/** True once a unix socket accepts connections (its file appears before the daemon serves on it). */
function socketAccepts(file) {
  return new Promise((resolve) => {
    const s = connect(file, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Starts the node's runtime units in order, each once the one before answers on its socket, then the kubelet. */
async function startNode({ prepared, runtime, registry, ports }) {
  const p = nodePaths(prepared.hostRoot);
  const common = { unitsDir: p.units, stateDir: p.unitState, logDir: p.logs };
  const runners = [];
  for (const { unit, socket } of prepared.runtimeUnits) {
    runners.push({ unit, ...(await runUnit({ ...common, name: unit, ready: () => socketAccepts(socket), timeoutMs: 90_000 })) });
    if (runtime.afterStart) runtime.afterStart({ hostRoot: prepared.hostRoot, registry, unit });
  }
  runners.push({ unit: 'kubelet', ...(await runUnit({ ...common, name: 'kubelet', ready: async () => (await httpStatus(ports.healthz, '/healthz')) === 200, timeoutMs: 120_000 })) });
  return runners;
}

/** Where a node can set kubelet's runtime endpoint (hack/cluster --kubelet-endpoint-in). */
const ENDPOINT_PLACES = ['kubeadm-flags', 'drop-in', 'config', 'instance-config'];

module.exports = { ENDPOINT_PLACES, prepareNode, startNode, removeCgroupRoot, pidsUnder, cgroupHierarchies };
