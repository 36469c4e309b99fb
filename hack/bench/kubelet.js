// `npm run bench -- kubelet`: pod start through a real kubelet. For berthd, containerd 2.x (hack/peers) and Debian's
// containerd 1.6, one after another (never two at once: they would share the 2 cores), a one-node `hack/cluster`
// is brought up with that runtime, and pods are created through the API server:
//   0. one warm-up pod (pulls busybox and the runtime's pause image onto the node: no pull is measured after it);
//   1. BENCH_KUBELET_SEQ (20) pods one by one, each waited for until the API reports it Running;
//   2. BENCH_KUBELET_BURST (50) pods created at once.
// Each pod's end-to-end time runs from the moment its POST is sent to the moment a watch on the API server
// delivers it with `status.phase: Running` (milliseconds; the pod's own timestamps — creationTimestamp, the
// containers' startedAt — have a resolution of one second, and are kept in the JSON as a cross-check). Around each
// phase the kubelet's /metrics (through the API server's node proxy) are read: `kubelet_pod_start_sli_duration_seconds`
// (p50 interpolated in the histogram's delta, as histogram_quantile does, and its mean from _sum/_count) and
// `kubelet_runtime_operations_duration_seconds` by operation_type: the pod-making CRI calls (run_podsandbox,
// create_container, start_container, pull_image) summed over the phase and divided by its pods, the runtime's share
// of a pod start. Pods are deleted between phases.
// A table on stdout, build/bench/kubelet.json. Reports; never gates. Every cluster it starts is taken down
// (`hack/cluster down`) in a finally, also on failure and on Ctrl-C (SIGINT/SIGTERM).
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http2 = require('node:http2');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const YAML = require('yaml');
const { envInt, percentile, summary, table } = require('./common');
const { clusterDir } = require('../cluster.d/layout');

const REPO = path.resolve(__dirname, '..', '..');
const CLUSTER = path.join(REPO, 'hack', 'cluster');
const NS = 'default';
const LABEL = 'berth-bench';
const IMAGE = 'docker.io/library/busybox:latest'; // the cluster's registry stands in for docker.io (hack/cluster.d/registry.js)
/** The CRI calls that make a pod, whose time is the runtime's share of a pod start. */
const POD_OPS = ['run_podsandbox', 'create_container', 'start_container', 'pull_image'];
/** A container waiting for one of these will not start by waiting longer. */
const FATAL_WAITING = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CreateContainerError', 'CreateContainerConfigError', 'RunContainerError', 'CrashLoopBackOff', 'ErrImageNeverPull']);

/** The runtimes, in the order they are measured; BENCH_KUBELET_RUNTIMES (comma-separated keys) picks some. */
const RUNTIMES = [
  { key: 'berthd', runtime: 'berthd', short: 'berthd', label: 'berthd' },
  { key: 'containerd-2', runtime: 'containerd', short: 'ctrd2', label: 'containerd 2.x' },
  { key: 'containerd-1.6', runtime: 'containerd-1.6', short: 'ctrd16', label: 'containerd 1.6' },
];

const sleep = (msecs) => new Promise((r) => setTimeout(r, msecs));
/** Wall-clock milliseconds with sub-millisecond resolution (comparable with the API's timestamps). */
const wall = () => performance.timeOrigin + performance.now();
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

class Aborted extends Error {}

// ---- processes ----

/**
 * Runs hack/cluster in its own session (a terminal's Ctrl-C reaches only us, and we decide what the cluster gets),
 * its stderr passed through as progress; resolves to { status, signal, stdout, timedOut }. While `up` runs, its
 * signaller is in env.children (the bench's SIGINT handler forwards SIGINT to it).
 */
function runCluster(args, { timeoutMs, env }) {
  const child = spawn(CLUSTER, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: process.env });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => { stdout += d; });
  const signal = (sig) => { try { process.kill(child.pid, sig); } catch { /* gone */ } };
  // Only `up` is told of a signal (it stops and takes itself down); `down` is left to finish.
  const forward = args[0] === 'up';
  if (forward) env.children.add(signal);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    process.stderr.write(`bench kubelet: hack/cluster ${args.join(' ')}: no result within ${Math.round(timeoutMs / 1000)} s; interrupting it\n`);
    signal('SIGINT');
    setTimeout(() => signal('SIGKILL'), 5 * 60_000).unref();
  }, timeoutMs);
  return new Promise((resolve) => {
    child.once('error', (err) => { clearTimeout(timer); env.children.delete(signal); resolve({ status: -1, stdout, error: err.message }); });
    // 'exit', not 'close': should a process it starts keep the pipe, the answer is in by the exit (plus a moment).
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      env.children.delete(signal);
      setTimeout(() => resolve({ status: code ?? -1, signal: sig, stdout, timedOut }), 200);
    });
  });
}

