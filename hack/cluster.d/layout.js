// Where a cluster keeps everything: one directory per cluster (BERTH_CLUSTERS_DIR/<name>, default
// /var/lib/berth-clusters/<name>), holding its state file, PKI, control plane, registry and one host root per
// node (node-<i>). `down` removes the directory; nothing the cluster makes lives outside it except what the kernel keeps
// (processes, mounts, links, cgroups, firewall rules), which down removes by name.
'use strict';
const path = require('node:path');

const CLUSTERS_DIR = process.env.BERTH_CLUSTERS_DIR || '/var/lib/berth-clusters';
const NAME = /^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/;

function clusterDir(name) {
  return path.join(CLUSTERS_DIR, name);
}

/** Node `index`'s host root: short, for the unix sockets the runtimes make below it. */
function nodeHostRoot(dir, index) {
  return path.join(dir, `node-${index}`);
}

/** Paths inside a node's host root: laid out like that node's `/`. */
function nodePaths(hostRoot) {
  const p = (...parts) => path.join(hostRoot, ...parts);
  return {
    hostRoot,
    units: p('etc/systemd/system'),
    unitState: p('run/berth-units'),
    logs: p('var/log'),
    systemctl: p('usr/bin/systemctl'),
    kubeletBin: p('usr/bin/kubelet'),
    kubeletDir: p('var/lib/kubelet'),
    kubeletConfig: p('var/lib/kubelet/config.yaml'),
    kubeadmFlags: p('var/lib/kubelet/kubeadm-flags.env'),
    kubeletDefaults: p('etc/default/kubelet'),
    kubeletKubeconfig: p('etc/kubernetes/kubelet.conf'),
    pki: p('etc/kubernetes/pki'),
    manifests: p('etc/kubernetes/manifests'),
    podLogs: p('var/log/pods'),
    cniConf: p('etc/cni/net.d'),
    cniBin: p('opt/cni/bin'),
    cniData: p('var/lib/cni'),
    run: p('run'),
  };
}

module.exports = { CLUSTERS_DIR, NAME, clusterDir, nodeHostRoot, nodePaths };
