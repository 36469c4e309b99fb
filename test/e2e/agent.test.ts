/**
 * berth-agent end to end on a real two-node cluster whose kubelets run berthd (hack/cluster up --runtime
 * berthd): one agent process per node (--host-root that node's host root, --service-manager direct),
 * authenticated as the chart's ServiceAccount with the chart's RBAC, so that a missing rule fails here.
 * A RuntimeHandler for runc → berthd serves the handler on both nodes, the canary ran, the nodes are labelled,
 * the leader made the RuntimeClass, a pod of that class runs, the status says Ready; at rest nothing is
 * written; deleting it waits for the pod that uses it, then everything is gone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { stringify } from 'yaml';
import { tempDir } from '../image/helpers';
import { type Cluster, down, kubectl, up } from './cluster';

const NAME = 'e2e-agent';
const REPO = path.resolve(__dirname, '..', '..');
const AGENT = path.join(REPO, 'build', 'bin', 'berth-agent');
const NS = 'berth-system';
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

let c: Cluster;
const agents: Array<{ node: string; child: ChildProcess; logs: () => string; metrics: () => string | undefined }> = [];

function helmBin(): string {
  const r = spawnSync(path.join(REPO, 'hack/peers'), ['--list', 'helm'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('helm '));
  if (!line) throw new Error(`hack/peers --list helm has no helm: ${r.stderr}`);
  return line.split(' ')[2];
}

const get = (args: string[]): Obj => JSON.parse(kubectl(c, ['get', ...args, '-o', 'json']));

/** Polls `check` until it returns something (bounded), failing with the last thing seen. */
async function until<T>(what: string, check: () => T | undefined, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\n${agents.map((a) => `--- ${a.node}\n${a.logs().slice(-3000)}`).join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A kubeconfig for the chart's ServiceAccount: the cluster's server and CA, a token of that account. */
function serviceAccountKubeconfig(sa: string): string {
  const admin = JSON.parse(kubectl(c, ['config', 'view', '--raw', '-o', 'json']));
  const cluster = admin.clusters[0].cluster;
  const token = kubectl(c, ['create', 'token', sa, '-n', NS, '--duration', '2h']).trim();
  const file = path.join(tempDir('berth-agent-kc-'), 'agent.kubeconfig');
  fs.writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'agent',
    clusters: [{ name: 'c', cluster }], users: [{ name: 'agent', user: { token } }],
    contexts: [{ name: 'agent', context: { cluster: 'c', user: 'agent' } }],
  }), { mode: 0o600 });
  return file;
}

function startAgent(node: string, hostRoot: string, kubeconfig: string): void {
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', AGENT, '--kubeconfig', kubeconfig, '--node-name', node, '--host-root', hostRoot,
    '--service-manager', 'direct', '--metrics-addr', '127.0.0.1:0', '--namespace', NS, '--log-level', 'debug'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => (logs += d));
  agents.push({
    node, child, logs: () => logs,
    metrics: () => /"msg":"serving metrics".*?"address":"([^"]+)"/.exec(logs)?.[1],
  });
}

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
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: npm run build`);
  c = up(NAME, ['--runtime', 'berthd', '--nodes', '2']);
  kubectl(c, ['apply', '-f', path.join(REPO, 'crds')]);
  kubectl(c, ['wait', '--for=condition=Established', 'crd/runtimehandlers.berth.dev', 'crd/berthnodes.berth.dev', '--timeout=60s']);
  kubectl(c, ['create', 'namespace', NS]);
  const rendered = spawnSync(helmBin(), ['template', 'rel', path.join(REPO, 'charts/berth'), '--namespace', NS], { encoding: 'utf8', env: { ...process.env, HOME: tempDir('berth-helm-') } });
  if (rendered.status !== 0) throw new Error(`helm template: ${rendered.stderr}`);
  kubectl(c, ['apply', '-n', NS, '-f', '-'], rendered.stdout);
  const sa = get(['serviceaccounts', '-n', NS]).items.map((s: Obj) => s.metadata.name).find((n: string) => n !== 'default');
  const kubeconfig = serviceAccountKubeconfig(sa);
  for (const n of c.nodes) {
    // The node "has runc installed": its host root's /usr/sbin/runc is this machine's.
    fs.mkdirSync(path.join(n.hostRoot, 'usr/sbin'), { recursive: true });
    if (!fs.existsSync(path.join(n.hostRoot, 'usr/sbin/runc'))) fs.symlinkSync('/usr/sbin/runc', path.join(n.hostRoot, 'usr/sbin/runc'));
    startAgent(n.node, n.hostRoot, kubeconfig);
  }
}, 45 * 60_000);

afterAll(async () => {
  for (const a of agents) {
    if (a.child.exitCode === null) a.child.kill('SIGTERM');
  }
  await Promise.all(agents.map((a) => new Promise((r) => (a.child.exitCode !== null ? r(null) : a.child.once('exit', r)))));
  down(NAME);
}, 10 * 60_000);

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
  const addrs = agents.map((a) => a.metrics()!);
  const actions = async () => Promise.all(addrs.map(async (a) => sample(await scrape(a), 'berth_agent_actions_total', 'loop="node"')! + (sample(await scrape(a), 'berth_agent_actions_total', 'loop="cluster"') ?? 0)));
  const before = await actions();
  await new Promise((r) => setTimeout(r, 8000));
  expect(await actions()).toEqual(before);
  // One scrape covers the agent, and it answers health and readiness.
  const text = await scrape(addrs[0]);
  expect(text).toMatch(/^berth_build_info\{component="berth-agent"/m);
  expect((await fetch(`http://${addrs[0]}/readyz`)).status).toBe(200);
}, 240_000);

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

  kubectl(c, ['delete', 'pod', 'on-runc', '--wait=true', '--timeout=60s']);
  await until('the busy node unconfigured', () => !fs.existsSync(path.join(holder.hostRoot, 'etc/berth/runtimes.d/runc-e2e.yaml')));
  await until('the RuntimeHandler gone', () => !kubectl(c, ['get', 'runtimehandlers', '-o', 'name']).includes('runc-e2e'));
  for (const n of c.nodes) expect(get(['berthnode', n.node]).status.handlers).toEqual([]);
}, 240_000);
