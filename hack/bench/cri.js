// `npm run bench -- cri`: the CRI RuntimeService of berthd against containerd 2.x (hack/peers) and Debian's
// containerd 1.6, each a private daemon (own root, state, socket, cgroup parent) in a temp dir, driven by an
// in-process grpc-js client on its CRI socket, in the same run. All three get the same CNI conflist
// (berth-bridge + berth-host-local on a bridge and subnet of this run, no masquerade) and the same busybox image
// from a local docker-registry (containerd also the cluster's pause image), pulled before anything is timed.
//   1. pod start: RunPodSandbox + CreateContainer + StartContainer of `sleep 3600`, BENCH_PODS (20) one after
//      another, then BENCH_CONCURRENT (50) at once: median, p95, and the wall time of the concurrent batch;
//   2. memory: the RSS and PSS of the runtime's own processes with BENCH_MEMORY_PODS (100) pods running, minus
//      the daemon's idle figure, per pod; and each daemon's idle RSS (berthd's includes its berth-shim);
//   3. berthd/containerd ratios of each figure.
// A table on stdout, build/bench/cri.json. Reports; never gates. Everything made is removed, also on failure
// and on Ctrl-C (SIGINT/SIGTERM): pods through the CRI, then daemons, shims, monitors, containers, mounts,
// cgroups, netns, the bridge and the temp dir, each by what this run recorded.
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { containerdEnv, containerdPeers, envInt, now, ms, percentile, summary, table } = require('./common');
const { pushLayout, PAUSE_IMAGE } = require('../cluster.d/registry');
const { containerdCriConfig } = require('../cluster.d/containerd-config');

const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'build', 'bin');
const BERTHD = path.join(BIN, 'berthd');
const PROTO_JSON = path.join(REPO, 'build', 'lib', 'cri-api.json');
const PROTO_FILES = ['api.proto', 'berth.proto'].map((f) => path.join(REPO, 'src', 'cri', 'proto', f));
const REGISTRY = '/usr/bin/docker-registry';
const CALL_TIMEOUT_MS = 120000;

const sleep = (msecs) => new Promise((r) => setTimeout(r, msecs));
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// ---- processes ----

/** A daemon in its own session (a terminal's Ctrl-C reaches only us; we remove its pods first), dying with us. */
function startDaemon(file, args, logFile, env = process.env) {
  const fd = fs.openSync(logFile, 'w');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', file, ...args], { stdio: ['ignore', fd, fd], env, detached: true });
  fs.closeSync(fd);
  const exited = new Promise((r) => child.once('exit', r));
  child.once('error', () => undefined);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid, // setpriv execs the daemon: the same pid
    alive,
    async stop() {
      if (!alive()) return;
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 15000);
      await exited;
      clearTimeout(t);
    },
  };
}

function procArgv(pid) {
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean); } catch { return []; }
}

function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), state: f[0], ppid: Number(f[1]) };
  } catch {
    return undefined;
  }
}

const allPids = () => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
const live = (pid) => { const s = procStat(pid); return !!s && s.state !== 'Z' && s.state !== 'X'; };