/** The pinned kubectl (hack/peers), for diagnostics only; undefined when it is not built. */
function kubectlBin() {
  const r = spawnSync(path.join(REPO, 'hack', 'peers'), ['--list', 'kubernetes'], { encoding: 'utf8' });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('kubectl '));
  if (line) return line.split(' ')[2];
  const fallback = '/var/cache/berth-peers/kubernetes-v1.36.3/bin/kubectl';
  return fs.existsSync(fallback) ? fallback : undefined;
}

/** What the cluster says about the bench's pods, for an error message: their events and the kubelet's log tail. */
function diagnostics(c) {
  const out = [];
  const kubectl = kubectlBin();
  if (kubectl) {
    const r = spawnSync(kubectl, ['--kubeconfig', c.kubeconfig, 'get', 'events', '-n', NS, '--sort-by=.lastTimestamp',
      '-o', 'custom-columns=OBJ:.involvedObject.name,REASON:.reason,MESSAGE:.message'], { encoding: 'utf8', timeout: 30_000 });
    out.push(`events (last 15):\n${(r.stdout || r.stderr || '').trim().split('\n').slice(-15).join('\n')}`);
  }
  try {
    const log = fs.readFileSync(path.join(c.hostRoot, 'var/log/kubelet.log'), 'utf8');
    out.push(`kubelet log (tail):\n${log.slice(-2000)}`);
  } catch { /* no log */ }
  return out.join('\n');
}

// ---- the API server: HTTP/2 with the admin kubeconfig's client certificate ----

