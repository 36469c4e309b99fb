// The CRI runtimes a hack/cluster node can run, each configured entirely under the node's host root (config,
// state, sockets, the runc roots of its shims), pulling from the cluster's registry over plain HTTP, which stands
// in for registry.k8s.io, gcr.io and docker.io. A runtime says which peers it needs, writes its files and units
// (each with the socket that shows it is up), and names the socket the kubelet is pointed at.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { writeUnit } = require('./units');
const { PAUSE_IMAGE } = require('./registry');
const { containerdCriConfig } = require('./containerd-config');

/** Registries the cluster's registry stands in for: the test images and critest's carry these names. */
const MIRRORED = ['registry.k8s.io', 'k8s.gcr.io', 'gcr.io', 'docker.io'];

function write(file, text, mode) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, mode ? { mode } : undefined);
}

/**
 * containerd's registry host config (hosts.toml, read by 1.6 and 2.x), plain HTTP: the mirrored names resolve
 * on the cluster's registry only, so that an image missing there fails instead of coming from the internet.
 */
function writeHostsToml(certsDir, registry) {
  for (const host of MIRRORED) {
    write(path.join(certsDir, host, 'hosts.toml'), `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve"]\n`);
  }
  write(path.join(certsDir, registry, 'hosts.toml'),
    `server = "http://${registry}"\n\n[host."http://${registry}"]\n  capabilities = ["pull", "resolve", "push"]\n`);
}

/** containerd 2.x (config version 3) or 1.6 (version 2), with runc as the "runc" handler (the default). */
function containerd({ label, version, containerdBin, shimDir, runcBin }) {
  return {
    label,
    socket: (h) => path.join(h, 'run/containerd/containerd.sock'),
    setup({ hostRoot: h, registry }) {
      const certs = path.join(h, 'etc/containerd/certs.d');
      writeHostsToml(certs, registry);
      const sock = path.join(h, 'run/containerd/containerd.sock');
      const config = path.join(h, 'etc/containerd/config.toml');
      write(config, containerdCriConfig(version, {
        root: `${h}/var/lib/containerd`, state: `${h}/run/containerd`, socket: sock, temp: `${h}/var/lib/containerd/tmp`,
        runcBin, runcRoot: `${h}/run/containerd/runc`, cniBinDir: `${h}/opt/cni/bin`, cniConfDir: `${h}/etc/cni/net.d`,
        certsDir: certs, pauseImage: PAUSE_IMAGE, optDir: `${h}/opt/containerd`,
      }));
      fs.mkdirSync(path.join(h, 'var/lib/containerd/tmp'), { recursive: true });
      writeUnit(path.join(h, 'etc/systemd/system'), 'containerd', {
        description: `containerd (${label})`, exec: [containerdBin, '--config', config],
        // The shim is found on PATH; TMPDIR keeps the shims' temporary mounts and files inside the node.
        extra: [`Environment="PATH=${shimDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "TMPDIR=${h}/var/lib/containerd/tmp"`],
        timeoutStopSec: 30,
      });
      return [{ unit: 'containerd', socket: sock }];
    },
  };
}

