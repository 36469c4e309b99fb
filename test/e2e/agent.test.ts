/**
 * berth-agent end to end on a real two-node cluster whose kubelets run berthd (hack/cluster up --runtime
 * berthd): one agent process per node (--host-root that node's host root, --service-manager direct),
 * authenticated as the chart's ServiceAccount with the chart's RBAC, so that a missing rule fails here.
 * A RuntimeHandler for runc → berthd serves the handler on both nodes, the canary ran, the nodes are labelled,
 * the leader made the RuntimeClass, a pod of that class runs, the status says Ready; at rest nothing is
 * written; Debian's prometheus scrapes each agent (its own series and berthd's); bad input is refused by the
 * schema or reported Degraded with nothing left on the nodes; agents killed in the middle of a rollout are
 * replaced and converge; deleting a RuntimeHandler waits for the pod that uses it, then everything is gone;
 * and what the agents asked of the API server is exactly what the chart's RBAC grants.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parseAllDocuments, stringify } from 'yaml';
import { cleanupTempDirs, tempDir } from '../image/helpers';
import { type Cluster, down, kubectl, kubectlPath, up } from './cluster';
import { AgentHarness, type Obj, type RunningAgent } from './agent-harness';

const NAME = 'e2e-agent';

let c: Cluster;
let h: AgentHarness;
/** The chart's RBAC objects, as helm rendered them. */
let rbac: Obj[] = [];
let kubeconfig: string;
const agents = (): RunningAgent[] => h.agents;
const get = (args: string[]): Obj => h.get(args);
const until = <T>(what: string, check: () => T | undefined | false, timeoutMs?: number): Promise<T> => h.until(what, check, timeoutMs);

async function scrape(addr: string): Promise<string> {
  const res = await fetch(`http://${addr}/metrics`);
  return res.text();
}

/** The value of one sample in Prometheus text. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : undefined;
}

beforeAll(() => {
  c = up(NAME, ['--runtime', 'berthd', '--nodes', '2']);
  h = new AgentHarness(c);
  kubeconfig = h.installChart();
  rbac = parseAllDocuments(h.rendered).map((d) => d.toJS() as Obj).filter((o) => o && (o.kind === 'ClusterRole' || o.kind === 'Role'));
  for (const n of c.nodes) {
    AgentHarness.installRunc(n.hostRoot);
    h.startAgent(n.node, n.hostRoot, kubeconfig);
  }
}, 45 * 60_000);

afterAll(async () => {
  await h?.stopAgents();
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGKILL');
    await new Promise((r) => prometheus!.once('exit', r));
  }
  try {
    down(NAME);
  } finally {
    cleanupTempDirs();
  }
}, 10 * 60_000);

let prometheus: ChildProcess | undefined;

/** A free loopback port (prometheus needs one named on its command line). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** The PIDs of the berthd serving a node (its command line names the node's config). */
function berthdPids(hostRoot: string): number[] {
  const config = path.join(hostRoot, 'etc/berth/config.yaml');
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.some((a) => path.basename(a) === 'berthd') && argv.includes(config);
    } catch {
      return false;
    }
  }).map(Number);
}

/** The live agents, one per node (the latest started for each). */
function liveAgents(): RunningAgent[] {
  return c.nodes.map((n) => [...agents()].reverse().find((a) => a.node === n.node && a.child.exitCode === null && a.child.signalCode === null)!);
}

const RH = {
  apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'runc-e2e' },
  spec: { handler: 'runc-e2e', runtime: { type: 'runc' }, runtimeClass: { overhead: { podFixed: { memory: '16Mi' } } } },
};