function apiClient(kubeconfigFile) {
  const kc = YAML.parse(fs.readFileSync(kubeconfigFile, 'utf8'));
  const ctx = kc.contexts.find((x) => x.name === kc['current-context']).context;
  const cluster = kc.clusters.find((x) => x.name === ctx.cluster).cluster;
  const user = kc.users.find((x) => x.name === ctx.user).user;
  const b64 = (s) => Buffer.from(s, 'base64');
  const tls = { ca: b64(cluster['certificate-authority-data']), cert: b64(user['client-certificate-data']), key: b64(user['client-key-data']) };
  let session;
  const open = () => {
    if (session && !session.closed && !session.destroyed) return session;
    session = http2.connect(cluster.server, tls);
    session.on('error', () => { /* each stream reports its own failure */ });
    return session;
  };
  const streams = new Set();

  /** One request; resolves to { status, text }. */
  function request(method, p, { body, timeoutMs = 60_000, accept = 'application/json' } = {}) {
    return new Promise((resolve, reject) => {
      const headers = { ':method': method, ':path': p, accept };
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      if (data) { headers['content-type'] = 'application/json'; headers['content-length'] = data.length; }
      let req;
      try { req = open().request(headers, { endStream: !data }); } catch (err) { reject(err); return; }
      streams.add(req);
      let status = 0;
      const chunks = [];
      const timer = setTimeout(() => { req.close(http2.constants.NGHTTP2_CANCEL); reject(new Error(`${method} ${p}: no answer within ${timeoutMs / 1000} s`)); }, timeoutMs);
      req.on('response', (h) => { status = h[':status']; });
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => { clearTimeout(timer); streams.delete(req); resolve({ status, text: Buffer.concat(chunks).toString('utf8') }); });
      req.on('error', (err) => { clearTimeout(timer); streams.delete(req); reject(new Error(`${method} ${p}: ${err.message}`)); });
      if (data) req.end(data);
    });
  }

  /** A request whose answer must be 2xx JSON; throws with the API's Status message otherwise. */
  async function json(method, p, opts) {
    const r = await request(method, p, opts);
    let obj;
    try { obj = JSON.parse(r.text); } catch { obj = undefined; }
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${p} → ${r.status}: ${obj?.message ?? r.text.slice(0, 300)}`);
    return obj;
  }

  /** A long-lived GET whose body is read line by line (a watch). Resolves once the answer's headers are in. */
  function lines(p, onLine, onEnd) {
    return new Promise((resolve, reject) => {
      let req;
      try { req = open().request({ ':method': 'GET', ':path': p, accept: 'application/json' }); } catch (err) { reject(err); return; }
      streams.add(req);
      let buf = '';
      let started = false;
      req.setEncoding('utf8');
      req.on('response', (h) => {
        if (h[':status'] !== 200) { req.close(); reject(new Error(`GET ${p} → ${h[':status']}`)); return; }
        started = true;
        resolve({ close: () => { try { req.close(); } catch { /* closed */ } } });
      });
      req.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) onLine(line);
        }
      });
      const end = (err) => { streams.delete(req); if (!started) reject(err ?? new Error(`GET ${p}: ended before an answer`)); else onEnd(err); };
      req.on('end', () => end());
      req.on('close', () => end());
      req.on('error', (err) => end(err));
    });
  }

  return {
    request, json, lines,
    close() {
      for (const s of streams) { try { s.close(http2.constants.NGHTTP2_CANCEL); } catch { /* closed */ } }
      if (session && !session.destroyed) session.destroy();
    },
  };
}

// ---- pods, as a watch sees them ----

/**
 * Follows the bench's pods through a watch (re-opened from its last resourceVersion should it end, re-listed after
 * a 410). `pods`: name → { uid, sent, acked, running, ready, deleted, obj }: the wall-clock ms at which this process
 * sent its POST, got its answer, and first saw the pod Running / Ready / deleted.
 */
class PodWatch {
  constructor(api, env, log) {
    this.api = api;
    this.env = env;
    this.log = log;
    this.pods = new Map();
    this.present = new Set();
    this.waiters = new Set();
    this.closed = false;
  }

  entry(name) {
    let e = this.pods.get(name);
    if (!e) { e = { name }; this.pods.set(name, e); }
    return e;
  }

  async start() {
    const list = await this.api.json('GET', `/api/v1/namespaces/${NS}/pods?labelSelector=${LABEL}`);
    this.present = new Set(list.items.map((p) => p.metadata.name));
    for (const p of list.items) this.observe('ADDED', p, wall());
    await this.watch(list.metadata.resourceVersion);
  }

  async watch(rv) {
    this.rv = rv;
    this.stream = await this.api.lines(
      `/api/v1/namespaces/${NS}/pods?watch=1&labelSelector=${LABEL}&resourceVersion=${rv}&timeoutSeconds=1800`,
      (line) => this.onLine(line),
      (err) => this.onEnd(err),
    );
  }

  onLine(line) {
    const t = wall();
    let ev;
    try { ev = JSON.parse(line); } catch { return; }
    if (ev.type === 'ERROR') { this.expired = true; return; }
    if (ev.type === 'BOOKMARK') { this.rv = ev.object.metadata.resourceVersion; return; }
    this.rv = ev.object.metadata.resourceVersion;
    this.observe(ev.type, ev.object, t);
  }

  observe(type, pod, t) {
    const e = this.entry(pod.metadata.name);
    if (e.uid && e.uid !== pod.metadata.uid) return; // an older pod of the same name
    e.uid = pod.metadata.uid;
    e.obj = pod;
    if (type === 'DELETED') {
      e.deleted ??= t;
      this.present.delete(pod.metadata.name);
    } else {
      this.present.add(pod.metadata.name);
      if (pod.status?.phase === 'Running') e.running ??= t;
      if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) e.ready ??= t;
    }
    this.check();
  }

  onEnd(err) {
    if (this.closed) return;
    const again = async () => {
      for (let i = 0; !this.closed; i++) {
        try {
          if (this.expired) { this.expired = false; await this.start(); } else await this.watch(this.rv);
          return;
        } catch (e) {
          if (i >= 20) { this.fail(new Error(`the pod watch ended (${err?.message ?? 'closed'}) and could not be re-opened: ${e.message}`)); return; }
          await sleep(500);
        }
      }
    };
    again();
  }

  check() {
    for (const w of this.waiters) {
      let done;
      try { done = w.cond(); } catch (err) { w.reject(err); continue; }
      if (done) w.resolve();
    }
  }

  fail(err) {
    for (const w of this.waiters) w.reject(err);
  }

  /** Resolves once `cond()` holds (checked at every event); rejects after `timeoutMs` with `describe()`, or on abort. */
  until(cond, timeoutMs, describe) {
    return new Promise((resolve, reject) => {
      const w = {};
      const done = () => { clearTimeout(w.timer); this.waiters.delete(w); this.env.abortWaiters.delete(w); };
      w.cond = cond;
      w.resolve = () => { done(); resolve(); };
      w.reject = (err) => { done(); reject(err); };
      w.timer = setTimeout(() => w.reject(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${describe()}`)), timeoutMs);
      if (this.env.aborted) { reject(new Aborted('interrupted')); return; }
      this.waiters.add(w);
      this.env.abortWaiters.add(w);
      let now;
      try { now = cond(); } catch (err) { w.reject(err); return; }
      if (now) w.resolve();
    });
  }

  /** Throws when a pod will not start by waiting: Failed, or a container waiting for a reason that does not pass. */
  static hopeless(e) {
    const st = e.obj?.status;
    if (!st) return;
    if (st.phase === 'Failed' || st.phase === 'Succeeded') throw new Error(`pod ${e.name} is ${st.phase}: ${st.reason ?? ''} ${st.message ?? ''}`.trim());
    for (const cs of st.containerStatuses ?? []) {
      const w = cs.state?.waiting;
      if (w && FATAL_WAITING.has(w.reason)) throw new Error(`pod ${e.name}: container ${cs.name} waits: ${w.reason}: ${w.message ?? ''}`);
    }
  }

  /** One line on where a pod is (for timeouts). */
  static where(e) {
    const st = e.obj?.status;
    if (!st) return `${e.name}: not seen by the watch`;
    const waiting = (st.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
    const conds = (st.conditions ?? []).map((c) => `${c.type}=${c.status}`).join(',');
    return `${e.name}: ${st.phase}${waiting.length ? ` (${waiting.join(',')})` : ''} [${conds}]`;
  }

  close() {
    this.closed = true;
    this.stream?.close();
  }
}