/** VmRSS and Pss in KiB (Pss divides shared pages among the processes that map them); 0 once gone. */
function memoryOf(pid) {
  try {
    const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    let pss = rss;
    try { pss = Number(/^Pss:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? rss); } catch { /* old kernel */ }
    return { rss, pss };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** Sums over `groups` (name → pids): { rssKiB, pssKiB, processes, byGroup }. */
function measure(groups) {
  const byGroup = {};
  for (const [name, pids] of Object.entries(groups)) {
    const m = pids.map(memoryOf);
    byGroup[name] = { processes: pids.length, rssKiB: sum(m.map((x) => x.rss)), pssKiB: sum(m.map((x) => x.pss)) };
  }
  const g = Object.values(byGroup);
  return { rssKiB: sum(g.map((x) => x.rssKiB)), pssKiB: sum(g.map((x) => x.pssKiB)), processes: sum(g.map((x) => x.processes)), byGroup };
}

async function killAndWait(pids) {
  const targets = pids.filter(live);
  for (const p of targets) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  for (let i = 0; i < 100 && targets.some(live); i++) await sleep(50);
}

// ---- cgroups, mounts, links ----

/** Every cgroup hierarchy's mount point (v1: one per controller; v2: the unified root). */
function cgroupHierarchies() {
  const top = '/sys/fs/cgroup';
  if (fs.existsSync(path.join(top, 'cgroup.procs'))) return [top];
  return fs.readdirSync(top).map((h) => path.join(top, h))
    .filter((d) => { try { return !fs.lstatSync(d).isSymbolicLink() && fs.existsSync(path.join(d, 'cgroup.procs')); } catch { return false; } });
}

/** The cgroups at and below `/<name>` in every hierarchy, deepest first. */
function cgroupTree(name) {
  const out = [];
  const walk = (d) => {
    out.push(d);
    let entries = [];
    try { entries = fs.readdirSync(d, { withFileTypes: true }); } catch { return; }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  for (const h of cgroupHierarchies()) if (fs.existsSync(path.join(h, name))) walk(path.join(h, name));
  return out.sort((a, b) => b.length - a.length);
}

/** Kills whatever is still in the cgroups under /<name>, then removes them. */
async function removeCgroups(name) {
  const pids = new Set();
  for (const d of cgroupTree(name)) {
    try { for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) pids.add(Number(p)); } catch { /* gone */ }
  }
  await killAndWait([...pids]);
  const left = [];
  for (const d of cgroupTree(name)) {
    for (let i = 0; ; i++) {
      try { fs.rmdirSync(d); break; } catch (err) {
        if (err.code === 'ENOENT') break;
        if (i >= 20) { left.push(`${d}: ${err.code}`); break; }
        await sleep(50); // EBUSY while the last killed task is being torn down
      }
    }
  }
  return left;
}

const unescapeMount = (s) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));

/** Lazily unmounts every mount at or below each of `prefixes` (deepest first); returns what stayed. */
function unmountBelow(prefixes) {
  const points = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
    .map((l) => unescapeMount(l.split(' ')[4]))
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)));
  for (let round = 0; round < 5; round++) {
    const ps = [...new Set(points())].sort((a, b) => b.length - a.length);
    if (!ps.length) return [];
    for (const p of ps) spawnSync('umount', ['-l', p], { stdio: 'ignore' });
  }
  return points();
}

const linkExists = (name) => fs.existsSync(`/sys/class/net/${name}`);

// ---- the subnet: a /22 of 10/8 that no route or address of this host overlaps ----

