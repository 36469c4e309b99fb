// `npm run bench -- oci`: a whole container lifecycle (create → start → exit → delete) of `/bin/true` under the
// berth-run CLI, the berth-run library in-process, runc and crun; plus bare Node start-up and berth-init's RSS.
// Prints a table and the targets, writes build/bench/oci.json. Reports; never gates (exit 0 on MISS).
'use strict';
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { envInt, now, ms, runCmd, cliLifecycle, forceDelete, summary, table } = require('./common');

const REPO = path.resolve(__dirname, '..', '..');
// BENCH_BERTH_RUN / BERTH_INIT measure another build (e.g. before and after a change) with the same harness.
const BERTH_RUN = path.resolve(process.env.BENCH_BERTH_RUN || path.join(REPO, 'build', 'bin', 'berth-run'));
const BERTH_INIT = path.resolve(process.env.BERTH_INIT || path.join(REPO, 'build', 'bin', 'berth-init'));
/**
 * Variables that make every Node start slower and that a node's runtime stack does not have: with
 * NODE_EXTRA_CA_CERTS set, Node parses the CA bundle at start-up (≈ 90 ms of a 125 ms `node -e 0` on the
 * development VM). Removed from the benchmark's environment unless BENCH_KEEP_ENV=1.
 */
const SLOW_ENV = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];
const RUNC = process.env.BENCH_RUNC || '/usr/sbin/runc';
const CRUN = process.env.BENCH_CRUN || '/usr/bin/crun';
const UNIFIED_CONTROLLERS = '/sys/fs/cgroup/unified/cgroup.controllers';
/** crun 1.8.1 refuses a hybrid host whose cgroup2 mount has controllers: it only ever sees them masked. */
const MASK_SCRIPT = `mount --bind /dev/null ${UNIFIED_CONTROLLERS} && exec "$0" "$@"`;
const UNSHARE_MASKED = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', MASK_SCRIPT];