function podManifest(name, phase) {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, labels: { [LABEL]: phase } },
    spec: {
      // busybox's sleep as PID 1 ignores SIGTERM: the kubelet kills it after 1 s (the default would be 30).
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'sleep', image: IMAGE, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }],
    },
  };
}

/** POSTs the pod, recording when it was sent and answered. */
async function createPod(c, name, phase) {
  if (c.env.aborted) throw new Aborted('interrupted');
  const e = c.watch.entry(name);
  e.sent = wall();
  const obj = await c.api.json('POST', `/api/v1/namespaces/${NS}/pods`, { body: podManifest(name, phase) });
  e.acked = wall();
  e.uid ??= obj.metadata.uid;
  return e;
}

async function waitRunning(c, names, timeoutMs) {
  const entries = names.map((n) => c.watch.entry(n));
  await c.watch.until(() => {
    for (const e of entries) if (!e.running) PodWatch.hopeless(e);
    return entries.every((e) => e.running);
  }, timeoutMs, () => {
    const left = entries.filter((e) => !e.running);
    return `${left.length} of ${entries.length} pods to be Running: ${left.slice(0, 5).map(PodWatch.where).join('; ')}`;
  });
}

/** Deletes every pod of the bench (the kubelet kills them; the API object goes once it has) and waits until gone. */
async function deleteAll(c, timeoutMs) {
  await c.api.json('DELETE', `/api/v1/namespaces/${NS}/pods?labelSelector=${LABEL}`, { timeoutMs: 120_000 });
  await c.watch.until(() => c.watch.present.size === 0, timeoutMs, () => `${c.watch.present.size} pods to be deleted: ${[...c.watch.present].slice(0, 5).join(', ')}`);
}

/** A pod's own timestamps (1 s resolution), relative to its creationTimestamp, in ms. */
function podTimestamps(e) {
  const pod = e.obj;
  const created = Date.parse(pod?.metadata?.creationTimestamp);
  const at = (s) => (s ? Date.parse(s) - created : undefined);
  const cond = (type) => at(pod?.status?.conditions?.find((x) => x.type === type)?.lastTransitionTime);
  return {
    creationTimestamp: pod?.metadata?.creationTimestamp,
    scheduledMs: cond('PodScheduled'), readyMs: cond('Ready'),
    startedMs: at(pod?.status?.containerStatuses?.[0]?.state?.running?.startedAt),
  };
}

// ---- the kubelet's metrics ----

