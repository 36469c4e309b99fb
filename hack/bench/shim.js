// npm run bench -- shim: 100 `sleep` containers through berth-shim (berth-run library), then the same 100
// through Debian's containerd 1.6 and through containerd 2.x from hack/peers (`ctr run -d`,
// containerd-shim-runc-v2), in the same run. Reports the shim's RSS, RSS per monitor, median create+start
// latency, each containerd's shims' RSS, and the ratios against each; JSON in
// build/bench/shim.json. Reports; never gates.
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
/** The image platform's architecture for this machine, in Go's (OCI's) names. */
const GOARCH = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' }[process.arch] ?? process.arch;
const { containerdEnv, containerdPeers, envInt, now, ms, removeNamespaceCgroups, summary, table, writeContainerdConfig } = require('./common');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'build', 'bin');

/** VmRSS and Pss of a process in KiB (Pss shares a binary's pages among the processes mapping it). */
function memory(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  let pss = rss;
  try { pss = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? rss); } catch { /* old kernel */ }
  return { rss, pss };
}

function processesMatching(test) {
  const out = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (test(argv)) out.push(Number(p));
    } catch { /* exited */ }
  }
  return out;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

function bundleClient(outfile) {
  require('esbuild').buildSync({
    stdin: { contents: "export { ShimClient } from './src/shim/client';\nexport { defaultSpec } from './src/oci/spec/default';\n", resolveDir: REPO, sourcefile: 'bench-shim.ts', loader: 'ts' },
    outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
    define: { __BERTH_VERSION__: JSON.stringify('bench') },
  });
  return require(outfile);
}

async function benchBerth({ tmp, n, rootfs, tag }) {
  process.env.BERTH_SHIM_PROTO = path.join(REPO, 'src', 'shim', 'proto', 'task.proto');
  const { ShimClient, defaultSpec } = bundleClient(path.join(tmp, 'shim-client.js'));
  const bundle = path.join(tmp, 'bundle');
  fs.mkdirSync(bundle);
  const spec = defaultSpec({ ociVersion: '1.0.2' });
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.args = ['/bin/sleep', '1000'];
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const stateDir = path.join(tmp, 'berth');
  const client = await ShimClient.connect({ stateDir, shimBinary: path.join(BIN, 'berth-shim') });
  const [shimPid] = processesMatching((a) => a.some((x) => x.endsWith('berth-shim')) && a.includes(stateDir));
  const latencies = [];
  const ids = [];
  try {
    for (let i = 0; i < n; i++) {
      const id = `bench-${tag}-${i}`;
      const t0 = now();
      await client.create({ id, bundle, runtime: 'berth' });
      ids.push(id);
      await client.start({ id });
      latencies.push(ms(t0, now()));
    }
    const monitors = processesMatching((a) => a[0].endsWith('berth-monitor') && a.some((x) => x.startsWith(stateDir))).map(memory);
    const shim = memory(shimPid);
    return {
      containers: n,
      startMs: summary(latencies),
      shimRssKiB: shim.rss,
      monitors: monitors.length,
      monitorRssKiB: summary(monitors.map((m) => m.rss)),
      monitorPssKiB: summary(monitors.map((m) => m.pss)),
      totalRssKiB: shim.rss + sum(monitors.map((m) => m.rss)),
    };
  } finally {
    for (const id of ids) await client.delete({ id, force: true }).catch(() => undefined);
    client.close();
    if (shimPid) try { process.kill(shimPid, 'SIGTERM'); } catch { /* gone */ }
  }
}

/** An OCI image archive of the busybox fixture, for `ctr images import`. */
function busyboxImage(tmp, rootfs) {
  const layout = path.join(tmp, 'oci');
  const blobs = path.join(layout, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (buf) => {
    const d = crypto.createHash('sha256').update(buf).digest('hex');
    fs.writeFileSync(path.join(blobs, d), buf);
    return { digest: `sha256:${d}`, size: buf.length };
  };
  const layerTar = path.join(tmp, 'layer.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', layerTar, '.']);
  const layerBuf = fs.readFileSync(layerTar);
  const layer = put(layerBuf);
  const config = put(Buffer.from(JSON.stringify({
    architecture: GOARCH, os: 'linux', config: { Cmd: ['sh'], Env: ['PATH=/bin:/sbin:/usr/bin'] },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
  })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  })));
  const name = 'docker.io/library/berth-bench-busybox:latest';
  fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': 'latest' } }],
  }));
  const archive = path.join(tmp, 'busybox-oci.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  return { archive, name };
}

