// containerd's config.toml with its CRI plugin as Berth's test setups run it (hack/cluster nodes, the cri
// benchmark, the berthctl comparison suite): everything under the caller's directories, runc as the default
// "runc" handler with cgroupfs, our CNI dirs, registry hosts from certsDir, streaming on loopback, and
// restrict_oom_score_adj (no CAP_SYS_RESOURCE here: the pause container's -998 cannot be set).
'use strict';

/**
 * version: 3 (containerd 2.x) or 2 (1.6). o: { root, state, socket, temp?, runcBin, runcRoot, cniBinDir,
 * cniConfDir, certsDir, pauseImage, optDir }. Returns the file's text.
 */
function containerdCriConfig(version, o) {
  const common = [
    `root = "${o.root}"`, `state = "${o.state}"`,
    // NRI's socket is host-wide (/var/run/nri); two containerds would fight over it. Unused snapshotters off.
    'disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]', `  address = "${o.socket}"`, '[ttrpc]', `  address = "${o.socket}.ttrpc"`, '[debug]', '  address = ""', '[metrics]', '  address = ""',
  ];
  const runc = [`  BinaryName = "${o.runcBin}"`, `  Root = "${o.runcRoot}"`, '  SystemdCgroup = false'];
  const lines = version === 3 ? [
    'version = 3', ...(o.temp ? [`temp = "${o.temp}"`] : []), ...common,
    "[plugins.'io.containerd.cri.v1.images']", '  snapshotter = "overlayfs"',
    "[plugins.'io.containerd.cri.v1.images'.pinned_images]", `  sandbox = "${o.pauseImage}"`,
    "[plugins.'io.containerd.cri.v1.images'.registry]", `  config_path = "${o.certsDir}"`,
    "[plugins.'io.containerd.cri.v1.runtime']", '  restrict_oom_score_adj = true',
    "[plugins.'io.containerd.cri.v1.runtime'.containerd]", '  default_runtime_name = "runc"',
    "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]", '  runtime_type = "io.containerd.runc.v2"',
    "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]", ...runc,
    "[plugins.'io.containerd.cri.v1.runtime'.cni]", `  bin_dirs = ["${o.cniBinDir}"]`, `  conf_dir = "${o.cniConfDir}"`,
    "[plugins.'io.containerd.grpc.v1.cri']", '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
    "[plugins.'io.containerd.internal.v1.opt']", `  path = "${o.optDir}"`,
    "[plugins.'io.containerd.image-verifier.v1.bindir']", `  bin_dir = "${o.optDir}/image-verifier/bin"`,
  ] : [
    'version = 2', ...common,
    '[plugins."io.containerd.grpc.v1.cri"]', `  sandbox_image = "${o.pauseImage}"`, '  restrict_oom_score_adj = true', '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
    '[plugins."io.containerd.grpc.v1.cri".containerd]', '  snapshotter = "overlayfs"', '  default_runtime_name = "runc"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
    '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]', ...runc,
    '[plugins."io.containerd.grpc.v1.cri".cni]', `  bin_dir = "${o.cniBinDir}"`, `  conf_dir = "${o.cniConfDir}"`,
    '[plugins."io.containerd.grpc.v1.cri".registry]', `  config_path = "${o.certsDir}"`,
    '[plugins."io.containerd.internal.v1.opt"]', `  path = "${o.optDir}"`,
  ];
  return `${lines.join('\n')}\n`;
}

module.exports = { containerdCriConfig };