/** Prometheus text → [{ name, labels, value }]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

async function kubeletMetrics(c) {
  const r = await c.api.request('GET', `/api/v1/nodes/${c.node}/proxy/metrics`, { accept: 'text/plain', timeoutMs: 30_000 });
  if (r.status !== 200) throw new Error(`the kubelet's metrics (through the API server) → ${r.status}: ${r.text.slice(0, 300)}`);
  return parseMetrics(r.text);
}

/** after − before of one histogram (optionally of the series matching `labels`): { buckets: [[le, count]], sum, count }. */
function histogramDelta(before, after, name, labels = {}) {
  const match = (s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const pick = (ms, suffix) => ms.filter((s) => s.name === `${name}${suffix}` && match(s));
  const total = (ms, suffix) => sum(pick(ms, suffix).map((s) => s.value));
  const bound = (le) => (le === '+Inf' ? Infinity : Number(le));
  const les = [...new Set(pick(after, '_bucket').map((s) => s.labels.le))].sort((a, b) => bound(a) - bound(b));
  const cum = (ms, le) => sum(pick(ms, '_bucket').filter((s) => s.labels.le === le).map((s) => s.value));
  return {
    buckets: les.map((le) => [bound(le), cum(after, le) - cum(before, le)]),
    sum: total(after, '_sum') - total(before, '_sum'),
    count: total(after, '_count') - total(before, '_count'),
  };
}

/** histogram_quantile: linear interpolation inside the bucket holding the rank; NaN when empty. */
function histogramQuantile(h, q) {
  if (!h.count) return NaN;
  const rank = q * h.count;
  let prevLe = 0;
  let prevCum = 0;
  for (const [le, cum] of h.buckets) {
    if (cum >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCum)) / Math.max(cum - prevCum, 1e-9);
    }
    prevLe = le;
    prevCum = cum;
  }
  return prevLe;
}

/** operation_type → { count, sumMs } of kubelet_runtime_operations_duration_seconds over the phase. */
function runtimeOps(before, after) {
  const ops = {};
  const name = 'kubelet_runtime_operations_duration_seconds';
  for (const s of after.filter((x) => x.name === `${name}_count`)) {
    const op = s.labels.operation_type;
    const h = histogramDelta(before, after, name, { operation_type: op });
    if (h.count) ops[op] = { count: h.count, sumMs: h.sum * 1000 };
  }
  return ops;
}

/**
 * Polls the metrics until the SLI histogram counted `n` more pods than `before` (BENCH_KUBELET_SLI_WAIT_S, 10 s at
 * most). The kubelet records a pod's SLI when its watch delivers the pod Running *after* its status manager noted the
 * PATCH that made it so; when the watch event wins that race the pod is skipped until its next update (pkg/kubelet
 * status_manager.go, util/pod_startup_latency_tracker.go), so the count can stay short.
 */
async function sliAfter(c, before, n, first, log) {
  const deadline = Date.now() + envInt('BENCH_KUBELET_SLI_WAIT_S', 10, 0) * 1000;
  let after = first;
  for (;;) {
    const got = histogramDelta(before, after, 'kubelet_pod_start_sli_duration_seconds').count;
    if (got >= n) return { after, sliComplete: true };
    if (Date.now() > deadline || c.env.aborted) {
      log(`${c.label}: the SLI histogram counted ${got} of ${n} pods (a kubelet race, see sliAfter); taking what it has`);
      return { after, sliComplete: false };
    }
    await sleep(500);
    after = await kubeletMetrics(c);
  }
}

// ---- one runtime ----

/** One phase: `names` created by `create` (one by one or at once), metrics around it. */
async function phase(c, what, names, create, log) {
  const before = await kubeletMetrics(c);
  const t0 = wall();
  await create();
  const wallMs = wall() - t0;
  // The CRI calls that made the pods all returned before the pods could be Running: taken now, before the PLEG's
  // relists of the SLI wait add to the other operations.
  const opsAfter = await kubeletMetrics(c);
  const { after, sliComplete } = await sliAfter(c, before, names.length, opsAfter, log);
  const entries = names.map((n) => c.watch.entry(n));
  const e2e = entries.map((e) => e.running - e.sent);
  const sli = histogramDelta(before, after, 'kubelet_pod_start_sli_duration_seconds');
  const ops = runtimeOps(before, opsAfter);
  const podOpsMs = sum(POD_OPS.map((o) => ops[o]?.sumMs ?? 0));
  const result = {
    n: names.length, wallMs,
    e2e: { p50: summary(e2e).median, p95: percentile(e2e, 95), min: Math.min(...e2e), max: Math.max(...e2e), samples: e2e },
    ready: { p50: summary(entries.map((e) => e.ready - e.sent)).median },
    sli: { p50Ms: histogramQuantile(sli, 0.5) * 1000, meanMs: sli.count ? (sli.sum / sli.count) * 1000 : NaN, count: sli.count, complete: sliComplete, buckets: sli.buckets.filter(([, n]) => n) },
    runtimeShareMs: podOpsMs / names.length,
    perPodMs: Object.fromEntries(Object.entries(ops).map(([op, v]) => [op, v.sumMs / names.length])),
    allCriOpsPerPodMs: sum(Object.values(ops).map((v) => v.sumMs)) / names.length,
    runtimeOps: ops,
    pods: entries.map((e) => ({ name: e.name, e2eMs: e.running - e.sent, postMs: e.acked - e.sent, readyMs: e.ready - e.sent, ...podTimestamps(e) })),
  };
  log(`${c.label}: ${what}: e2e p50 ${result.e2e.p50.toFixed(0)} ms, p95 ${result.e2e.p95.toFixed(0)} ms; SLI p50 ${result.sli.p50Ms.toFixed(0)} ms; runtime ${result.runtimeShareMs.toFixed(1)} ms/pod`);
  return result;
}

