/**
 * `npm run bench -- agent`: what berth-agent costs the API server and its node, at scale. A one-node hack/cluster
 * (kubelet on berthd) gets the chart's CRDs and RBAC; its node runs one real berth-agent (the bundled binary,
 * --service-manager direct, the chart's ServiceAccount); BENCH_AGENT_NODES - 1 more Node objects are created and
 * each is run by a simulated agent (fleet.ts: the real control loop, watches, Lease and BerthNode, over an
 * in-memory node side), all in one child process. Then:
 *   1. rollout: a RuntimeHandler for every node (runc, canary on) is created; the time until its status says
 *      Ready on all nodes, and the API server's CPU meanwhile;
 *   2. at rest (BENCH_AGENT_REST_SECONDS): API requests per node per minute, as each agent counted them (the
 *      real agent's berth_agent_api_requests_total and the fleet's clients), by kind; the real agent's RSS;
 *   3. change: the RuntimeHandler's runtime root changes, rolled out with maxUnavailable 10%;
 *   4. delete: until the RuntimeHandler is gone (every node unconfigured, finalizer released).
 * A table on stdout, build/bench/agent.json. Reports against the targets; never gates. The cluster,
 * the agents and the fleet are stopped in a finally, also on failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parse as parseYaml } from 'yaml';
import { KubeClient } from '../../../src/agent';
import { AgentHarness, NS } from '../../../test/e2e/agent-harness';
import { down, kubectl, kubectlPath, up, type Cluster } from '../../../test/e2e/cluster';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

// This runs bundled as build/bench-agent/main.js, as the test helpers it uses expect (their REPO is two levels up).
const REPO = path.resolve(__dirname, '..', '..');
const CLUSTER = 'bench-agent';
const HANDLER = 'bench-runc';
const IDLE_RSS_TARGET = 60 * 1024 * 1024;
const CLK_TCK = 100;

// The benchmarks' shared helpers (plain JS, bundled in by esbuild).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { envInt, table } = require('../common') as {
  envInt(name: string, def: number, min: number): number;
  table(header: string[], rows: string[][], align?: string): string;
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const progress = (msg: string) => process.stderr.write(`bench agent: ${msg}\n`);

// ---- processes on this machine ----

/** The PID of the process whose argv[0] ends in `binary` and whose arguments include `marker`. */
function findProcess(binary: string, marker: string): number {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0].endsWith(`/${binary}`) && argv.some((a) => a.includes(marker))) return Number(d);
    } catch { /* gone */ }
  }
  throw new Error(`no ${binary} process with ${marker}`);
}

/** User + system CPU seconds a process has used. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

// ---- the simulated nodes ----

interface FleetStats {
  agents: number;
  leaders: number;
  passes: number;
  requests: Record<string, number>;
  perAgent: number[];
  rssBytes: number;
}

class Fleet {
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;

  constructor(kubeconfig: string, nodes: string[], logFile: string) {
    this.child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', process.execPath, '--max-old-space-size=4096', path.join(__dirname, 'fleet.js')], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, FLEET_KUBECONFIG: kubeconfig, FLEET_NODES: nodes.join(','), FLEET_NAMESPACE: NS, FLEET_LOG: logFile },
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.lines.push(line);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  private next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the fleet said nothing in ${timeoutMs / 1000} s`)), timeoutMs);
      this.child.once('exit', (code) => reject(new Error(`the fleet exited (${code})`)));
      this.waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  async ready(timeoutMs: number): Promise<number> {
    return (JSON.parse(await this.next(timeoutMs)) as { ready: number }).ready;
  }

  async stats(): Promise<FleetStats> {
    this.child.stdin!.write('stats\n');
    return JSON.parse(await this.next(30_000)) as FleetStats;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(30_000)]);
    this.child.kill('SIGKILL');
  }
}

function simulatedNodes(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);
}

function createNodes(c: Cluster, names: string[]): void {
  for (let i = 0; i < names.length; i += 100) {
    const items = names.slice(i, i + 100).map((name) => ({
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name, 'berth.dev/bench': 'simulated' } },
    }));
    kubectl(c, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  }
}

// ---- counting requests ----

/** berth_agent_api_requests_total of the real agent, by "verb group/resource". */
async function agentRequests(metricsAddress: string): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^berth_agent_api_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out[`${labels.verb} ${labels.group || 'core'}/${labels.resource}`] = Number(m[2]);
  }
  return out;
}

const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
function minus(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
}