test('every node reports itself in a BerthNode: berthd healthy, kubelet on berthd', async () => {
  for (const n of c.nodes) {
    const bn = await until(`BerthNode ${n.node}`, () => get(['berthnode', n.node]));
    expect(bn.status).toMatchObject({ runtime: 'berthd', berthd: { healthy: true }, kubelet: { cgroupDriver: 'cgroupfs' } });
    expect(bn.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Node', name: n.node })]);
  }
}, 240_000);

test('a RuntimeHandler for runc: configured and canaried on every node, labelled, its RuntimeClass made, status Ready', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify(RH));
  const rh = await until('RuntimeHandler Ready on both nodes', () => {
    const o = get(['runtimehandler', 'runc-e2e']);
    return o.status?.readyNodes === 2 && o.status.conditions?.find((x: Obj) => x.type === 'Ready')?.status === 'True' ? o : undefined;
  });
  expect(rh.status).toMatchObject({ desiredNodes: 2, readyNodes: 2, failedNodes: 0, observedGeneration: rh.metadata.generation });
  expect(rh.metadata.finalizers).toContain('berth.dev/cleanup');
  for (const n of c.nodes) {
    // berthd serves it from the agent's drop-in, the canary really ran, the node carries the label.
    const dropIn = fs.readFileSync(path.join(n.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml'), 'utf8');
    expect(dropIn).toContain(`path: ${path.join(n.hostRoot, 'usr/sbin/runc')}`);
    const state = get(['berthnode', n.node]).status.handlers.find((h: Obj) => h.handler === 'runc-e2e');
    expect(state).toMatchObject({ phase: 'Ready', lastCanary: { passed: true, message: expect.stringMatching(/^canary container ran through /) } });
    expect(get(['node', n.node]).metadata.labels['berth.dev/handler.runc-e2e']).toBe('ready');
  }
  const rc = get(['runtimeclass', 'runc-e2e']);
  expect(rc).toMatchObject({
    handler: 'runc-e2e', overhead: { podFixed: { memory: '16Mi' } }, scheduling: { nodeSelector: { 'berth.dev/handler.runc-e2e': 'ready' } },
    metadata: { labels: { 'berth.dev/runtime-handler': 'runc-e2e' } },
  });
}, 240_000);

test('a pod of that RuntimeClass runs through the handler', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'on-runc' },
    spec: { runtimeClassName: 'runc-e2e', terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] },
  }));
  const p = await until('pod on-runc Running', () => {
    const o = get(['pod', 'on-runc']);
    return o.status?.phase === 'Running' ? o : undefined;
  }, 120_000);
  expect(p.spec.overhead).toEqual({ memory: '16Mi' });
}, 240_000);

test('at rest the agents write nothing', async () => {
  const addrs = agents().map((a) => a.metrics()!);
  const actions = async () => Promise.all(addrs.map(async (a) => sample(await scrape(a), 'berth_agent_actions_total', 'loop="node"')! + (sample(await scrape(a), 'berth_agent_actions_total', 'loop="cluster"') ?? 0)));
  const before = await actions();
  await new Promise((r) => setTimeout(r, 8000));
  expect(await actions()).toEqual(before);
  // One scrape covers the agent, and it answers health and readiness.
  const text = await scrape(addrs[0]);
  expect(text).toMatch(/^berth_build_info\{component="berth-agent"/m);
  expect(sample(text, 'berth_handler_ready', 'handler="runc-e2e"')).toBe(1);
  // berthd's own families, re-exported: the agent's health checks are CRI Version and Status calls.
  expect(sample(text, 'berth_cri_operations_total', 'service="runtime.v1.RuntimeService",method="Status",code="OK"')).toBeGreaterThan(0);
  expect(text).toMatch(/^berth_sandboxes\{state="ready"\} \d+$/m);
  expect((await fetch(`http://${addrs[0]}/readyz`)).status).toBe(200);
}, 240_000);

test("Debian's prometheus scrapes every agent: one target per node covers the agent and its berthd", async () => {
  const dir = tempDir('berth-prom-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: [{ job_name: 'berth-agent', static_configs: [{ targets: agents().map((a) => a.metrics()!) }] }],
  }));
  prometheus = spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'prometheus', `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prometheus.stderr!.on('data', (d: Buffer) => (promLog += d));
  const query = async (q: string): Promise<Obj[]> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as Obj;
    if (body.status !== 'success') throw new Error(`${q}: ${JSON.stringify(body)}`);
    return body.data.result as Obj[];
  };
  const untilAsync = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 60_000;
    let last: unknown;
    while (Date.now() < deadline) {
      if (await check().catch((err: unknown) => { last = err; return false; })) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out waiting for ${what}: ${String(last ?? '')}\n${promLog.slice(-2000)}`);
  };
  await untilAsync('both targets up', async () => (await query('up{job="berth-agent"} == 1')).length === agents().length);
  const info = await query('berth_build_info');
  expect(info.map((r) => r.metric.component).sort()).toEqual(agents().map(() => 'berth-agent'));
  const ready = await query('berth_handler_ready{handler="runc-e2e"}');
  expect(ready.map((r) => r.value[1])).toEqual(agents().map(() => '1'));
  // berthd's CRI calls per node, through the agent's one target.
  const calls = await query('sum by (instance) (berth_cri_operations_total{method="Status"})');
  expect(calls).toHaveLength(agents().length);
  expect(await query('berth_agent_reconcile_duration_seconds_count > 0')).toHaveLength(agents().length);
  prometheus.kill('SIGTERM');
  await new Promise((r) => prometheus!.once('exit', r));
}, 240_000);