async function benchRuntime(rt, env, sizes, log) {
  const name = `bk-${rt.short}-${env.tag}`;
  if (fs.existsSync(clusterDir(name))) throw new Error(`a cluster named ${name} exists already (${clusterDir(name)}); not touching it`);
  const c = { env, label: rt.label, name };
  let upRan = false;
  const started = wall();
  try {
    log(`${rt.label}: hack/cluster up --runtime ${rt.runtime} --name ${name}`);
    upRan = true;
    const up = await runCluster(['up', '--runtime', rt.runtime, '--name', name], { timeoutMs: envInt('BENCH_KUBELET_UP_TIMEOUT_S', 2700, 60) * 1000, env });
    if (env.aborted) throw new Aborted('interrupted');
    if (up.status !== 0) throw new Error(`hack/cluster up --runtime ${rt.runtime} → ${up.timedOut ? 'timed out' : (up.status === -1 ? up.signal ?? up.error : up.status)} (its output is above)`);
    const kv = (key) => new RegExp(`^${key}=(\\S+)`, 'm').exec(up.stdout)?.[1];
    const node = /^NODE=(\S+) HOST_ROOT=(\S+)$/m.exec(up.stdout);
    c.kubeconfig = kv('KUBECONFIG');
    c.registry = kv('REGISTRY');
    if (!c.kubeconfig || !node) throw new Error(`hack/cluster up printed no KUBECONFIG= / NODE= lines:\n${up.stdout}`);
    [, c.node, c.hostRoot] = node;
    const upMs = wall() - started;
    c.api = apiClient(c.kubeconfig);
    const nodeObj = await c.api.json('GET', `/api/v1/nodes/${c.node}`);
    c.nodeInfo = { containerRuntimeVersion: nodeObj.status.nodeInfo.containerRuntimeVersion, kubeletVersion: nodeObj.status.nodeInfo.kubeletVersion };
    log(`${rt.label}: node ${c.node} up in ${(upMs / 1000).toFixed(0)} s (${c.nodeInfo.containerRuntimeVersion}, kubelet ${c.nodeInfo.kubeletVersion})`);
    // Pods mount kube-root-ca.crt (the service account's projected volume): the controller-manager publishes it.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await c.api.request('GET', `/api/v1/namespaces/${NS}/configmaps/kube-root-ca.crt`);
      if (r.status === 200) break;
      if (Date.now() > deadline) throw new Error(`no configmap ${NS}/kube-root-ca.crt within 60 s (→ ${r.status})`);
      await sleep(500);
    }
    c.watch = new PodWatch(c.api, env, log);
    await c.watch.start();
    const podTimeoutMs = envInt('BENCH_KUBELET_POD_TIMEOUT_S', 180, 5) * 1000;
    const settle = () => sleep(envInt('BENCH_SETTLE_MS', 3000, 0));
    const cleanPods = async () => { await deleteAll(c, podTimeoutMs); await settle(); };

    try {
      log(`${rt.label}: warm-up pod (pulls the image)…`);
      await createPod(c, 'bk-warmup', 'warmup');
      await waitRunning(c, ['bk-warmup'], podTimeoutMs);
      const warmupMs = c.watch.entry('bk-warmup').running - c.watch.entry('bk-warmup').sent;
      await cleanPods();

      log(`${rt.label}: ${sizes.seq} pods one by one…`);
      const seqNames = Array.from({ length: sizes.seq }, (_, i) => `bk-seq-${i}`);
      const sequential = await phase(c, `${sizes.seq} one by one`, seqNames, async () => {
        for (const n of seqNames) {
          await createPod(c, n, 'seq');
          await waitRunning(c, [n], podTimeoutMs);
        }
      }, log);
      await cleanPods();

      log(`${rt.label}: ${sizes.burst} pods at once…`);
      const burstNames = Array.from({ length: sizes.burst }, (_, i) => `bk-burst-${i}`);
      const burst = await phase(c, `${sizes.burst} at once`, burstNames, async () => {
        await Promise.all(burstNames.map((n) => createPod(c, n, 'burst')));
        await waitRunning(c, burstNames, podTimeoutMs + sizes.burst * 5000);
      }, log);
      await cleanPods();
      return { label: rt.label, runtime: rt.runtime, cluster: name, node: c.node, ...c.nodeInfo, upMs, warmupMs, sequential, burst };
    } catch (err) {
      if (!(err instanceof Aborted) && !env.aborted) err.message += `\n${diagnostics(c)}`;
      throw err;
    }
  } finally {
    c.watch?.close();
    c.api?.close();
    if (upRan) {
      log(`${rt.label}: hack/cluster down --name ${name}`);
      const down = await runCluster(['down', '--name', name], { timeoutMs: 15 * 60_000, env });
      if (down.status !== 0) {
        env.leftBehind.push(name);
        log(`${rt.label}: hack/cluster down --name ${name} failed (${down.status}); see above, and run it again`);
      }
    }
    log(`${rt.label}: done in ${((wall() - started) / 1000).toFixed(0)} s`);
  }
}