/** Open watches on the API server (apiserver_longrunning_requests), as its /metrics says. */
function openWatches(c: Cluster): number {
  // Several MB: more than kubectl()'s default output buffer.
  const r = spawnSync(kubectlPath(), ['--kubeconfig', c.kubeconfig, 'get', '--raw', '/metrics'], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`kubectl get --raw /metrics → ${r.status ?? r.signal}: ${r.stderr}`);
  const text = r.stdout;
  let n = 0;
  for (const m of text.matchAll(/^apiserver_longrunning_requests\{([^}]*)\} (\S+)$/gm)) if (m[1].includes('verb="WATCH"')) n += Number(m[2]);
  return n;
}

// ---- waiting for the RuntimeHandler ----

/** A watch on one RuntimeHandler; `until` resolves when an event satisfies the check (or the object is gone). */
class HandlerWatch {
  private latest: Obj | undefined;
  private gone = false;
  private listeners: Array<() => void> = [];
  private stopWatch: (() => void) | undefined;

  constructor(private readonly kube: KubeClient) {}

  async start(): Promise<void> {
    const list = await this.kube.request('GET', '/apis/berth.dev/v1alpha1/runtimehandlers', { query: { fieldSelector: `metadata.name=${HANDLER}` } });
    const rv = String((list?.metadata as Obj | undefined)?.resourceVersion ?? '');
    const open = async (resourceVersion: string): Promise<void> => {
      this.stopWatch = await this.kube.watch('/apis/berth.dev/v1alpha1/runtimehandlers', { fieldSelector: `metadata.name=${HANDLER}`, resourceVersion, allowWatchBookmarks: true }, {
        event: (type, obj) => {
          if (type === 'ERROR') return;
          if (type !== 'BOOKMARK') {
            this.latest = obj as Obj;
            this.gone = type === 'DELETED';
          }
          rvSeen = String((obj.metadata as Obj | undefined)?.resourceVersion ?? rvSeen);
          for (const l of this.listeners) l();
        },
        done: () => {
          if (this.stopWatch) void open(rvSeen);
        },
      });
    };
    let rvSeen = rv;
    await open(rv);
  }

  stop(): void {
    const s = this.stopWatch;
    this.stopWatch = undefined;
    s?.();
  }

  until(what: string, check: (o: Obj | undefined, gone: boolean) => boolean, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(new Error(`${what}: not within ${timeoutMs / 1000} s; last status ${JSON.stringify(this.latest?.status)?.slice(0, 600)}`));
      }, timeoutMs);
      const listener = () => {
        if (!check(this.latest, this.gone)) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        resolve();
      };
      this.listeners.push(listener);
      listener();
    });
  }
}

/** Ready on all `nodes` at generation `generation` (or a later one). */
const readyEverywhere = (nodes: number, generation: number) => (o: Obj | undefined, gone: boolean): boolean => {
  const st = o?.status as Obj | undefined;
  return !gone && !!st && o?.metadata.generation >= generation && st.observedGeneration === o?.metadata.generation && st.readyNodes === nodes && st.desiredNodes === nodes
    && (st.conditions as Obj[] | undefined)?.some((x) => x.type === 'Ready' && x.status === 'True') === true;
};

// ---- the run ----

interface Phase {
  name: string;
  seconds: number;
  apiserverCpuSeconds: number;
  etcdCpuSeconds: number;
  fleetCpuSeconds: number;
}