test('bad input: the schema refuses a bad handler name and an unknown runtime; a missing binary is Degraded with nothing left on the nodes', () => {
  const bad = (spec: Obj) => spawnSync(kubectlPath(), ['--kubeconfig', c.kubeconfig, 'apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'bad-input' }, spec }), encoding: 'utf8',
  });
  const name = bad({ handler: 'Not_A_Label', runtime: { type: 'runc' } });
  expect(name.status).not.toBe(0);
  expect(name.stderr).toMatch(/spec\.handler/);
  const type = bad({ handler: 'bad-input', runtime: { type: 'kata' } });
  expect(type.status).not.toBe(0);
  expect(type.stderr).toMatch(/spec\.runtime\.type/);
  const noPath = bad({ handler: 'bad-input', runtime: { type: 'binary' } });
  expect(noPath.status).not.toBe(0);
  expect(noPath.stderr).toMatch(/spec\.runtime\.path is required/);
}, 60_000);

test('a runtime binary that does not exist: Degraded naming the nodes, no drop-in, no label', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'missing-bin' },
    spec: { handler: 'missing-bin', runtime: { type: 'binary', path: '/opt/nowhere/runc' } },
  }));
  const rh = await until('missing-bin Degraded on both nodes', () => {
    const o = get(['runtimehandler', 'missing-bin']);
    return o.status?.failedNodes === 2 && o.status.conditions?.find((x: Obj) => x.type === 'Degraded')?.status === 'True' ? o : undefined;
  });
  const degraded = rh.status.conditions.find((x: Obj) => x.type === 'Degraded');
  expect(degraded).toMatchObject({ reason: 'NodesFailed', message: expect.stringContaining('/opt/nowhere/runc') });
  expect(rh.status.conditions.find((x: Obj) => x.type === 'Ready').status).toBe('False');
  for (const n of c.nodes) {
    expect(fs.existsSync(path.join(n.hostRoot, 'etc/berth/runtimes.d/missing-bin.yaml'))).toBe(false);
    expect(get(['node', n.node]).metadata.labels['berth.dev/handler.missing-bin']).toBeUndefined();
    expect(get(['berthnode', n.node]).status.handlers.find((h: Obj) => h.handler === 'missing-bin')).toMatchObject({ phase: 'Failed' });
  }
  kubectl(c, ['delete', 'runtimehandler', 'missing-bin', '--wait=true', '--timeout=90s']);
  expect(kubectl(c, ['get', 'runtimeclass', '-o', 'name'])).not.toContain('missing-bin');
}, 240_000);