// ---- the report ----

function report(results, sizes) {
  const keys = Object.keys(results).filter((k) => !results[k].error);
  const berth = keys.includes('berthd') ? results.berthd : undefined;
  const peers = keys.filter((k) => k !== 'berthd');
  const f0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
  const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-');
  const rowsFor = (ph, title) => [
    [`${title}: e2e p50 (ms)`, (r) => r[ph].e2e.p50, f0],
    [`${title}: e2e p95 (ms)`, (r) => r[ph].e2e.p95, f0],
    [`${title}: kubelet SLI p50 (ms)`, (r) => r[ph].sli.p50Ms, f0],
    [`${title}: kubelet SLI mean (ms)`, (r) => r[ph].sli.meanMs, f0],
    [`${title}: runtime share per pod (ms)`, (r) => r[ph].runtimeShareMs, f1],
    ...['run_podsandbox', 'create_container', 'start_container'].map((op) => [`${title}:   ${op} per pod (ms)`, (r) => r[ph].perPodMs[op] ?? 0, f1]),
    [`${title}: all CRI calls per pod, relists too (ms)`, (r) => r[ph].allCriOpsPerPodMs, f1],
  ];
  const figures = [
    ...rowsFor('sequential', `${sizes.seq} one by one`),
    ...rowsFor('burst', `${sizes.burst} at once`),
    [`${sizes.burst} at once: wall (ms)`, (r) => r.burst.wallMs, f0],
  ];
  const ratios = Object.fromEntries(peers.map((k) => [k, {}]));
  const rows = figures.map(([name, get, fmt]) => {
    const row = [name, ...keys.map((k) => fmt(get(results[k])))];
    for (const k of peers) {
      const r = berth ? get(berth) / get(results[k]) : NaN;
      ratios[k][name] = r;
      row.push(Number.isFinite(r) ? `${r.toFixed(2)}×` : '-');
    }
    return row;
  });
  let text = table(['', ...keys.map((k) => results[k].label), ...peers.map((k) => `berthd/${k}`)], rows);
  for (const k of keys) text += `${results[k].label}: ${results[k].containerRuntimeVersion}, kubelet ${results[k].kubeletVersion}; cluster up ${(results[k].upMs / 1000).toFixed(0)} s, warm-up pod (with pulls) ${f0(results[k].warmupMs)} ms\n`;
  for (const k of keys) for (const ph of ['sequential', 'burst']) if (!results[k][ph].sli.complete) text += `${results[k].label}: the SLI histogram counted ${results[k][ph].sli.count} of ${results[k][ph].n} pods (${ph})\n`;
  for (const r of Object.values(results)) if (r.error) text += `${r.label}: not measured: ${r.error.split('\n')[0]}\n`;
  const targets = [];
  const c2 = keys.includes('containerd-2') ? results['containerd-2'] : undefined;
  if (berth && c2) {
    for (const [ph, title] of [['sequential', `${sizes.seq} one by one`], ['burst', `${sizes.burst} at once`]]) {
      targets.push({ name: `${title}: e2e p50, berthd < containerd 2.x`, pass: berth[ph].e2e.p50 < c2[ph].e2e.p50, detail: `${f0(berth[ph].e2e.p50)} vs ${f0(c2[ph].e2e.p50)} ms (${(berth[ph].e2e.p50 / c2[ph].e2e.p50).toFixed(2)}×)` });
      targets.push({ name: `${title}: runtime share ≤ 0.5× containerd 2.x`, pass: berth[ph].runtimeShareMs <= 0.5 * c2[ph].runtimeShareMs, detail: `${f1(berth[ph].runtimeShareMs)} vs ${f1(c2[ph].runtimeShareMs)} ms/pod (${(berth[ph].runtimeShareMs / c2[ph].runtimeShareMs).toFixed(2)}×)` });
    }
    text += `\n${table(['target', 'result', 'measured'], targets.map((t) => [t.name, t.pass ? 'MET' : 'MISS', t.detail]), 'lll')}`;
  }
  return { text, ratios, targets };
}

