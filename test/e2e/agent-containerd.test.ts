/**
 * berth-agent end to end on a node whose kubelet still runs containerd 2.x (hack/cluster up --runtime
 * containerd): one agent process (--host-root the node's host root, --service-manager direct, so containerd is
 * restarted through the node's own systemctl), authenticated as the chart's ServiceAccount. The runc
 * RuntimeHandler from crds/examples (renamed, so it does not collide with the node's own `runc` runtime) →
 * containerd serves the handler, the node is labelled, the RuntimeClass exists, a pod of that class runs
 * through it, the BerthNode says containerd; at rest containerd is not restarted; deleting the RuntimeHandler
 * removes the drop-in and puts containerd's config back byte for byte, and the label and RuntimeClass go;
 * `berth-agent uninstall` with a handler still configured takes it out of containerd and the stack off the node.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { type Cluster, down, kubectl, up } from './cluster';
import { AGENT, AgentHarness, REPO, type Obj } from './agent-harness';

const NAME = 'agentctd';
const HANDLER = 'runc-ctd';
const LABEL = `berth.dev/handler.${HANDLER}`;

let c: Cluster;
let h: AgentHarness;
let hostRoot: string;
let original: string;
let crictlBin: string;
let nodeNetwork: string;
const conflist = () => path.join(hostRoot, 'etc/cni/net.d/10-berth.conflist');
const configPath = () => path.join(hostRoot, 'etc/containerd/config.toml');
const dropIn = () => path.join(hostRoot, 'etc/containerd/conf.d', `berth-${HANDLER}.toml`);
const runcRoot = () => path.join(hostRoot, 'run/berth/runc-ctd');

function crictl(args: string[]): string {
  const r = spawnSync(crictlBin, ['--runtime-endpoint', `unix://${path.join(hostRoot, 'run/containerd/containerd.sock')}`, '--timeout', '30s', ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`crictl ${args.join(' ')} → ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const runtimes = (): Record<string, Obj> => (JSON.parse(crictl(['info'])) as Obj).config?.containerd?.runtimes ?? {};

/** containerd's MainPID as the node's systemctl reports it. */
function containerdPid(): string {
  const r = spawnSync(path.join(hostRoot, 'usr/bin/systemctl'), ['show', '-p', 'MainPID', '--value', 'containerd'], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`systemctl show containerd → ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

/** The example RuntimeHandler for runc, as this node has it: runc found on the node, its state under the host root. */
function runtimeHandler(): Obj {
  const rh = parse(fs.readFileSync(path.join(REPO, 'crds/examples/runtimehandler-runc.yaml'), 'utf8')) as Obj;
  rh.metadata.name = HANDLER;
  rh.spec.handler = HANDLER;
  delete rh.spec.runtime.path;
  rh.spec.runtime.root = runcRoot();
  rh.spec.runtimeClass.name = HANDLER;
  return rh;
}

beforeAll(() => {
  const peers = spawnSync(path.join(REPO, 'hack/peers'), ['--list', 'cri-tools'], { encoding: 'utf8' });
  const line = peers.stdout.split('\n').find((l) => l.startsWith('crictl '));
  if (!line) throw new Error(`hack/peers --list cri-tools has no crictl: ${peers.stderr}`);
  crictlBin = line.split(' ')[2];
  c = up(NAME, ['--runtime', 'containerd', '--nodes', '1']);
  h = new AgentHarness(c);
  hostRoot = c.nodes[0].hostRoot;
  original = fs.readFileSync(configPath(), 'utf8');
  // hack/cluster names the node's own network 10-berth.conflist, the agent's own file name: the agent (--cni auto)
  // must see that it is not its own network and leave it alone (checked at the end).
  nodeNetwork = fs.readFileSync(conflist(), 'utf8');
  const kubeconfig = h.installChart();
  AgentHarness.installRunc(hostRoot);
  h.startAgent(c.nodes[0].node, hostRoot, kubeconfig);
}, 20 * 60_000);

afterAll(async () => {
  try {
    if (h) await h.stopAgents();
  } finally {
    down(NAME);
  }
}, 10 * 60_000);

test('the BerthNode says containerd, and containerd healthy over CRI', async () => {
  const node = c.nodes[0].node;
  const bn = await h.until(`BerthNode ${node} with CriHealthy`, () => {
    const o = h.get(['berthnode', node]);
    return o.status?.conditions?.some((x: Obj) => x.type === 'CriHealthy') ? o : undefined;
  });
  expect(bn.status).toMatchObject({ runtime: 'containerd' });
  expect(bn.status.conditions.find((x: Obj) => x.type === 'CriHealthy')).toMatchObject({ status: 'True' });
  expect(runtimes()[HANDLER]).toBeUndefined();
}, 180_000);

test('a runc RuntimeHandler: containerd serves it from Berth\'s drop-in, the node is labelled, the RuntimeClass exists', async () => {
  const pidBefore = containerdPid();
  kubectl(c, ['apply', '-f', '-'], JSON.stringify(runtimeHandler()));
  await h.until('RuntimeHandler Ready', () => {
    const o = h.get(['runtimehandler', HANDLER]);
    return o.status?.readyNodes === 1 && o.status.conditions?.find((x: Obj) => x.type === 'Ready')?.status === 'True' ? o : undefined;
  }, 120_000);
  expect(containerdPid()).not.toBe(pidBefore);
  expect(runtimes()[HANDLER]).toMatchObject({ runtimeType: 'io.containerd.runc.v2', options: { BinaryName: path.join(hostRoot, 'usr/sbin/runc'), Root: runcRoot() } });
  expect(fs.readFileSync(dropIn(), 'utf8')).toContain(`BinaryName = "${path.join(hostRoot, 'usr/sbin/runc')}"`);
  const state = h.get(['berthnode', c.nodes[0].node]).status.handlers.find((x: Obj) => x.handler === HANDLER);
  expect(state).toMatchObject({ phase: 'Ready', lastCanary: { passed: true } });
  expect(h.get(['node', c.nodes[0].node]).metadata.labels[LABEL]).toBe('ready');
  expect(h.get(['runtimeclass', HANDLER])).toMatchObject({ handler: HANDLER, scheduling: { nodeSelector: { [LABEL]: 'ready' } } });
}, 180_000);

test('a pod of that RuntimeClass runs through the handler (runc keeps its sandbox under the handler\'s root)', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'on-runc-ctd' },
    spec: { runtimeClassName: HANDLER, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] },
  }));
  await h.until('pod on-runc-ctd Running', () => h.get(['pod', 'on-runc-ctd']).status?.phase === 'Running', 120_000);
  const sandbox = crictl(['pods', '--name', 'on-runc-ctd', '-q']).trim().split('\n')[0];
  expect(JSON.parse(crictl(['inspectp', sandbox])).status.runtimeHandler).toBe(HANDLER);
  expect(fs.existsSync(path.join(runcRoot(), 'k8s.io', sandbox))).toBe(true);
}, 180_000);

test('at rest containerd is not restarted', async () => {
  const pid = containerdPid();
  await new Promise((r) => setTimeout(r, 8000));
  expect(containerdPid()).toBe(pid);
}, 60_000);

test('deleting the RuntimeHandler: drop-in gone, containerd\'s config back byte for byte, label and RuntimeClass gone', async () => {
  kubectl(c, ['delete', 'pod', 'on-runc-ctd', '--wait=true', '--timeout=60s']);
  kubectl(c, ['delete', 'runtimehandler', HANDLER, '--wait=false']);
  await h.until('the RuntimeHandler gone', () => !kubectl(c, ['get', 'runtimehandlers', '-o', 'name']).includes(HANDLER), 120_000);
  expect(fs.existsSync(dropIn())).toBe(false);
  expect(fs.readFileSync(configPath(), 'utf8')).toBe(original);
  expect(fs.existsSync(`${configPath()}.berth-backup.json`)).toBe(false);
  expect(fs.existsSync(`${configPath()}.berth-handlers.json`)).toBe(false);
  expect(runtimes()[HANDLER]).toBeUndefined();
  expect(h.get(['node', c.nodes[0].node]).metadata.labels[LABEL]).toBeUndefined();
  expect(kubectl(c, ['get', 'runtimeclass', '-o', 'name'])).not.toContain(HANDLER);
  await h.until('the BerthNode without the handler', () => h.get(['berthnode', c.nodes[0].node]).status.handlers.length === 0);
  // The node's own network, under the agent's file name, is still the node's.
  expect(fs.readFileSync(conflist(), 'utf8')).toBe(nodeNetwork);
}, 180_000);

test('berth-agent uninstall on the containerd node: its handlers out of containerd, the stack gone, containerd serving', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify(runtimeHandler()));
  await h.until('the handler in containerd again', () => runtimes()[HANDLER] !== undefined && fs.existsSync(dropIn()), 120_000);
  await h.stopAgents();
  const r = spawnSync(AGENT, ['uninstall', '--host-root', hostRoot, '--service-manager', 'direct', '--node-name', c.nodes[0].node], { encoding: 'utf8', timeout: 120_000 });
  expect({ status: r.status, stderr: r.stderr.slice(-2000) }).toMatchObject({ status: 0 });
  expect(fs.existsSync(dropIn())).toBe(false);
  expect(fs.readFileSync(configPath(), 'utf8')).toBe(original);
  expect(runtimes()[HANDLER]).toBeUndefined();
  expect(fs.existsSync(path.join(hostRoot, 'opt/berth'))).toBe(false);
  expect(fs.existsSync(path.join(hostRoot, 'run/berth/berthd.sock'))).toBe(false);
  expect(fs.readFileSync(conflist(), 'utf8')).toBe(nodeNetwork);
  kubectl(c, ['delete', 'runtimehandler', HANDLER, '--wait=false']);
}, 240_000);
