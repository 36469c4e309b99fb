// `npm run bench -- pull`: cold pulls of a fixture image (≥ 5 layers, ≥ 50 MB) from a local docker-registry,
// by berthd (PullImage over its socket), by Debian's containerd 1.6 and by containerd 2.x from hack/peers
// (`ctr images pull --plain-http`, which also unpacks), interleaved, each run against a fresh root. Prints
// medians, the ratios and berthd's peak RSS;
// writes build/bench/pull.json. Reports; never gates (exit 0 on MISS).
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');
const { containerdEnv, containerdPeers, envInt, now, ms, summary, table, writeContainerdConfig } = require('./common');

const REPO = path.resolve(__dirname, '..', '..');
const BERTHD = path.join(REPO, 'build', 'bin', 'berthd');
const PROTO_JSON = path.join(REPO, 'build', 'lib', 'cri-api.json');
const REGISTRY = '/usr/bin/docker-registry';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

async function waitUntil(what, cond, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function connects(opts) {
  return new Promise((resolve) => {
    const c = net.connect(opts, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/** A child that dies with this process (setpriv --pdeathsig), stopped by pid. */
function startChild(file, args, logFile, env = process.env) {
  const fd = fs.openSync(logFile, 'w');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', file, ...args], { stdio: ['ignore', fd, fd], env });
  fs.closeSync(fd);
  const exited = new Promise((r) => child.once('exit', r));
  return {
    child,
    pid: child.pid,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
      const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 15000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ---- the fixture image ----

function sha256(b) {
  return `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
}

function request(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers: { ...headers, 'content-length': String(body ? body.length : 0) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function pushBlob(host, repo, data) {
  const digest = sha256(data);
  const start = await request('POST', `http://${host}/v2/${repo}/blobs/uploads/`, {});
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body}`);
  const loc = new URL(String(start.headers.location), `http://${host}`);
  loc.searchParams.set('digest', digest);
  const put = await request('PUT', loc.href, { 'content-type': 'application/octet-stream' }, data);
  if (put.status !== 201) throw new Error(`blob PUT: ${put.status} ${put.body}`);
  return { digest, size: data.length };
}

/** A gzipped layer made with GNU tar from `files` (name → Buffer or a file to copy). */
function layer(scratch, name, files) {
  const dir = path.join(scratch, 'layers', name);
  for (const [p, content] of Object.entries(files)) {
    const full = path.join(dir, p);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (typeof content === 'string') fs.copyFileSync(content, full);
    else fs.writeFileSync(full, content);
  }
  const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  return { gz: zlib.gzipSync(tar, { level: 1 }), diffId: sha256(tar) };
}

/** busybox plus `layers` layers of `mbPerLayer` MB of random files each; returns the total compressed size. */
async function pushFixture(host, scratch, layers, mbPerLayer) {
  const built = [layer(scratch, 'base', { 'bin/busybox': '/bin/busybox' })];
  for (let i = 0; i < layers; i++) {
    const files = {};
    // Several files per layer, as real layers have.
    for (let f = 0; f < 8; f++) files[`data/l${i}/f${f}.bin`] = crypto.randomBytes(Math.round((mbPerLayer * 1024 * 1024) / 8));
    built.push(layer(scratch, `l${i}`, files));
  }
  const pushed = [];
  for (const l of built) pushed.push(await pushBlob(host, 'bench', l.gz));
  const config = Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: built.map((l) => l.diffId) },
  }));
  const cfg = await pushBlob(host, 'bench', config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size },
    layers: pushed.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: b.digest, size: b.size })),
  }));
  const r = await request('PUT', `http://${host}/v2/bench/manifests/latest`, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, manifest);
  if (r.status !== 201) throw new Error(`manifest PUT: ${r.status} ${r.body}`);
  return { layers: built.length, bytes: pushed.reduce((n, b) => n + b.size, 0) + cfg.size + manifest.length };
}

// ---- the two pullers ----

function criClient(socket) {
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const def = protoLoader.fromJSON(JSON.parse(fs.readFileSync(PROTO_JSON, 'utf8')), { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true });
  const Client = grpc.makeClientConstructor(def['runtime.v1.ImageService'], 'ImageService');
  return new Client(`unix://${socket}`, grpc.credentials.createInsecure());
}