async function benchKubelet() {
  if (process.getuid?.() !== 0) throw new Error('the kubelet benchmark needs root (hack/cluster does)');
  if (!fs.existsSync(path.join(REPO, 'build', 'bin', 'berthd'))) throw new Error('build/bin/berthd is missing: run `npm run build` first');
  const sizes = { seq: envInt('BENCH_KUBELET_SEQ', 20, 1), burst: envInt('BENCH_KUBELET_BURST', 50, 1) };
  const want = (process.env.BENCH_KUBELET_RUNTIMES || RUNTIMES.map((r) => r.key).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const w of want) if (!RUNTIMES.some((r) => r.key === w)) throw new Error(`BENCH_KUBELET_RUNTIMES: ${JSON.stringify(w)} is not one of ${RUNTIMES.map((r) => r.key).join(', ')}`);
  const runtimes = RUNTIMES.filter((r) => want.includes(r.key));
  const log = (s) => process.stderr.write(`bench kubelet: ${s}\n`);
  const env = { tag: process.pid.toString(36), children: new Set(), abortWaiters: new Set(), leftBehind: [] };
  // A signal stops the run where it is (a cluster being brought up is told to stop, and takes itself down); the
  // finally then takes the cluster down. Further signals only say that it is on its way.
  const onSignal = (sig) => {
    if (env.aborted) { log(`${sig}: already stopping; waiting for hack/cluster down to finish`); return; }
    env.aborted = sig;
    log(`${sig}: stopping; taking the cluster down…`);
    for (const w of env.abortWaiters) w.reject(new Aborted('interrupted'));
    for (const signal of env.children) signal('SIGINT');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const t0 = wall();
  try {
    process.stdout.write(`${sizes.seq} pods one by one, ${sizes.burst} at once, through a kubelet on a one-node hack/cluster per runtime; ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB\n`);
    const results = {};
    for (const rt of runtimes) {
      try {
        results[rt.key] = await benchRuntime(rt, env, sizes, log);
      } catch (err) {
        if (env.aborted) break;
        results[rt.key] = { label: rt.label, error: err.message };
        log(`${rt.label}: ${err.message}`);
      }
    }
    if (env.aborted) throw new Error(`interrupted (${env.aborted}); nothing written`);
    const { text, ratios, targets } = report(results, sizes);
    process.stdout.write(text);
    const outDir = path.join(REPO, 'build', 'bench');
    fs.mkdirSync(outDir, { recursive: true });
    const totalMs = wall() - t0;
    fs.writeFileSync(path.join(outDir, 'kubelet.json'), `${JSON.stringify({ date: new Date().toISOString(), sizes, cores: os.cpus().length, totalMs, podOps: POD_OPS, results, ratios, targets }, null, 2)}\n`);
    process.stdout.write(`results: build/bench/kubelet.json (whole run ${(totalMs / 1000).toFixed(0)} s)\n`);
    if (Object.values(results).some((r) => r.error)) process.exitCode = 1;
    return results;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (env.leftBehind.length) log(`clusters NOT removed: ${env.leftBehind.join(', ')} (hack/cluster down --name NAME)`);
  }
}

module.exports = { benchKubelet, parseMetrics, histogramDelta, histogramQuantile };