/** SIGKILL to every live agent (no Lease given up, nothing finished), then a new agent per node. */
async function killAndRestartAgents(): Promise<void> {
  const killed = liveAgents();
  for (const a of killed) a.child.kill('SIGKILL');
  await Promise.all(killed.map((a) => new Promise((r) => (a.child.exitCode !== null || a.child.signalCode !== null ? r(null) : a.child.once('exit', r)))));
  for (const n of c.nodes) h.startAgent(n.node, n.hostRoot, kubeconfig);
}

test('agents killed in the middle of applying a RuntimeHandler: the next ones converge, berthd untouched', async () => {
  const before = c.nodes.map((n) => berthdPids(n.hostRoot));
  for (const pids of before) expect(pids).toHaveLength(1);
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({ ...RH, metadata: { name: 'runc-kill' }, spec: { ...RH.spec, handler: 'runc-kill' } }));
  // The first sign of work on any node: a drop-in written (the canary and the label come after it).
  await until('a drop-in for runc-kill', () => c.nodes.some((n) => fs.existsSync(path.join(n.hostRoot, 'etc/berth/runtimes.d/runc-kill.yaml'))), 60_000);
  await killAndRestartAgents();
  await until('runc-kill Ready on both nodes', () => {
    const o = get(['runtimehandler', 'runc-kill']);
    return o.status?.readyNodes === 2 && o.status.conditions?.find((x: Obj) => x.type === 'Ready')?.status === 'True' ? o : undefined;
  }, 120_000);
  for (const n of c.nodes) expect(get(['node', n.node]).metadata.labels['berth.dev/handler.runc-kill']).toBe('ready');
  expect(get(['runtimeclass', 'runc-kill']).handler).toBe('runc-kill');
  // Restarting the agent adopted the running berthd of the same version: the same process still serves.
  expect(c.nodes.map((n) => berthdPids(n.hostRoot))).toEqual(before);
}, 300_000);

