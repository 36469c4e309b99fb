// Shared by the benchmarks and their helper processes: timing one lifecycle of a runc-compatible CLI,
// statistics, and the table printer. Plain CommonJS so that it loads without a build step.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const now = () => process.hrtime.bigint();
const ms = (t0, t1) => Number(t1 - t0) / 1e6;
const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the thread for `msecs` without spinning. */
const sleepSync = (msecs) => Atomics.wait(sleepBuf, 0, 0, msecs);

/**
 * Runs one command synchronously with its stdout/stderr in a file (never a pipe: a created container keeps the
 * runtime's stdio open, and a pipe would make spawnSync wait for the container). Throws with what it said.
 */
function runCmd(file, args, errFile, timeoutMs = 30000) {
  const fd = fs.openSync(errFile, 'w');
  let r;
  try {
    r = spawnSync(file, args, { stdio: ['ignore', fd, fd], timeout: timeoutMs });
  } finally {
    fs.closeSync(fd);
  }
  if (r.error) throw new Error(`${file} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) {
    let said = '';
    try { said = fs.readFileSync(errFile, 'utf8').trim(); } catch { /* nothing */ }
    throw new Error(`${path.basename(file)} ${args.join(' ')} → ${r.status ?? r.signal}${said ? `: ${said}` : ''}`);
  }
}

/** True once the process is gone or a zombie (whoever reaps it, it no longer runs). */
function exited(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/**
 * One whole lifecycle of container `id` under a runc-compatible CLI, timed in milliseconds.
 *  mode 'run': `run` (create + start + wait + delete in one command), as `runc run` in the foreground.
 *  mode 'seq': `create --pid-file`, `start`, wait for the pid to exit (polled in /proc every 0.2 ms, as a
 *              shim with a SIGCHLD would notice), `delete` — the four steps a shim drives.
 * `wrap` prefixes the command (e.g. an unshare), `scratch` is a directory for pid/output files.
 */
function cliLifecycle({ binary, root, bundle, id, mode, scratch, wrap = [] }) {
  const errFile = path.join(scratch, `${id}.out`);
  const cmd = (args) => {
    const full = [...wrap, binary, '--root', root, ...args];
    runCmd(full[0], full.slice(1), errFile);
  };
  let elapsed;
  if (mode === 'run') {
    const t0 = now();
    cmd(['run', '--bundle', bundle, id]);
    elapsed = ms(t0, now());
  } else if (mode === 'seq') {
    const pidFile = path.join(scratch, `${id}.pid`);
    const t0 = now();
    cmd(['create', '--bundle', bundle, '--pid-file', pidFile, id]);
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    cmd(['start', id]);
    const deadline = Date.now() + 10000;
    while (!exited(pid)) {
      if (Date.now() > deadline) throw new Error(`${binary}: container ${id} (pid ${pid}) did not exit within 10 s`);
      sleepSync(0.2);
    }
    cmd(['delete', id]);
    elapsed = ms(t0, now());
    fs.rmSync(pidFile, { force: true });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  fs.rmSync(errFile, { force: true });
  return elapsed;
}

/** `delete --force`, ignoring every failure: for cleanup. */
function forceDelete({ binary, root, id, wrap = [] }) {
  const full = [...wrap, binary, '--root', root, 'delete', '--force', id];
  spawnSync(full[0], full.slice(1), { stdio: 'ignore', timeout: 20000 });
}

/** Nearest-rank percentile of an unsorted sample. */
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function summary(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return {
    n: s.length,
    median,
    p90: percentile(s, 90),
    min: s[0],
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** A plain-text table; `align` has one letter per column, l or r (default: first left, the rest right). */
function table(header, rows, align = `l${'r'.repeat(header.length - 1)}`) {
  const cells = [header, ...rows].map((r) => r.map((c) => String(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (align[i] === 'l' ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n') + '\n';
}

/** An integer setting from the environment (BENCH_RUNS, …), `def` when unset. */
function envInt(name, def, min) {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${v}: expected an integer ≥ ${min}`);
  return n;
}

/** A config for a private containerd under `dir` listening on `socket` (CRI plugin off); returns its path. */
function writeContainerdConfig(dir, socket) {
  const file = path.join(dir, 'config.toml');
  fs.writeFileSync(file, [
    'version = 2',
    `root = "${dir}/root"`,
    `state = "${dir}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[ttrpc]',
    `  address = "${socket}.ttrpc"`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '',
  ].join('\n'));
  return file;
}

/** Debian's containerd 1.6, with Debian's runc 1.1 (hack/deps installs both). */
const DEBIAN_CONTAINERD = { key: 'containerd-1.6', label: 'containerd 1.6 (Debian)', containerd: '/usr/bin/containerd', ctr: '/usr/bin/ctr', shimDir: '/usr/bin', runcDir: '/usr/sbin' };

/** containerd 2.x from hack/peers, with hack/peers' runc 1.5; both built first when missing. */
function peerContainerd() {
  const { peerBinaries } = require('../cluster.d/peers');
  const bins = peerBinaries(['containerd', 'runc']);
  const c = bins.get('containerd');
  return {
    key: 'containerd-2', label: `containerd ${c.version} (hack/peers)`, containerd: c.file, ctr: bins.get('ctr').file,
    shimDir: path.dirname(bins.get('containerd-shim-runc-v2').file), runcDir: path.dirname(bins.get('runc').file),
  };
}

/** The containerd installations the benchmarks compare with: both of the above; BENCH_CONTAINERD=1.6 or =2 keeps one. */
function containerdPeers() {
  const want = (process.env.BENCH_CONTAINERD || '1.6,2').split(',');
  for (const w of want) if (w !== '1.6' && w !== '2') throw new Error(`BENCH_CONTAINERD: ${JSON.stringify(w)} is neither 1.6 nor 2`);
  const peers = [...(want.includes('1.6') ? [DEBIAN_CONTAINERD] : []), ...(want.includes('2') ? [peerContainerd()] : [])];
  for (const p of peers) for (const f of [p.containerd, p.ctr]) if (!fs.existsSync(f)) throw new Error(`${f} is missing (${p.label})`);
  return peers;
}

/** The environment for one of containerdPeers(): its shim, then its runc, first on PATH (the shim finds runc there). */
const containerdEnv = (peer) => ({ ...process.env, PATH: `${peer.shimDir}:${peer.runcDir}:${process.env.PATH ?? '/usr/bin:/bin'}` });

/** containerd keeps a parent cgroup per namespace (/<namespace> in every hierarchy) after its last container. */
function removeNamespaceCgroups(ns) {
  const top = '/sys/fs/cgroup';
  for (const dir of [path.join(top, ns), ...fs.readdirSync(top).map((h) => path.join(top, h, ns))]) {
    try { fs.rmdirSync(dir); } catch { /* not there */ }
  }
}

module.exports = { DEBIAN_CONTAINERD, peerContainerd, containerdPeers, containerdEnv, writeContainerdConfig, removeNamespaceCgroups, envInt, now, ms, sleepSync, runCmd, exited, cliLifecycle, forceDelete, percentile, summary, table };