function executable(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readStatus(pid) {
  const out = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
const kib = (v) => (v === undefined ? undefined : parseInt(v, 10));

/** The runtime-spec default bundle on the fixture rootfs, running `args`. */
function writeBundle(dir, defaultSpec, rootfs, args) {
  fs.mkdirSync(dir, { recursive: true });
  const spec = defaultSpec({ ociVersion: '1.0.2', args });
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return dir;
}

/** The library as the shim will load it: bundled from source with esbuild (the CLI bundle runs main() on load). */
function bundleLibrary(outfile) {
  const esbuild = require('esbuild');
  esbuild.buildSync({
    stdin: {
      contents: "export { Runtime } from './src/oci/runtime/runtime';\nexport { defaultSpec } from './src/oci/spec/default';\n",
      resolveDir: REPO, sourcefile: 'bench-entry.ts', loader: 'ts',
    },
    outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
    define: { __BERTH_VERSION__: JSON.stringify('bench') },
  });
  return require(outfile);
}

/** A cli-worker.js process, optionally inside a private mount namespace where cgroup.controllers is masked. */
function startWorker(masked) {
  const cmd = [...(masked ? UNSHARE_MASKED : []), process.execPath, path.join(__dirname, 'cli-worker.js')];
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const pending = [];
  let dead;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const p = pending.shift();
    if (!p) return;
    let r;
    try { r = JSON.parse(line); } catch { return p.reject(new Error(`worker: ${line}`)); }
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.error));
  });
  child.on('exit', (code, signal) => {
    dead = new Error(`benchmark worker exited (${code ?? signal})`);
    for (const p of pending.splice(0)) p.reject(dead);
  });
  child.on('error', (err) => {
    dead = err;
    for (const p of pending.splice(0)) p.reject(err);
  });
  return {
    request(obj) {
      if (dead) return Promise.reject(dead);
      return new Promise((resolve, reject) => {
        pending.push({ resolve, reject });
        child.stdin.write(JSON.stringify(obj) + '\n');
      });
    },
    stop() {
      if (!dead) child.stdin.end();
      return new Promise((resolve) => (dead || child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    },
  };
}

/** A shuffle with a fixed seed (mulberry32), so that two runs of the benchmark use the same orders. */
function seededShuffle(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (items) => {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  };
}

function timeSpawn(file, args) {
  const t0 = now();
  const r = spawnSync(file, args, { stdio: 'ignore' });
  const t = ms(t0, now());
  if (r.error || r.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (${r.error?.message ?? r.status})`);
  return t;
}

/**
 * berth-init's peak RSS (VmHWM, KiB), read from /proc while it waits:
 *  - the container's init in the created state (it is berth-init until `start` execs the user's program);
 *  - the parent berth-init of a foreground `run`, which stays to wait for the container (its PPid).
 */
async function measureInitRss({ root, bundle, sleepBundle, scratch, newId, track, untrack }) {
  const out = {};
  const errFile = path.join(scratch, 'rss.out');
  const created = newId('rss-init');
  track(created, () => forceDelete({ binary: BERTH_RUN, root, id: created }));
  const pidFile = path.join(scratch, `${created}.pid`);
  runCmd(BERTH_RUN, ['--root', root, 'create', '--bundle', bundle, '--pid-file', pidFile, created], errFile);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const exe = fs.readlinkSync(`/proc/${pid}/exe`);
  if (!exe.startsWith('/memfd:berth-init')) throw new Error(`created container's init runs ${exe}, not berth-init`);
  const st = readStatus(pid);
  out.init = { pid, exe, hwmKiB: kib(st.VmHWM), rssKiB: kib(st.VmRSS), rssAnonKiB: kib(st.RssAnon), rssFileKiB: kib(st.RssFile), rssShmemKiB: kib(st.RssShmem) };
  runCmd(BERTH_RUN, ['--root', root, 'delete', '--force', created], errFile);
  untrack(created);

  const fg = newId('rss-parent');
  track(fg, () => forceDelete({ binary: BERTH_RUN, root, id: fg }));
  const fgPidFile = path.join(scratch, `${fg}.pid`);
  const cli = spawn(BERTH_RUN, ['--root', root, 'run', '--bundle', sleepBundle, '--pid-file', fgPidFile, fg], { stdio: 'ignore' });
  const cliDone = new Promise((resolve) => cli.on('exit', resolve));
  try {
    const deadline = Date.now() + 10000;
    while (!fs.existsSync(fgPidFile)) {
      if (Date.now() > deadline || cli.exitCode !== null) throw new Error('foreground berth-run run never wrote its pid file');
      await new Promise((r) => setTimeout(r, 5));
    }
    const cpid = Number(fs.readFileSync(fgPidFile, 'utf8'));
    const ppid = Number(readStatus(cpid).PPid);
    const pexe = fs.readlinkSync(`/proc/${ppid}/exe`);
    if (!pexe.startsWith('/memfd:berth-init')) throw new Error(`the foreground container's parent runs ${pexe}, not berth-init`);
    const pst = readStatus(ppid);
    out.parent = { pid: ppid, exe: pexe, hwmKiB: kib(pst.VmHWM), rssKiB: kib(pst.VmRSS), rssAnonKiB: kib(pst.RssAnon), rssFileKiB: kib(pst.RssFile), rssShmemKiB: kib(pst.RssShmem) };
  } finally {
    spawnSync(BERTH_RUN, ['--root', root, 'kill', fg, 'KILL'], { stdio: 'ignore' });
    await Promise.race([cliDone, new Promise((r) => setTimeout(r, 10000))]);
    forceDelete({ binary: BERTH_RUN, root, id: fg });
    untrack(fg);
  }

  // For context: the peak RSS of the whole berth-run CLI process (Node) for one `run`.
  if (executable('/usr/bin/time')) {
    const id = newId('rss-cli');
    track(id, () => forceDelete({ binary: BERTH_RUN, root, id }));
    const r = spawnSync('/usr/bin/time', ['-f', '%M', BERTH_RUN, '--root', root, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    const m = /(\d+)\s*$/.exec(r.stderr ?? '');
    if (r.status === 0 && m) out.cliNodeKiB = Number(m[1]);
    untrack(id);
  }
  return out;
}

async function benchOci() {
  const runs = envInt('BENCH_RUNS', 30, 1);
  const warmup = envInt('BENCH_WARMUP', 2, 0);
  for (const f of [BERTH_RUN, BERTH_INIT]) {
    if (!executable(f)) throw new Error(`${path.relative(REPO, f)} is missing: run \`npm run build\` first`);
  }
  if (process.getuid?.() !== 0) throw new Error('the OCI benchmark needs root (namespaces, cgroups, mounts)');
  const removedEnv = [];
  if (process.env.BENCH_KEEP_ENV !== '1') {
    for (const v of SLOW_ENV) {
      if (process.env[v] !== undefined) {
        removedEnv.push(v);
        delete process.env[v];
      }
    }
  }
  const haveRunc = executable(RUNC);
  const haveCrun = executable(CRUN);
  let controllers = '';
  try { controllers = fs.readFileSync(UNIFIED_CONTROLLERS, 'utf8').trim(); } catch { /* no unified hierarchy */ }
  const maskForCrun = controllers !== '';

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-bench-'));
  const live = new Map(); // id → how to delete it (containers not yet cleaned up)
  const track = (id, del) => live.set(id, del);
  const untrack = (id) => live.delete(id);
  let counter = 0;
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const newId = (prefix) => `bench-${prefix}-${tag}-${++counter}`;
  let worker;
  let libRuntime;
  let interrupted;
  const onSignal = (sig) => { interrupted = sig; };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const rootfs = path.join(execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim(), 'rootfs');
    process.env.BERTH_INIT = BERTH_INIT;
    const { Runtime, defaultSpec } = bundleLibrary(path.join(tmp, 'berth-lib.js'));
    const bundle = writeBundle(path.join(tmp, 'bundle'), defaultSpec, rootfs, ['/bin/true']);
    const sleepBundle = writeBundle(path.join(tmp, 'bundle-sleep'), defaultSpec, rootfs, ['/bin/sleep', '60']);
    const scratch = path.join(tmp, 'scratch');
    fs.mkdirSync(scratch);
    const rootOf = (name) => {
      const d = path.join(tmp, `root-${name}`);
      fs.mkdirSync(d, { recursive: true });
      return d;
    };
    const roots = { cli: rootOf('berth-run'), lib: rootOf('berth-lib'), runc: rootOf('runc'), crun: rootOf('crun'), crunPerRun: rootOf('crun-unshare') };

    if (haveCrun) {
      worker = startWorker(maskForCrun);
      const hello = await worker.request({ op: 'hello' });
      if (maskForCrun && hello.controllers !== '') throw new Error(`could not mask ${UNIFIED_CONTROLLERS} for crun (it still reads "${hello.controllers}")`);
    }
    // As berth-shim and berthd use it: long-lived, with a berth-spawner so that Node itself never forks.
    libRuntime = new Runtime({ root: roots.lib, spawner: true });

    /** Each case: one measured operation per round; `id` is fresh and already tracked for cleanup. */
    const cases = [];
    const add = (c) => cases.push({ samples: [], ...c });
    const cli = (binary, root, mode) => (id) => cliLifecycle({ binary, root, bundle, id, mode, scratch });
    add({ key: 'node', name: 'node -e 0 (bare start-up)', kind: 'startup', op: () => timeSpawn(process.execPath, ['-e', '0']) });
    add({ key: 'cli-version', name: 'berth-run --version', kind: 'startup', op: () => timeSpawn(BERTH_RUN, ['--version']) });
    add({ key: 'cli-run', name: 'berth-run run (CLI)', kind: 'run', del: (id) => forceDelete({ binary: BERTH_RUN, root: roots.cli, id }), op: cli(BERTH_RUN, roots.cli, 'run') });
    add({ key: 'cli-seq', name: 'berth-run create/start/wait/delete', kind: 'seq', del: (id) => forceDelete({ binary: BERTH_RUN, root: roots.cli, id }), op: cli(BERTH_RUN, roots.cli, 'seq') });
    add({
      key: 'lib-run', name: 'berth-run library run (in-process)', kind: 'run',
      del: (id) => { spawnSync(BERTH_RUN, ['--root', roots.lib, 'delete', '--force', id], { stdio: 'ignore' }); },
      op: async (id) => {
        const t0 = now();
        const code = await libRuntime.run(id, { bundle, stdio: ['ignore', 'ignore', 'ignore'] });
        const t = ms(t0, now());
        if (code !== 0) throw new Error(`library run ${id}: /bin/true exited ${code}`);
        return t;
      },
    });
    if (haveRunc) {
      add({ key: 'runc-run', name: 'runc run', kind: 'run', del: (id) => forceDelete({ binary: RUNC, root: roots.runc, id }), op: cli(RUNC, roots.runc, 'run') });
      add({ key: 'runc-seq', name: 'runc create/start/wait/delete', kind: 'seq', del: (id) => forceDelete({ binary: RUNC, root: roots.runc, id }), op: cli(RUNC, roots.runc, 'seq') });
    }
    if (haveCrun) {
      const inNs = maskForCrun ? ' [one masked mount ns]' : '';
      const viaWorker = (mode) => async (id) => (await worker.request({ op: 'lifecycle', binary: CRUN, root: roots.crun, bundle, id, mode, scratch })).ms;
      const delViaWorker = (id) => worker.request({ op: 'delete', binary: CRUN, root: roots.crun, id }).catch(() => forceDelete({ binary: CRUN, root: roots.crun, id, wrap: maskForCrun ? UNSHARE_MASKED : [] }));
      add({ key: 'crun-run', name: `crun run${inNs}`, kind: 'run', del: delViaWorker, op: viaWorker('run') });
      add({ key: 'crun-seq', name: `crun create/start/wait/delete${inNs}`, kind: 'seq', del: delViaWorker, op: viaWorker('seq') });
      if (maskForCrun) {
        const wrap = UNSHARE_MASKED;
        add({
          key: 'crun-run-unshare', name: 'crun run [unshare + mask per run]', kind: 'run',
          del: (id) => forceDelete({ binary: CRUN, root: roots.crunPerRun, id, wrap }),
          op: (id) => cliLifecycle({ binary: CRUN, root: roots.crunPerRun, bundle, id, mode: 'run', scratch, wrap }),
        });
      }
    }

    // Rounds interleave the cases, so that drift on the host (other load, caches, thermal) hits all alike, and
    // each round runs them in a new order: what a case follows matters (a cgroup v1 move right after another
    // one skips the RCU grace period the first one waited for), so no case may always follow the same one.
    const started = Date.now();
    const order = seededShuffle(0x6265727468);
    for (let round = -warmup; round < runs; round++) {
      for (const c of order(cases)) {
        if (interrupted) throw new Error(`interrupted by ${interrupted}`);
        const id = newId(c.key);
        if (c.del) track(id, () => c.del(id));
        const t = await c.op(id);
        untrack(id);
        if (round >= 0) c.samples.push(t);
      }
      if (round === -1 || (round >= 0 && (round + 1) % 10 === 0)) process.stderr.write(`bench oci: ${round + 1}/${runs} rounds\n`);
    }
    const rss = await measureInitRss({ root: roots.cli, bundle, sleepBundle, scratch, newId, track, untrack });

    // Report.
    const stats = Object.fromEntries(cases.map((c) => [c.key, { name: c.name, kind: c.kind, ...summary(c.samples) }]));
    const ref = (kind, peer) => stats[`${peer}-${kind === 'seq' ? 'seq' : 'run'}`]?.median;
    const ratio = (s, peer) => (s.kind === 'startup' || !ref(s.kind, peer) ? undefined : s.median / ref(s.kind, peer));
    for (const s of Object.values(stats)) {
      s.vsRunc = ratio(s, 'runc');
      s.vsCrun = ratio(s, 'crun');
    }
    const f1 = (v) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(1));
    const f2 = (v) => (v === undefined || Number.isNaN(v) ? '–' : `${v.toFixed(2)}×`);
    let text = `\nOCI lifecycle of /bin/true (create → start → exit → delete), ${runs} runs after ${warmup} warm-up, ` +
      `${os.cpus().length} CPUs, Node ${process.version}, kernel ${os.release()}\n\n`;
    text += table(['name', 'median ms', 'p90 ms', 'vs runc', 'vs crun'],
      Object.values(stats).map((s) => [s.name, f1(s.median), f1(s.p90), f2(s.vsRunc), f2(s.vsCrun)]));
    text += '\nRatios compare like with like: single-command runs against `run`, create/start/wait/delete sequences against each other.\n';
    if (haveCrun && maskForCrun) {
      text += `crun: the main rows run crun from one long-lived process in a private mount namespace where ${UNIFIED_CONTROLLERS} is\n` +
        'masked (crun 1.8.1 refuses this hybrid host otherwise); the "per run" row pays unshare + sh + mount on every run.\n';
    }
    if (removedEnv.length) text += `Removed from the environment of every command: ${removedEnv.join(', ')} (they slow every Node start; BENCH_KEEP_ENV=1 keeps them).\n`;
    if (!haveRunc) text += `runc not found at ${RUNC}: its rows and ratios are missing.\n`;
    if (!haveCrun) text += `crun not found at ${CRUN}: its rows and ratios are missing.\n`;

    const targets = [];
    const target = (name, value, limit, unit, detail) => {
      const pass = value !== undefined && limit !== undefined && value <= limit;
      targets.push({ name, value, limit, unit, pass: value === undefined || limit === undefined ? null : pass, detail });
    };
    const lib = stats['lib-run'].median;
    const runc = stats['runc-run']?.median;
    const crun = stats['crun-run']?.median;
    target('library run ≤ 0.6× runc run', lib, runc === undefined ? undefined : 0.6 * runc, 'ms', `${f1(lib)} ms vs 0.6 × ${f1(runc)} = ${f1(runc && 0.6 * runc)} ms`);
    target('library run ≤ crun run (moonshot)', lib, crun, 'ms', `${f1(lib)} ms vs ${f1(crun)} ms`);
    const cliRun = stats['cli-run'].median;
    const node = stats.node.median;
    target('CLI run ≤ 1.2× node -e 0', cliRun, 1.2 * node, 'ms', `${f1(cliRun)} ms vs 1.2 × ${f1(node)} = ${f1(1.2 * node)} ms`);
    const hwm = Math.max(rss.init.hwmKiB, rss.parent.hwmKiB);
    target('berth-init peak RSS < 2 MiB', hwm, 2047, 'KiB',
      `container init (created) VmHWM ${rss.init.hwmKiB} KiB, foreground parent VmHWM ${rss.parent.hwmKiB} KiB`);
    text += '\nTargets (issue):\n';
    text += table(['target', 'result', 'measured'], targets.map((t) => [t.name, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS', t.detail]), 'lll');
    text += `\nberth-init RSS detail (KiB): init ${JSON.stringify(omitPid(rss.init))}; parent ${JSON.stringify(omitPid(rss.parent))}\n`;
    if (rss.cliNodeKiB) text += `berth-run CLI (Node) peak RSS for one run: ${rss.cliNodeKiB} KiB\n`;
    text += `\n(${((Date.now() - started) / 1000).toFixed(1)} s)\n`;
    process.stdout.write(text);

    const outDir = path.join(REPO, 'build', 'bench');
    fs.mkdirSync(outDir, { recursive: true });
    const result = {
      benchmark: 'oci', date: new Date().toISOString(), runs, warmup, removedEnv,
      host: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release(), node: process.version, unifiedControllers: controllers },
      binaries: {
        'berth-run': { path: BERTH_RUN, mtime: fs.statSync(BERTH_RUN).mtime.toISOString() },
        'berth-init': { path: process.env.BERTH_INIT, mtime: fs.statSync(process.env.BERTH_INIT).mtime.toISOString() },
        runc: haveRunc ? { path: RUNC, version: firstLine(RUNC) } : null,
        crun: haveCrun ? { path: CRUN, version: firstLine(CRUN), mode: maskForCrun ? 'private mount namespace with cgroup.controllers masked (one namespace for the loop)' : 'direct' } : null,
      },
      results: Object.fromEntries(Object.entries(stats).map(([k, s]) => [k, { ...s, samples: cases.find((c) => c.key === k).samples }])),
      rss, targets,
    };
    fs.writeFileSync(path.join(outDir, 'oci.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`results: ${path.relative(process.cwd(), path.join(outDir, 'oci.json')) || path.join(outDir, 'oci.json')}\n`);
    return result;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const [id, del] of live) {
      try {
        await del();
      } catch (err) {
        process.stderr.write(`bench oci: cleanup of ${id}: ${err.message}\n`);
      }
    }
    if (worker) await worker.stop();
    libRuntime?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function omitPid(o) {
  const { pid, exe, ...rest } = o;
  return rest;
}

function firstLine(bin) {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return undefined;
  }
}

module.exports = { benchOci };