async function benchContainerd({ tmp, n, rootfs, tag, peer }) {
  const dir = path.join(tmp, peer.key);
  const sock = path.join(dir, 'c.sock');
  fs.mkdirSync(dir, { recursive: true });
  const config = writeContainerdConfig(dir, sock);
  const log = fs.openSync(path.join(dir, 'containerd.log'), 'w');
  const env = containerdEnv(peer);
  const daemon = spawn(peer.containerd, ['--config', config], { stdio: ['ignore', log, log], env });
  fs.closeSync(log);
  const ns = `berth-bench-${tag}`;
  const ctr = (...args) => spawnSync(peer.ctr, ['-a', sock, '-n', ns, ...args], { encoding: 'utf8', env });
  const ids = [];
  try {
    const deadline = Date.now() + 20000;
    while (ctr('version').status !== 0) {
      if (Date.now() > deadline || daemon.exitCode !== null) throw new Error(`containerd did not start (see ${dir}/containerd.log)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const image = busyboxImage(dir, rootfs);
    // overlayfs, containerd's default and what nodes use (2.x's transfer service unpacks only for it by default).
    const imp = ctr('images', 'import', image.archive);
    if (imp.status !== 0) throw new Error(`ctr images import: ${imp.stderr}`);
    const latencies = [];
    for (let i = 0; i < n; i++) {
      const id = `bench-${tag}-${i}`;
      const t0 = now();
      const r = ctr('run', '-d', image.name, id, '/bin/sleep', '1000');
      if (r.status !== 0) throw new Error(`ctr run: ${r.stderr}`);
      latencies.push(ms(t0, now()));
      ids.push(id);
    }
    const shims = processesMatching((a) => a[0].includes('containerd-shim') && a.includes(sock)).map(memory);
    return {
      label: peer.label,
      containers: n,
      startMs: summary(latencies),
      shims: shims.length,
      shimRssKiB: summary(shims.map((s) => s.rss)),
      shimPssKiB: summary(shims.map((s) => s.pss)),
      totalRssKiB: sum(shims.map((s) => s.rss)),
      note: 'ctr run -d: one ctr process per container (its start-up is part of the latency)',
    };
  } finally {
    for (const id of ids) {
      ctr('task', 'kill', '-s', 'SIGKILL', id);
    }
    for (const id of ids) {
      for (let i = 0; i < 50 && ctr('task', 'delete', id).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));
      ctr('container', 'delete', id);
    }
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.once('exit', r)));
    removeNamespaceCgroups(ns);
  }
}

async function benchShim() {
  if (process.getuid?.() !== 0) throw new Error('the shim benchmark needs root');
  for (const b of ['berth-shim', 'berth-monitor', 'berth-init']) {
    if (!fs.existsSync(path.join(BIN, b))) throw new Error(`build/bin/${b} is missing: run \`npm run build\` first`);
  }
  const n = envInt('BENCH_CONTAINERS', 100, 1);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bshim-bench-'));
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const rootfs = path.join(execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim(), 'rootfs');
  try {
    const peers = containerdPeers();
    const berth = await benchBerth({ tmp, n, rootfs, tag });
    const containerd = {};
    for (const peer of peers) {
      try {
        containerd[peer.key] = await benchContainerd({ tmp, n, rootfs, tag, peer });
      } catch (err) {
        containerd[peer.key] = { label: peer.label, error: err.message };
      }
    }
    const measured = Object.values(containerd).filter((c) => !c.error);
    const rows = [
      ['berth-shim (one process)', '', `${berth.shimRssKiB}`, ''],
      ['berth-monitor, per container', `${berth.monitors}`, `${berth.monitorRssKiB.median}`, `${berth.monitorPssKiB.median}`],
      ['berth total (shim + monitors)', '', `${berth.totalRssKiB}`, ''],
    ];
    for (const c of measured) {
      rows.push([`${c.label}: shim per container`, `${c.shims}`, `${c.shimRssKiB.median}`, `${c.shimPssKiB.median}`]);
      rows.push([`${c.label}: shims total`, '', `${c.totalRssKiB}`, '']);
    }
    process.stdout.write(table(['memory (KiB)', 'processes', 'RSS (median)', 'PSS (median)'], rows));
    const lat = [['berth-shim create+start', berth.startMs.median.toFixed(1), berth.startMs.p90.toFixed(1)]];
    for (const c of measured) lat.push([`ctr run -d (${c.label})`, c.startMs.median.toFixed(1), c.startMs.p90.toFixed(1)]);
    process.stdout.write('\n' + table(['start latency (ms)', 'median', 'p90'], lat));
    const ratios = {};
    for (const [key, c] of Object.entries(containerd)) {
      if (!c.error) ratios[key] = { memoryBerthOverContainerd: berth.totalRssKiB / c.totalRssKiB, startBerthOverContainerd: berth.startMs.median / c.startMs.median };
    }
    const targets = [['monitor RSS <= 512 KiB', berth.monitorRssKiB.max <= 512]];
    for (const [key, r] of Object.entries(ratios)) {
      const label = containerd[key].label;
      targets.push([`shim + monitors <= 0.2x ${label} shims`, r.memoryBerthOverContainerd <= 0.2], [`start latency below ${label}`, r.startBerthOverContainerd < 1]);
    }
    process.stdout.write('\n');
    for (const [key, c] of Object.entries(containerd)) {
      process.stdout.write(c.error ? `${c.label}: ${c.error}\n`
        : `vs ${c.label}: memory ratio ${ratios[key].memoryBerthOverContainerd.toFixed(3)}x, start latency ratio ${ratios[key].startBerthOverContainerd.toFixed(2)}x\n`);
    }
    for (const [what, ok] of targets) process.stdout.write(`  ${ok ? 'MET ' : 'MISS'} ${what}\n`);
    const outDir = path.join(REPO, 'build', 'bench');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'shim.json'), JSON.stringify({ berth, containerd, ratios, targets: Object.fromEntries(targets) }, null, 2) + '\n');
    process.stdout.write(`results: build/bench/shim.json\n`);
  } finally {
    spawnSync('sh', ['-c', `grep -o ' ${tmp}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { benchShim };