/** Docker Engine (Debian's dockerd, with the containerd it supervises) and cri-dockerd in front of it. */
function criDockerd({ criDockerdBin, streamingPort }) {
  return {
    label: 'cri-dockerd over Docker Engine',
    // cri-dockerd 0.4.x hands out streaming URLs without a scheme, which kubelet 1.36's websocket path takes as
    // https (Mirantis/cri-dockerd#569): exec and attach fail unless the kubelet keeps the older path.
    kubeletFeatureGates: { ExtendWebSocketsToKubelet: false },
    socket: (h) => path.join(h, 'run/cri-dockerd.sock'),
    setup({ hostRoot: h, registry }) {
      const daemonJson = path.join(h, 'etc/docker/daemon.json');
      write(daemonJson, `${JSON.stringify({
        'data-root': path.join(h, 'var/lib/docker'), 'exec-root': path.join(h, 'run/docker'),
        hosts: [`unix://${h}/run/docker.sock`], pidfile: path.join(h, 'run/docker.pid'),
        // The pod network is CNI's (cri-dockerd calls the plugins); Docker's own bridge and firewall rules stay off.
        bridge: 'none', iptables: false, ip6tables: false, 'ip-masq': false, 'ip-forward': false, 'userland-proxy': false,
        // Docker mirrors docker.io only; registry.k8s.io's pause image is pulled from the registry and tagged.
        'registry-mirrors': [`http://${registry}`], 'insecure-registries': [registry],
        'exec-opts': ['native.cgroupdriver=cgroupfs'],
        // Docker has no restrict_oom_score_adj: runc behind a wrapper that raises negative scores to 0.
        runtimes: { 'runc-oom-clamped': { path: path.join(__dirname, 'runc-oom-clamped') } }, 'default-runtime': 'runc-oom-clamped', 'storage-driver': 'overlay2', 'log-level': 'warn',
      }, null, 2)}\n`);
      const units = path.join(h, 'etc/systemd/system');
      writeUnit(units, 'docker', {
        description: 'Docker Engine', exec: ['/usr/sbin/dockerd', '--config-file', daemonJson],
        extra: [`Environment="TMPDIR=${h}/var/lib/docker/tmp"`], timeoutStopSec: 30,
      });
      fs.mkdirSync(path.join(h, 'var/lib/docker/tmp'), { recursive: true });
      writeUnit(units, 'cri-docker', {
        description: 'CRI for Docker Engine', exec: [criDockerdBin,
          '--container-runtime-endpoint', `unix://${h}/run/cri-dockerd.sock`, '--docker-endpoint', `unix://${h}/run/docker.sock`,
          '--cri-dockerd-root-directory', path.join(h, 'var/lib/cri-dockerd'), '--network-plugin', 'cni',
          '--cni-bin-dir', path.join(h, 'opt/cni/bin'), '--cni-conf-dir', path.join(h, 'etc/cni/net.d'),
          '--cni-cache-dir', path.join(h, 'var/lib/cni/cache'), '--pod-infra-container-image', PAUSE_IMAGE,
          '--streaming-bind-addr', `127.0.0.1:${streamingPort}`],
      });
      return [{ unit: 'docker', socket: path.join(h, 'run/docker.sock') }, { unit: 'cri-docker', socket: path.join(h, 'run/cri-dockerd.sock') }];
    },
    /** After Docker is up and before cri-dockerd needs it: the pause image under its registry.k8s.io name. */
    afterStart({ hostRoot: h, registry, unit }) {
      if (unit !== 'docker') return;
      const docker = (args) => execFileSync('/usr/bin/docker', ['-H', `unix://${h}/run/docker.sock`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
      const local = `${registry}/pause:${PAUSE_IMAGE.split(':')[1]}`;
      docker(['pull', '-q', local]);
      docker(['tag', local, PAUSE_IMAGE]);
    },
  };
}

/** berthd: Berth's CRI server, its shim started on first use (under the node's /run/berth, so `down` finds it). */
function berthd({ berthdBin }) {
  return {
    label: 'berthd',
    socket: (h) => path.join(h, 'run/berth/berthd.sock'),
    setup({ hostRoot: h, registry }) {
      const config = path.join(h, 'etc/berth/config.yaml');
      const mirror = { mirrors: [`http://${registry}`] };
      write(config, [
        `root: ${h}/var/lib/berth`, `state: ${h}/run/berth`, `listen: ${h}/run/berth/berthd.sock`,
        'registries:', ...MIRRORED.map((m) => `  ${m}: ${JSON.stringify(mirror)}`),
        `  "${registry}": {insecure: true}`,
        `cni: {confDir: ${h}/etc/cni/net.d, binDirs: [${h}/opt/cni/bin]}`, 'streaming: {address: "127.0.0.1:0"}', '',
      ].join('\n'));
      writeUnit(path.join(h, 'etc/systemd/system'), 'berthd', { description: 'Berth CRI server', exec: [berthdBin, '--config', config] });
      return [{ unit: 'berthd', socket: path.join(h, 'run/berth/berthd.sock') }];
    },
  };
}

module.exports = { containerd, criDockerd, berthd };