/** User + system CPU of a process (all its threads), in ms. */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function vmHwmKib(pid) {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/**
 * One cold pull by a fresh berthd on a fresh root: the PullImage call timed, and berthd's peak RSS after it.
 * Then `repulls` more pulls by the same (now warm) process, each after RemoveImage (whose GC deletes the blobs
 * and snapshots, so every pull downloads and unpacks everything again).
 */
async function berthdPull(scratch, run, ref, repulls) {
  const dir = path.join(scratch, `berthd-${run}`);
  const socket = path.join(dir, 'state', 'berthd.sock');
  // BENCH_BERTHD_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): node flags for berthd alone.
  const nodeArgs = (process.env.BENCH_BERTHD_NODE_ARGS || '').split(' ').filter(Boolean);
  const [file, ...pre] = nodeArgs.length ? [process.execPath, ...nodeArgs, BERTHD] : [BERTHD];
  const d = startChild(file, [...pre, '--root', path.join(dir, 'root'), '--state', path.join(dir, 'state'), '--log-level', 'warn'], path.join(scratch, `berthd-${run}.log`));
  try {
    await waitUntil('berthd socket', () => connects({ path: socket }));
    const client = criClient(socket);
    const call = (method, req) => new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));
    try {
      // setpriv execs berthd: same pid.
      let c0 = cpuMs(d.pid);
      let t0 = now();
      await call('PullImage', { image: { image: ref } });
      const t = ms(t0, now());
      const cpu = cpuMs(d.pid) - c0;
      const warm = [];
      const warmCpu = [];
      for (let i = 0; i < repulls; i++) {
        await call('RemoveImage', { image: { image: ref } });
        c0 = cpuMs(d.pid);
        t0 = now();
        await call('PullImage', { image: { image: ref } });
        warm.push(ms(t0, now()));
        warmCpu.push(cpuMs(d.pid) - c0);
      }
      return { ms: t, cpu, warm, warmCpu, hwmKib: vmHwmKib(d.pid) };
    } finally {
      client.close();
    }
  } finally {
    await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One cold `ctr images pull` (fetch + unpack into overlayfs snapshots) against a fresh containerd of `peer`. */
async function containerdPull(scratch, run, ref, peer) {
  const dir = path.join(scratch, `${peer.key}-${run}`);
  const socket = path.join(dir, 'containerd.sock');
  fs.mkdirSync(dir, { recursive: true });
  const cfg = writeContainerdConfig(dir, socket);
  const c = startChild(peer.containerd, ['--config', cfg], path.join(scratch, `${peer.key}-${run}.log`), containerdEnv(peer));
  try {
    await waitUntil('containerd socket', () => connects({ path: socket }));
    const t0 = now();
    execFileSync(peer.ctr, ['-a', socket, '-n', 'bench', 'images', 'pull', '--plain-http', ref], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300000 });
    return { ms: ms(t0, now()) };
  } finally {
    await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function benchPull() {
  for (const f of [BERTHD, PROTO_JSON]) if (!fs.existsSync(f)) throw new Error(`${path.relative(REPO, f)} is missing: run \`npm run build\` first`);
  if (!fs.existsSync(REGISTRY)) throw new Error(`${REGISTRY} is missing: hack/deps installs it`);
  const runs = envInt('BENCH_RUNS', 5, 1);
  const warmup = envInt('BENCH_WARMUP', 1, 0);
  const layers = envInt('BENCH_LAYERS', 5, 1);
  const mb = envInt('BENCH_LAYER_MB', 11, 1);
  const repulls = envInt('BENCH_REPULLS', 2, 0);
  const pullers = (process.env.BENCH_PULLERS || 'berthd,containerd').split(',');
  for (const p of pullers) if (p !== 'berthd' && p !== 'containerd') throw new Error(`BENCH_PULLERS: unknown puller ${JSON.stringify(p)} (berthd, containerd)`);
  const peers = pullers.includes('containerd') ? containerdPeers() : [];

  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-pull-'));
  let registry;
  try {
    const port = await freePort();
    const regCfg = path.join(scratch, 'registry.yml');
    fs.writeFileSync(regCfg, [
      'version: 0.1',
      'log: {level: error, accesslog: {disabled: true}}',
      `storage: {filesystem: {rootdirectory: ${JSON.stringify(path.join(scratch, 'registry'))}}}`,
      `http: {addr: "127.0.0.1:${port}", secret: berth-bench}`,
      '',
    ].join('\n'));
    registry = startChild(REGISTRY, ['serve', regCfg], path.join(scratch, 'registry.log'));
    await waitUntil('docker-registry', () => connects({ host: '127.0.0.1', port }));
    const host = `127.0.0.1:${port}`;
    process.stdout.write(`building the fixture image: busybox + ${layers} layers × ${mb} MB of random data…\n`);
    const image = await pushFixture(host, scratch, layers, mb);
    const ref = `${host}/bench:latest`;
    process.stdout.write(`${ref}: ${image.layers} layers, ${(image.bytes / 1e6).toFixed(1)} MB compressed; ${warmup} warm-up + ${runs} runs each, interleaved\n`);

    const berth = [];
    const berthWarm = [];
    const berthCpu = [];
    const berthWarmCpu = [];
    const ctrd = Object.fromEntries(peers.map((p) => [p.key, []]));
    let hwm = 0;
    const who = [...(pullers.includes('berthd') ? ['berthd'] : []), ...peers];
    for (let i = 0; i < warmup + runs; i++) {
      // Rotate who goes first, so that none always meets a warmer page cache.
      for (const p of [...who.slice(i % who.length), ...who.slice(0, i % who.length)]) {
        if (p === 'berthd') {
          const r = await berthdPull(scratch, i, ref, repulls);
          if (i >= warmup) berth.push(r.ms);
          if (i >= warmup) berthWarm.push(...r.warm);
          if (i >= warmup) berthCpu.push(r.cpu);
          if (i >= warmup) berthWarmCpu.push(...r.warmCpu);
          hwm = Math.max(hwm, r.hwmKib);
        } else {
          const r = await containerdPull(scratch, i, ref, p);
          if (i >= warmup) ctrd[p.key].push(r.ms);
        }
      }
    }
    const none = { median: NaN, p90: NaN, min: NaN };
    const b = berth.length ? summary(berth) : none;
    const w = berthWarm.length ? summary(berthWarm) : none;
    const c = Object.fromEntries(peers.map((p) => [p.key, summary(ctrd[p.key])]));
    const ratios = Object.fromEntries(peers.map((p) => [p.key, b.median / c[p.key].median]));
    const hwmMib = hwm / 1024;
    const vs = (median) => peers.map((p) => `${(median / c[p.key].median).toFixed(2)}×`);
    const rows = [];
    if (berth.length) rows.push(['berthd (PullImage, fresh process)', b.median.toFixed(0), b.p90.toFixed(0), b.min.toFixed(0), ...vs(b.median)]);
    if (berthWarm.length) rows.push([`berthd (pulls 2..${repulls + 1}, same process)`, w.median.toFixed(0), w.p90.toFixed(0), w.min.toFixed(0), ...vs(w.median)]);
    for (const p of peers) rows.push([`${p.label} (ctr pull)`, c[p.key].median.toFixed(0), c[p.key].p90.toFixed(0), c[p.key].min.toFixed(0), ...vs(c[p.key].median)]);
    let text = table(['puller', 'median ms', 'p90 ms', 'min ms', ...peers.map((p) => `vs ${p.key}`)], rows);
    const cpuText = (v) => (v.length ? `${summary(v).median.toFixed(0)} ms` : '-');
    text += `berthd CPU per pull (user+sys, median): fresh process ${cpuText(berthCpu)}, same process ${cpuText(berthWarmCpu)}\n`;
    text += `berthd peak RSS (VmHWM): ${hwmMib.toFixed(1)} MiB\n\n`;
    const targets = [
      ...peers.map((p) => ({ name: `berthd ≤ 0.8× ${p.label}`, pass: ratios[p.key] <= 0.8, detail: `${ratios[p.key].toFixed(2)}×` })),
      { name: 'berthd RSS < 150 MiB', pass: hwmMib < 150, detail: `${hwmMib.toFixed(1)} MiB` },
    ];
    text += table(['target', 'result', 'measured'], targets.map((t) => [t.name, t.pass ? 'PASS' : 'MISS', t.detail]), 'lll');
    process.stdout.write(text);
    const outDir = path.join(REPO, 'build', 'bench');
    fs.mkdirSync(outDir, { recursive: true });
    const result = {
      image: { ref, layers: image.layers, compressedBytes: image.bytes }, runs, warmup,
      berthd: { ...b, samples: berth, cpuMs: berthCpu, peakRssKib: hwm }, berthdWarm: { ...w, samples: berthWarm, cpuMs: berthWarmCpu },
      containerd: Object.fromEntries(peers.map((p) => [p.key, { label: p.label, ...c[p.key], samples: ctrd[p.key] }])), ratios, targets,
    };
    fs.writeFileSync(path.join(outDir, 'pull.json'), JSON.stringify(result, null, 2) + '\n');
    return result;
  } finally {
    if (registry) await registry.stop('SIGKILL');
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

module.exports = { benchPull };