function ipv4(s) {
  return s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function pickSubnet() {
  const used = [];
  const out = spawnSync('sh', ['-c', 'ip -4 -o route show table all; ip -4 -o addr show'], { encoding: 'utf8' }).stdout || '';
  for (const m of out.matchAll(/(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const bits = m[2] === undefined ? 32 : Number(m[2]);
    const size = 2 ** (32 - bits);
    const start = Math.floor(ipv4(m[1]) / size) * size;
    used.push([start, start + size]);
  }
  const size = 1024;
  for (let k = 0; k < 64 * 20; k++) {
    const second = 230 + (Math.floor(k / 64) % 20);
    const third = (((process.pid + k) % 64) * 4);
    const start = ipv4(`10.${second}.${third}.0`);
    if (!used.some(([a, b]) => start < b && a < start + size)) return { subnet: `10.${second}.${third}.0/22` };
  }
  throw new Error('no free /22 in 10.230.0.0-10.249.255.255 for the pods');
}

// ---- registry and images ----

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function connects(opts) {
  return new Promise((resolve) => {
    const c = net.connect(opts, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

async function waitUntil(what, cond, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** docker-registry on 127.0.0.1 holding hack/fixtures' busybox (applets as symlinks) and the cluster's pause image. */
async function startRegistry(tmp, cleanups) {
  const port = await freePort();
  const cfg = path.join(tmp, 'registry.yml');
  fs.writeFileSync(cfg, [
    'version: 0.1', 'log: {level: error, accesslog: {disabled: true}}',
    `storage: {filesystem: {rootdirectory: ${JSON.stringify(path.join(tmp, 'registry'))}}}`,
    `http: {addr: "127.0.0.1:${port}", secret: berth-bench}`, '',
  ].join('\n'));
  const reg = startDaemon(REGISTRY, ['serve', cfg], path.join(tmp, 'registry.log'));
  cleanups.push(() => reg.stop());
  await waitUntil('docker-registry', () => connects({ host: '127.0.0.1', port }));
  const host = `127.0.0.1:${port}`;
  const fixtures = execFileSync(path.join(REPO, 'hack', 'fixtures'), [], { encoding: 'utf8' }).trim();
  pushLayout(host, path.join(fixtures, 'oci-layout'), 'library/busybox:latest');
  pushLayout(host, path.join(fixtures, 'pause-layout'), `pause:${PAUSE_IMAGE.split(':')[1]}`);
  return { host, image: `${host}/library/busybox:latest` };
}

// ---- the CRI client ----

function criClient(socket) {
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const opts = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };
  const def = fs.existsSync(PROTO_JSON) ? protoLoader.fromJSON(JSON.parse(fs.readFileSync(PROTO_JSON, 'utf8')), opts) : protoLoader.loadSync(PROTO_FILES, opts);
  const R = grpc.makeClientConstructor(def['runtime.v1.RuntimeService'], 'RuntimeService');
  const I = grpc.makeClientConstructor(def['runtime.v1.ImageService'], 'ImageService');
  // One channel for both services, as the kubelet has.
  const runtime = new R(`unix://${socket}`, grpc.credentials.createInsecure());
  const image = new I(`unix://${socket}`, grpc.credentials.createInsecure(), { channelOverride: runtime.getChannel() });
  const call = (c, method, req, timeoutMs = CALL_TIMEOUT_MS) => new Promise((resolve, reject) => {
    c[method](req, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(new Error(`${method}: ${err.details || err.message}`)) : resolve(res)));
  });
  return {
    runtime: (m, req, t) => call(runtime, m, req, t),
    image: (m, req, t) => call(image, m, req, t),
    close() { runtime.close(); },
  };
}

// ---- the runtimes ----

/** The CNI plugins as containerd execs them: our three by name, and berth-loopback also as `loopback` (its CRI's lo). */
function cniBinDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const p of ['berth-bridge', 'berth-host-local', 'berth-loopback']) fs.symlinkSync(path.join(BIN, p), path.join(dir, p));
  fs.symlinkSync(path.join(BIN, 'berth-loopback'), path.join(dir, 'loopback'));
  return dir;
}

function writeConflist(confDir, { bridge, subnet, ipamDir, name }) {
  fs.mkdirSync(confDir, { recursive: true });
  fs.writeFileSync(path.join(confDir, '10-bench.conflist'), `${JSON.stringify({
    cniVersion: '1.0.0', name,
    plugins: [{
      type: 'berth-bridge', bridge, isGateway: true, isDefaultGateway: true, ipMasq: false,
      ipam: { type: 'berth-host-local', dataDir: ipamDir, ranges: [[{ subnet }]] },
    }],
  }, null, 2)}\n`);
}

function berthdRuntime() {
  return {
    key: 'berthd', label: 'berthd', images: [],
    async start({ dir, registry, net: n }) {
      const state = path.join(dir, 'state');
      const socket = path.join(state, 'berthd.sock');
      const confDir = path.join(dir, 'net.d');
      writeConflist(confDir, n);
      const cfg = path.join(dir, 'config.yaml');
      fs.writeFileSync(cfg, [
        `root: ${path.join(dir, 'root')}`, `state: ${state}`, `listen: ${socket}`, 'logLevel: warn',
        'registries:', `  "${registry.host}": {insecure: true}`,
        `cni: {confDir: ${confDir}, binDirs: [${cniBinDir(path.join(dir, 'cni-bin'))}]}`,
        'streaming: {address: "127.0.0.1:0"}', '',
      ].join('\n'));
      const d = startDaemon(BERTHD, ['--config', cfg], path.join(dir, 'berthd.log'));
      this.daemon = d;
      this.state = state;
      await waitUntil('the berthd socket', async () => {
        if (!d.alive()) throw new Error(`berthd exited (see ${dir}/berthd.log)`);
        return connects({ path: socket });
      });
      return socket;
    },
    shimPid() {
      try { return Number(fs.readFileSync(path.join(this.state, 'shim', 'shim.pid'), 'utf8').split(' ')[0]) || undefined; } catch { return undefined; }
    },
    /** berthd, its berth-shim, the berth-monitor of each container, the PID namespace holders of pods that share one. */
    processes() {
      const shim = this.shimPid();
      const monitors = allPids().filter((p) => { const a = procArgv(p); return a.length && path.basename(a[0]) === 'berth-monitor' && a.some((x) => x.startsWith(this.state)); });
      const holders = [];
      const sandboxes = path.join(this.state, 'cri', 'sandboxes');
      for (const s of fs.existsSync(sandboxes) ? fs.readdirSync(sandboxes) : []) {
        try { const p = Number(fs.readFileSync(path.join(sandboxes, s, 'pidns.pid'), 'utf8').trim()); if (live(p)) holders.push(p); } catch { /* none */ }
      }
      return { daemon: [this.daemon.pid].filter(live), shim: shim && live(shim) ? [shim] : [], monitors, holders };
    },
    idleGroups: ['daemon', 'shim'],
    async kill() {
      await this.daemon?.stop();
      if (!this.state) return;
      const p = this.processes();
      await killAndWait([...p.shim, ...p.monitors, ...p.holders]);
    },
  };
}

function containerdRuntime(peer) {
  const v2 = peer.key === 'containerd-2';
  return {
    key: peer.key, label: peer.label, images: [PAUSE_IMAGE], netns: new Set(),
    async start({ dir, registry, net: n }) {
      const socket = path.join(dir, 'run', 'containerd.sock');
      const confDir = path.join(dir, 'net.d');
      writeConflist(confDir, n);
      const binDir = cniBinDir(path.join(dir, 'cni-bin'));
      // hosts.toml: the registry over plain HTTP, also standing in for registry.k8s.io (the pause image's name).
      const certs = path.join(dir, 'certs.d');
      for (const h of [registry.host, PAUSE_IMAGE.split('/')[0]]) {
        fs.mkdirSync(path.join(certs, h), { recursive: true });
        fs.writeFileSync(path.join(certs, h, 'hosts.toml'), `server = "http://${registry.host}"\n\n[host."http://${registry.host}"]\n  capabilities = ["pull", "resolve"]\n`);
      }
      const tmpDir = path.join(dir, 'tmp');
      fs.mkdirSync(tmpDir, { recursive: true });
      const cfg = path.join(dir, 'config.toml');
      fs.writeFileSync(cfg, containerdCriConfig(v2 ? 3 : 2, {
        root: `${dir}/root`, state: `${dir}/run`, socket, temp: tmpDir, runcBin: path.join(peer.runcDir, 'runc'), runcRoot: `${dir}/run/runc`,
        cniBinDir: binDir, cniConfDir: confDir, certsDir: certs, pauseImage: PAUSE_IMAGE, optDir: `${dir}/opt`,
      }));
      const d = startDaemon(peer.containerd, ['--config', cfg], path.join(dir, 'containerd.log'), { ...containerdEnv(peer), TMPDIR: tmpDir });
      this.daemon = d;
      this.socket = socket;
      await waitUntil('the containerd socket', async () => {
        if (!d.alive()) throw new Error(`containerd exited (see ${dir}/containerd.log)`);
        return connects({ path: socket });
      });
      return socket;
    },
    /** The pod's network namespace (containerd pins it under /var/run/netns): removed at cleanup if still there. */
    async track(cri, podId) {
      try {
        const st = await cri.runtime('PodSandboxStatus', { podSandboxId: podId, verbose: true });
        const info = JSON.parse(st.info?.info ?? '{}');
        const ns = (info.runtimeSpec?.linux?.namespaces ?? []).find((x) => x.type === 'network')?.path;
        if (ns) this.netns.add(ns);
      } catch { /* only for cleanup */ }
    },
    /** containerd, its containerd-shim-runc-v2 processes (one per pod), the pods' pause processes. */
    processes() {
      const shims = allPids().filter((p) => { const a = procArgv(p); return a.length && path.basename(a[0]).startsWith('containerd-shim') && a.includes(this.socket); });
      const set = new Set(shims);
      const pause = allPids().filter((p) => { const s = procStat(p); return s && set.has(s.ppid) && s.comm === 'pause'; });
      return { daemon: [this.daemon.pid].filter(live), shims, pause };
    },
    idleGroups: ['daemon'],
    async kill() {
      await this.daemon?.stop();
      if (!this.socket) return;
      await killAndWait(this.processes().shims);
    },
    cleanupPaths() {
      return [...this.netns];
    },
  };
}

// ---- pods ----

function podConfigs(rt, ctx, i) {
  const name = `bench-${i}`;
  const pod = {
    metadata: { name, namespace: 'bench', uid: `${ctx.tag}-${rt.key}-${i}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(ctx.dir, 'logs', name),
    linux: { cgroupParent: `/${ctx.cgroupRoot}/pod${i}`, securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const container = { metadata: { name: 'sleep', attempt: 0 }, image: { image: ctx.image }, command: ['/bin/sleep'], args: ['3600'], logPath: 'sleep.log' };
  return { pod, container };
}

/** RunPodSandbox + CreateContainer + StartContainer; the pod id is recorded before anything else can fail. */
async function startPod(cri, rt, ctx, i) {
  if (ctx.env.aborted) throw new Error('interrupted');
  const { pod, container } = podConfigs(rt, ctx, i);
  const t0 = now();
  const { podSandboxId } = await cri.runtime('RunPodSandbox', { config: pod, runtimeHandler: '' });
  ctx.pods.add(podSandboxId);
  const t1 = now();
  const { containerId } = await cri.runtime('CreateContainer', { podSandboxId, config: container, sandboxConfig: pod });
  const t2 = now();
  await cri.runtime('StartContainer', { containerId });
  const t3 = now();
  return { id: podSandboxId, ms: ms(t0, t3), rpcs: { run: ms(t0, t1), create: ms(t1, t2), start: ms(t2, t3) } };
}

/** `fn` over `items`, at most `limit` at a time. */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => { while (next < items.length) { const i = next++; out[i] = await fn(items[i], i); } };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function removePods(cri, ctx, ids = [...ctx.pods]) {
  const failed = [];
  await pool(ids, 4, async (id) => {
    try {
      await cri.runtime('StopPodSandbox', { podSandboxId: id });
      await cri.runtime('RemovePodSandbox', { podSandboxId: id });
      ctx.pods.delete(id);
    } catch (err) {
      failed.push(`${id.slice(0, 12)}: ${err.message}`);
    }
  });
  return failed;
}

/** Every pod the daemon knows of (also one whose RunPodSandbox failed half-way, if it kept it). */
async function removeAllPods(cri, rt, ctx) {
  try {
    const { items } = await cri.runtime('ListPodSandbox', {}, 20000);
    for (const p of items) ctx.pods.add(p.id);
  } catch { /* the daemon may be gone */ }
  // What to remove by hand should the CRI fail to (containerd's netns pins outside its state dir).
  for (const id of ctx.pods) await rt.track?.(cri, id);
  return removePods(cri, ctx);
}

const settle = () => sleep(envInt('BENCH_SETTLE_MS', 2000, 0));
/**
 * Idle means no CRI call for a while: long enough for each runtime's garbage collector to give back what the
 * last calls left (V8 shrinks an idle heap after several seconds, Go's scavenger likewise). Same wait for all.
 */
const quiet = () => sleep(envInt('BENCH_IDLE_MS', 15000, 0));

/** One runtime through the three measurements. */
async function benchRuntime(rt, env, sizes, log) {
  const dir = path.join(env.tmp, rt.key);
  fs.mkdirSync(dir, { recursive: true });
  const ctx = { env, dir, tag: env.tag, image: env.registry.image, cgroupRoot: `berth-bench-cri-${env.tag}-${rt.key}`, pods: new Set() };
  let cri;
  let cleaned;
  // Every step runs whatever the ones before it did; what could not be undone is printed.
  const cleanup = () => (cleaned ??= (async () => {
    const problems = [];
    const step = async (what, fn) => { try { await fn(); } catch (err) { problems.push(`${what}: ${err.message}`); } };
    if (cri) {
      await step('pods', async () => problems.push(...(await removeAllPods(cri, rt, ctx)).map((p) => `pod ${p}`)));
      cri.close();
    }
    await step('processes', () => rt.kill());
    await step('cgroups', async () => problems.push(...(await removeCgroups(ctx.cgroupRoot))));
    // /var/run is a link to /run: mountinfo names the real path.
    const extra = (rt.cleanupPaths?.() ?? []).map((p) => { try { return fs.realpathSync(p); } catch { return undefined; } }).filter(Boolean);
    let stuck = [];
    await step('mounts', () => { stuck = unmountBelow([dir, ...extra]); });
    if (stuck.length) problems.push(`still mounted: ${stuck.join(', ')}`);
    for (const p of extra) if (!stuck.includes(p)) await step(p, () => fs.rmSync(p, { force: true }));
    await step('bridge', () => { if (linkExists(env.net.bridge)) execFileSync('ip', ['link', 'del', env.net.bridge], { stdio: 'ignore' }); });
    if (!stuck.length) await step('temp dir', () => fs.rmSync(dir, { recursive: true, force: true }));
    if (problems.length) log(`${rt.label}: cleanup: ${problems.join('; ')}`);
  })());
  env.cleanups.push(cleanup);
  try {
    const socket = await rt.start({ dir, registry: env.registry, net: { ...env.net, ipamDir: path.join(dir, 'ipam'), name: `bench-cri-${env.tag}` } });
    cri = criClient(socket);
    let said = 'no answer';
    await waitUntil(`${rt.label}: CRI Status with RuntimeReady and NetworkReady`, async () => {
      try {
        const st = await cri.runtime('Status', {}, 5000);
        said = st.status.conditions.map((c) => `${c.type}=${c.status}${c.message ? ` (${c.message})` : ''}`).join(', ');
        return ['RuntimeReady', 'NetworkReady'].every((t) => st.status.conditions.some((c) => c.type === t && c.status));
      } catch (err) { said = err.message; return false; }
    }).catch((err) => { throw new Error(`${err.message}: ${said}`); });
    for (const ref of [ctx.image, ...rt.images]) await cri.image('PullImage', { image: { image: ref } });
    // A warm-up pod: the first one pays for starting berth-shim, unpacking the pause image's snapshot, caches.
    let seq = 0;
    const run = async () => { const p = await startPod(cri, rt, ctx, seq++); await rt.track?.(cri, p.id); return p; };
    await removePods(cri, ctx, [(await run()).id]);
    await quiet();
    const idle = measure(Object.fromEntries(rt.idleGroups.map((g) => [g, rt.processes()[g]])));
    log(`${rt.label}: idle ${(idle.rssKiB / 1024).toFixed(1)} MiB RSS; ${sizes.pods} pods one after another…`);

    const sequential = [];
    const byRpc = { run: [], create: [], start: [] };
    for (let i = 0; i < sizes.pods; i++) {
      const p = await run();
      sequential.push(p.ms);
      for (const k of Object.keys(byRpc)) byRpc[k].push(p.rpcs[k]);
    }
    await removePods(cri, ctx);

    log(`${rt.label}: ${sizes.concurrent} pods at once…`);
    const t0 = now();
    const conc = await Promise.all(Array.from({ length: sizes.concurrent }, () => startPod(cri, rt, ctx, seq++)));
    const wallMs = ms(t0, now());
    for (const p of conc) await rt.track?.(cri, p.id);
    await removePods(cri, ctx);

    // The memory pods are started 4 at a time (their start is not what is measured here); a failure stops
    // adding pods and the figure is taken over those that run.
    // The per-pod figure is taken against the idle figure of now (a daemon's heap keeps some of what the pods
    // above made), the idle figure reported against the daemon's right after its warm-up pod.
    await settle();
    const base = measure(Object.fromEntries(rt.idleGroups.map((g) => [g, rt.processes()[g]])));
    log(`${rt.label}: ${sizes.memoryPods} pods running for the memory figures…`);
    let memError;
    let running = 0;
    await pool(Array.from({ length: sizes.memoryPods }), 4, async () => {
      if (memError || env.aborted) return;
      try { await run(); running++; } catch (err) { memError ??= err.message; }
    });
    await settle();
    // Every container counted must really run (a pod whose container died would flatter the figure).
    const { containers } = await cri.runtime('ListContainers', { filter: { state: { state: 'CONTAINER_RUNNING' } } });
    if (containers.length !== running) throw new Error(`${running} pods started, but ${containers.length} containers run`);
    const procs = rt.processes();
    const loaded = measure(procs);
    const memory = {
      podsAsked: sizes.memoryPods, podsRunning: running, ...(memError ? { error: memError } : {}),
      baseline: base, loaded, perPodRssKiB: (loaded.rssKiB - base.rssKiB) / running, perPodPssKiB: (loaded.pssKiB - base.pssKiB) / running,
    };
    if (env.aborted) throw new Error('interrupted');
    await removePods(cri, ctx);
    await quiet();
    const idleAfter = measure(Object.fromEntries(rt.idleGroups.map((g) => [g, rt.processes()[g]])));
    return {
      label: rt.label,
      sequential: {
        n: sequential.length, median: summary(sequential).median, p95: percentile(sequential, 95), samples: sequential,
        rpcMedians: Object.fromEntries(Object.entries(byRpc).map(([k, v]) => [k, summary(v).median])),
      },
      concurrent: { n: conc.length, median: summary(conc.map((p) => p.ms)).median, p95: percentile(conc.map((p) => p.ms), 95), wallMs, samples: conc.map((p) => p.ms) },
      memory, idle, idleAfterRun: idleAfter,
    };
  } finally {
    await cleanup();
  }
}

// ---- the report ----

function report(results, sizes) {
  const keys = Object.keys(results).filter((k) => !results[k].error);
  const berth = results.berthd && !results.berthd.error ? results.berthd : undefined;
  const peers = keys.filter((k) => k !== 'berthd');
  const figures = [
    ['pod start, one at a time: median (ms)', (r) => r.sequential.median, 1],
    ['pod start, one at a time: p95 (ms)', (r) => r.sequential.p95, 1],
    ['  of which RunPodSandbox, median (ms)', (r) => r.sequential.rpcMedians.run, 1],
    ['  of which CreateContainer, median (ms)', (r) => r.sequential.rpcMedians.create, 1],
    ['  of which StartContainer, median (ms)', (r) => r.sequential.rpcMedians.start, 1],
    [`pod start, ${sizes.concurrent} at once: median (ms)`, (r) => r.concurrent.median, 0],
    [`pod start, ${sizes.concurrent} at once: p95 (ms)`, (r) => r.concurrent.p95, 0],
    [`pod start, ${sizes.concurrent} at once: wall (ms)`, (r) => r.concurrent.wallMs, 0],
    ['memory per running pod, RSS (KiB)', (r) => r.memory.perPodRssKiB, 0],
    ['memory per running pod, PSS (KiB)', (r) => r.memory.perPodPssKiB, 0],
    ['idle RSS (MiB)', (r) => r.idle.rssKiB / 1024, 1],
    ['idle PSS (MiB)', (r) => r.idle.pssKiB / 1024, 1],
  ];
  const ratios = {};
  for (const k of peers) ratios[k] = {};
  const rows = figures.map(([name, get, digits]) => {
    const row = [name, ...keys.map((k) => get(results[k]).toFixed(digits))];
    for (const k of peers) {
      const r = berth ? get(berth) / get(results[k]) : NaN;
      ratios[k][name] = r;
      row.push(berth ? `${r.toFixed(2)}×` : '-');
    }
    return row;
  });
  let text = table(['', ...keys.map((k) => results[k].label), ...peers.map((k) => `berthd/${k}`)], rows);
  for (const k of keys) {
    const m = results[k].memory;
    const parts = Object.entries(m.loaded.byGroup).map(([g, v]) => `${g} ${v.processes}× ${(v.rssKiB / 1024).toFixed(1)} MiB`);
    text += `${results[k].label} with ${m.podsRunning} pods: ${parts.join(', ')}${m.podsRunning < m.podsAsked ? ` (asked for ${m.podsAsked}: ${m.error})` : ''}\n`;
  }
  for (const [k, r] of Object.entries(results)) if (r.error) text += `${r.label}: not measured: ${r.error}\n`;
  const targets = berth ? [{ name: 'berthd + berth-shim idle RSS ≤ 120 MiB', pass: berth.idle.rssKiB / 1024 <= 120, detail: `${(berth.idle.rssKiB / 1024).toFixed(1)} MiB` }] : [];
  if (targets.length) text += `\n${table(['target', 'result', 'measured'], targets.map((t) => [t.name, t.pass ? 'MET' : 'MISS', t.detail]), 'lll')}`;
  return { text, ratios, targets };
}

async function benchCri() {
  if (process.getuid?.() !== 0) throw new Error('the cri benchmark needs root');
  for (const f of [BERTHD, path.join(BIN, 'berth-shim'), path.join(BIN, 'berth-bridge')]) if (!fs.existsSync(f)) throw new Error(`${path.relative(REPO, f)} is missing: run \`npm run build\` first`);
  if (!fs.existsSync(REGISTRY)) throw new Error(`${REGISTRY} is missing: hack/deps installs it`);
  const sizes = { pods: envInt('BENCH_PODS', 20, 1), concurrent: envInt('BENCH_CONCURRENT', 50, 1), memoryPods: envInt('BENCH_MEMORY_PODS', 100, 1) };
  const runtimes = [berthdRuntime(), ...(process.env.BENCH_CONTAINERD === 'none' ? [] : containerdPeers().map(containerdRuntime))];
  const tag = process.pid.toString(36);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-cri-'));
  const log = (s) => process.stderr.write(`bench cri: ${s}\n`);
  const env = { tmp, tag, cleanups: [], net: { bridge: `bcri${tag}`.slice(0, 15), ...pickSubnet() } };
  let finishing;
  const finish = () => (finishing ??= (async () => {
    for (const c of env.cleanups.reverse()) { try { await c(); } catch (err) { log(`cleanup: ${err.message}`); } }
    if (!unmountBelow([tmp]).length) fs.rmSync(tmp, { recursive: true, force: true });
  })());
  // The first signal stops the run at its next step, whose unwinding removes everything; a second one cleans up
  // at once (CRI calls in flight may still be making pods) and exits.
  const onSignal = (sig) => {
    if (!env.aborted) {
      env.aborted = sig;
      log(`${sig}: stopping; removing the pods, daemons and everything else this run made… (again to hurry)`);
      return;
    }
    finish().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    env.registry = await startRegistry(tmp, env.cleanups);
    const mem = Math.round(os.totalmem() / 2 ** 30);
    process.stdout.write(`${sizes.pods} pods one at a time, ${sizes.concurrent} at once, ${sizes.memoryPods} running for memory; ${os.cpus().length} cores, ${mem} GiB; bridge ${env.net.bridge} ${env.net.subnet}\n`);
    const results = {};
    for (const rt of runtimes) {
      try {
        results[rt.key] = await benchRuntime(rt, env, sizes, log);
      } catch (err) {
        if (env.aborted) break;
        results[rt.key] = { label: rt.label, error: err.message };
        log(`${rt.label}: ${err.message}`);
      }
      if (env.aborted) break;
    }
    if (env.aborted) throw new Error(`interrupted (${env.aborted}); nothing written`);
    const { text, ratios, targets } = report(results, sizes);
    process.stdout.write(text);
    // containerd execs the plugins (loopback, bridge, and bridge execs host-local: three Node start-ups per pod);
    // berthd calls them in-process. What one exec costs here, for reading the pod start figures:
    const execs = [];
    for (let i = 0; i < 5; i++) {
      const t0 = now();
      spawnSync(path.join(BIN, 'berth-loopback'), [], { env: { ...process.env, CNI_COMMAND: 'VERSION' }, stdio: 'ignore' });
      execs.push(ms(t0, now()));
    }
    const cniExecMs = summary(execs).median;
    process.stdout.write(`note: containerd execs each CNI plugin (3 per pod); one exec of a Berth plugin (CNI_COMMAND=VERSION) takes ${cniExecMs.toFixed(0)} ms here (median of 5)\n`);
    const outDir = path.join(REPO, 'build', 'bench');
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, 'cri.json'), `${JSON.stringify({ date: new Date().toISOString(), sizes, cores: os.cpus().length, cniPluginExecMs: cniExecMs, results, ratios, targets }, null, 2)}\n`);
    process.stdout.write('results: build/bench/cri.json\n');
    return results;
  } finally {
    await finish();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

module.exports = { benchCri };