export async function benchAgent(): Promise<void> {
  const nodes = envInt('BENCH_AGENT_NODES', 500, 2);
  const restSeconds = envInt('BENCH_AGENT_REST_SECONDS', 300, 30);
  const work = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'berth-bench-agent-'));
  let c: Cluster | undefined;
  let harness: AgentHarness | undefined;
  let fleet: Fleet | undefined;
  let watch: HandlerWatch | undefined;
  const phases: Phase[] = [];
  try {
    progress('hack/cluster up (one node, kubelet on berthd)');
    c = up(CLUSTER, ['--runtime', 'berthd']);
    const cluster = c;
    const server = (parseYaml(fs.readFileSync(c.kubeconfig, 'utf8')) as Obj).clusters[0].cluster.server as string;
    const apiserver = findProcess('kube-apiserver', `--secure-port=${new URL(server).port}`);
    const etcd = findProcess('etcd', path.join(path.dirname(c.kubeconfig), 'control-plane/var/lib/etcd'));
    harness = new AgentHarness(c);
    const agentKubeconfig = harness.installChart();
    const real = c.nodes[0];
    AgentHarness.installRunc(real.hostRoot);
    const sims = simulatedNodes(nodes - 1);
    progress(`creating ${sims.length} Node objects`);
    createNodes(c, sims);

    const watchesWithoutAgents = openWatches(c);
    // The simulated agents first, so that one of them leads and the real agent is what 499 of 500 agents are:
    // a node agent that does not lead (the leader also caches every Node and BerthNode).
    progress(`starting ${sims.length} simulated agents, then the real one on ${real.node}`);
    const startedAt = Date.now();
    fleet = new Fleet(agentKubeconfig, sims, path.join(work, 'fleet.log'));
    const started = await fleet.ready(15 * 60_000);
    const agent = harness.startAgent(real.node, real.hostRoot, agentKubeconfig);
    const admin = KubeClient.fromFileOrCluster(c.kubeconfig);
    const berthNodes = async () => ((await admin.get('/apis/berth.dev/v1alpha1/berthnodes'))?.items as Obj[] | undefined)?.length ?? 0;
    for (const deadline = Date.now() + 10 * 60_000; (await berthNodes()) < nodes; await sleep(2000)) {
      if (Date.now() > deadline) throw new Error(`only ${await berthNodes()} of ${nodes} BerthNodes after 10 minutes`);
    }
    const allUpSeconds = (Date.now() - startedAt) / 1000;
    progress(`${started} simulated agents started; ${nodes} BerthNodes in ${allUpSeconds.toFixed(1)} s`);
    const metricsAddress = await harness.until('the real agent serving metrics', () => agent.metrics(), 120_000);
    await sleep(10_000); // settle: the first passes' writes come back through the watches

    const measure = async (name: string, run: () => Promise<void>): Promise<Phase> => {
      const cpu0 = [cpuSeconds(apiserver), cpuSeconds(etcd), cpuSeconds(fleet!.pid)];
      const t0 = Date.now();
      await run();
      const seconds = (Date.now() - t0) / 1000;
      const cpu1 = [cpuSeconds(apiserver), cpuSeconds(etcd), cpuSeconds(fleet!.pid)];
      const p = { name, seconds, apiserverCpuSeconds: cpu1[0] - cpu0[0], etcdCpuSeconds: cpu1[1] - cpu0[1], fleetCpuSeconds: cpu1[2] - cpu0[2] };
      phases.push(p);
      progress(`${name}: ${seconds.toFixed(1)} s, API server ${p.apiserverCpuSeconds.toFixed(1)} CPU s`);
      return p;
    };

    watch = new HandlerWatch(admin);
    await watch.start();
    const w = watch;
    progress(`1. a RuntimeHandler for all ${nodes} nodes`);
    await measure('rollout: create → Ready on all nodes', async () => {
      const created = await admin.request('POST', '/apis/berth.dev/v1alpha1/runtimehandlers', {
        body: {
          apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: HANDLER },
          spec: { handler: HANDLER, runtime: { type: 'runc' }, nodeSelector: { 'kubernetes.io/os': 'linux' }, canary: { enabled: true }, rollout: { maxUnavailable: '10%' } },
        },
      });
      await w.until('Ready on all nodes', readyEverywhere(nodes, Number((created?.metadata as Obj).generation)), 20 * 60_000);
    });
    const runtimeClass = await admin.find(`/apis/node.k8s.io/v1/runtimeclasses/${HANDLER}`);
    if (runtimeClass?.handler !== HANDLER) throw new Error(`no RuntimeClass ${HANDLER} for the Ready handler`);

    progress(`2. at rest for ${restSeconds} s`);
    await sleep(10_000);
    const watches = openWatches(cluster);
    const real0 = await agentRequests(metricsAddress);
    const fleet0 = await fleet.stats();
    // The real agent's RSS sampled every 10 s at rest (one sample lands wherever the last GC left the heap).
    const rssSamples: number[] = [];
    const rest = await measure('at rest', async () => {
      for (const end = Date.now() + restSeconds * 1000; Date.now() < end; await sleep(Math.min(10_000, end - Date.now()))) rssSamples.push(rssBytes(agent.child.pid!));
    });
    const real1 = await agentRequests(metricsAddress);
    const fleet1 = await fleet.stats();
    rssSamples.sort((a, b) => a - b);
    const agentRss = rssSamples[Math.floor(rssSamples.length / 2)];
    const realLeads = /^berth_agent_leader 1$/m.test(await (await fetch(`http://${metricsAddress}/metrics`)).text());
    const minutes = rest.seconds / 60;
    const fleetByKind = minus(fleet1.requests, fleet0.requests);
    const realByKind = minus(real1, real0);
    const perAgent = fleet1.perAgent.map((n, i) => (n - (fleet0.perAgent[i] ?? 0)) / minutes).sort((a, b) => a - b);
    const allByKind: Record<string, number> = { ...fleetByKind };
    for (const [k, v] of Object.entries(realByKind)) allByKind[k] = (allByKind[k] ?? 0) + v;

    progress('3. a change, rolled out with maxUnavailable 10%');
    await measure('change: patch → Ready on all nodes at the new generation', async () => {
      const patched = await admin.request('PATCH', `/apis/berth.dev/v1alpha1/runtimehandlers/${HANDLER}`, { body: { spec: { runtime: { root: '/run/berth/bench-runc-2' } } } });
      await w.until('the change Ready on all nodes', readyEverywhere(nodes, Number((patched?.metadata as Obj).generation)), 20 * 60_000);
    });
    progress('4. delete');
    await measure('delete → gone from all nodes', async () => {
      await admin.request('DELETE', `/apis/berth.dev/v1alpha1/runtimehandlers/${HANDLER}`);
      await w.until('the RuntimeHandler gone', (_o, gone) => gone, 20 * 60_000);
    });

    const perNodeMinute = total(allByKind) / nodes / minutes;
    const fmt = (n: number, d = 2) => n.toFixed(d);
    const rows: string[][] = [
      ['nodes (1 real agent + simulated)', String(nodes), ''],
      ['all BerthNodes written after start', `${fmt(allUpSeconds, 1)} s`, ''],
      ...phases.filter((p) => p !== rest).map((p) => [p.name, `${fmt(p.seconds, 1)} s`, `API server ${fmt(p.apiserverCpuSeconds, 1)} CPU s (${fmt(p.apiserverCpuSeconds / p.seconds)} cores), etcd ${fmt(p.etcdCpuSeconds, 1)} s`]),
      ['at rest: API requests per node per minute', fmt(perNodeMinute, 3), `all kinds; watches only is the target (${Object.keys(allByKind).join(', ') || 'none'})`],
      ['at rest: per simulated agent (median / max)', `${fmt(perAgent[Math.floor(perAgent.length / 2)] ?? 0, 3)} / ${fmt(perAgent[perAgent.length - 1] ?? 0, 3)}`, `the max is the Lease holder's (${fleet1.leaders} simulated leader)`],
      ['at rest: the real agent', fmt(total(realByKind) / minutes, 3), Object.entries(realByKind).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
      ['at rest: open watches the agents added', String(watches - watchesWithoutAgents), `${fmt((watches - watchesWithoutAgents) / nodes, 2)} per node (the API server's apiserver_longrunning_requests, ${watchesWithoutAgents} before the agents)`],
      ['at rest: API server CPU', `${fmt(rest.apiserverCpuSeconds / rest.seconds, 3)} cores`, `etcd ${fmt(rest.etcdCpuSeconds / rest.seconds, 3)} cores`],
      [`real agent idle RSS (${realLeads ? 'leading' : 'not leading'}), median`, `${fmt(agentRss / 1048576, 1)} MiB`, `target ≤ 60 MiB: ${agentRss <= IDLE_RSS_TARGET ? 'met' : 'missed'} (${fmt(agentRss / IDLE_RSS_TARGET)}× the target); ${rssSamples.length} samples ${fmt(rssSamples[0] / 1048576, 1)}–${fmt(rssSamples[rssSamples.length - 1] / 1048576, 1)} MiB`],
      ['simulated agents: RSS per agent', `${fmt(fleet1.rssBytes / (nodes - 1) / 1048576, 2)} MiB`, `one process, ${fmt(fleet1.rssBytes / 1048576, 0)} MiB in all`],
    ];
    process.stdout.write(`\n${table(['', 'value', ''], rows, 'lrl')}`);
    const out = path.join(REPO, 'build', 'bench', 'agent.json');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, `${JSON.stringify({
      date: new Date().toISOString(), nodes, restSeconds: rest.seconds, allUpSeconds, phases,
      atRest: { requestsPerNodePerMinute: perNodeMinute, byKind: allByKind, realAgent: realByKind, perSimulatedAgentPerMinute: perAgent, openWatches: watches, openWatchesWithoutAgents: watchesWithoutAgents },
      realAgentIdleRssBytes: agentRss, realAgentRssSamples: rssSamples, realAgentLeads: realLeads, fleetRssBytes: fleet1.rssBytes, leaders: fleet1.leaders,
    }, null, 2)}\n`);
    process.stdout.write(`results in ${path.relative(REPO, out)}\n`);
  } finally {
    watch?.stop();
    await fleet?.stop();
    await harness?.stopAgents();
    if (c) {
      progress('hack/cluster down');
      down(CLUSTER);
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
}