test('changing it rolls out node by node within maxUnavailable 1, and its RuntimeClass follows', async () => {
  const dropIn = (n: { hostRoot: string }) => path.join(n.hostRoot, 'etc/berth/runtimes.d/runc-kill.yaml');
  const generation = get(['runtimehandler', 'runc-kill']).metadata.generation as number;
  kubectl(c, ['patch', 'runtimehandler', 'runc-kill', '--type', 'merge', '-p', JSON.stringify({
    spec: { runtime: { root: '/run/runc-kill-v2' }, rollout: { maxUnavailable: 1 }, runtimeClass: { overhead: { podFixed: { memory: '32Mi' } } } },
  })]);
  // Samples: the files first, then the BerthNodes, so a node seen changed is never ahead of what the API says.
  const changedAt = new Map<string, number>();
  const readyAt = new Map<string, number>();
  const deadline = Date.now() + 120_000;
  for (let i = 0; readyAt.size < c.nodes.length; i++) {
    if (Date.now() > deadline) throw new Error(`rollout not done: changed ${JSON.stringify([...changedAt])}, ready ${JSON.stringify([...readyAt])}`);
    const changed = c.nodes.filter((n) => fs.existsSync(dropIn(n)) && fs.readFileSync(dropIn(n), 'utf8').includes('runc-kill-v2'));
    const nodes = get(['berthnodes']).items as Obj[];
    for (const n of changed) if (!changedAt.has(n.node)) changedAt.set(n.node, i);
    for (const bn of nodes) {
      const h = (bn.status?.handlers ?? []).find((x: Obj) => x.handler === 'runc-kill');
      if (h?.phase === 'Ready' && h.generation > generation && !readyAt.has(bn.metadata.name)) readyAt.set(bn.metadata.name, i);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // The node let in second got its new configuration only after the first was Ready with its own.
  const [first, second] = [...changedAt.entries()].sort((a, b) => a[1] - b[1]).map(([node]) => node);
  expect(second).toBeDefined();
  expect(changedAt.get(second)!).toBeGreaterThanOrEqual(readyAt.get(first)!);
  await until('the RuntimeClass overhead follows', () => get(['runtimeclass', 'runc-kill']).overhead?.podFixed?.memory === '32Mi');
  await until('status Ready at the new generation', () => {
    const o = get(['runtimehandler', 'runc-kill']);
    return o.status?.observedGeneration === o.metadata.generation && o.status.readyNodes === 2;
  });
  kubectl(c, ['delete', 'runtimehandler', 'runc-kill', '--wait=true', '--timeout=90s']);
  for (const n of c.nodes) expect(fs.existsSync(dropIn(n))).toBe(false);
}, 300_000);

test('deleting the RuntimeHandler: its RuntimeClass and labels go at once, the handler stays where a pod uses it, then all is gone', async () => {
  const busyNode = get(['pod', 'on-runc']).spec.nodeName as string;
  kubectl(c, ['delete', 'runtimehandler', 'runc-e2e', '--wait=false']);
  await until('the RuntimeClass gone', () => !kubectl(c, ['get', 'runtimeclass', '-o', 'name']).includes('runc-e2e'));
  await until('labels gone', () => c.nodes.every((n) => get(['node', n.node]).metadata.labels['berth.dev/handler.runc-e2e'] === undefined));
  const holder = c.nodes.find((n) => n.node === busyNode)!;
  const idle = c.nodes.find((n) => n.node !== busyNode)!;
  await until('the idle node unconfigured', () => !fs.existsSync(path.join(idle.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml')));
  const state = await until('the busy node Removing', () => get(['berthnode', busyNode]).status.handlers.find((h: Obj) => h.handler === 'runc-e2e' && h.phase === 'Removing'));
  expect(state.message).toContain('on-runc');
  expect(fs.existsSync(path.join(holder.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml'))).toBe(true);
  expect(get(['runtimehandler', 'runc-e2e']).metadata.deletionTimestamp).toBeDefined();
  // Agents killed in the middle of the deletion: the new ones pick it up where it stands.
  await killAndRestartAgents();
  await until('the busy node still Removing under the new agent', () => get(['berthnode', busyNode]).status.handlers.find((h: Obj) => h.handler === 'runc-e2e' && h.phase === 'Removing'));
  expect(fs.existsSync(path.join(holder.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml'))).toBe(true);

  kubectl(c, ['delete', 'pod', 'on-runc', '--wait=true', '--timeout=60s']);
  await until('the busy node unconfigured', () => !fs.existsSync(path.join(holder.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml')));
  await until('the RuntimeHandler gone', () => !kubectl(c, ['get', 'runtimehandlers', '-o', 'name']).includes('runc-e2e'));
  for (const n of c.nodes) expect(get(['berthnode', n.node]).status.handlers).toEqual([]);
}, 240_000);

/** The chart's rules that only a NodeMigration exercises. */
const MIGRATION_ONLY = ['create /pods/eviction', 'patch berth.dev/nodemigrations/status'];

test("what the agents asked of the API server is exactly what the chart's RBAC grants", () => {
  // Every agent logs the first request of each kind (verb, group, resource); killed agents' logs count too.
  const used = new Set<string>();
  for (const a of agents()) {
    for (const line of a.logs().split('\n')) {
      if (!line.includes('first API request of its kind')) continue;
      const o = JSON.parse(line) as Obj;
      used.add(`${o.verb} ${o.group}/${o.resource}`);
    }
  }
  const granted = new Set<string>();
  for (const role of rbac) {
    for (const rule of role.rules as Obj[]) {
      for (const group of rule.apiGroups) for (const resource of rule.resources) for (const verb of rule.verbs) granted.add(`${verb} ${group}/${resource}`);
    }
  }
  expect(used.size).toBeGreaterThan(5);
  // Only a migration needs these (test/e2e/migration.test.ts checks that its agent used them).
  for (const k of MIGRATION_ONLY) expect(granted.has(k)).toBe(true);
  // A kind used and not granted would have failed a request above; one granted and never used is a rule too many.
  expect({ unused: [...granted].filter((k) => !used.has(k) && !MIGRATION_ONLY.includes(k)).sort(), ungranted: [...used].filter((k) => !granted.has(k)).sort() }).toEqual({ unused: [], ungranted: [] });
});
