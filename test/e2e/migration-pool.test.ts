/**
 * Issue 09 end to end on containerd 2.x: a pool of three nodes, each setting kubelet's runtime endpoint its own
 * way (hack/cluster --kubelet-endpoint-in: a systemd drop-in, the KubeletConfiguration, kubeadm's
 * instance-config.yaml beside it), one berth-agent process per node as the chart's ServiceAccount, driven by
 * the real kubectl running `kubectl berth`. A PodDisruptionBudget holds the drain until its timeout and the
 * automatic rollback leaves the node as it was; `migrate --selector --max-unavailable 1` then moves the whole
 * pool (stopping containerd, as asked) with never more than one node cordoned while one node's agent is killed (SIGKILL) in every phase it
 * enters and started again; every node ends on berth:// with its pods running there and each of its files
 * rewritten in its own form; `rollback` puts every file back byte for byte and starts containerd again.
 */
import * as fs from 'node:fs';
import { connect } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { type Cluster, down, kubectl, kubectlBerth, up } from './cluster';
import { AgentHarness, type Obj, type RunningAgent } from './agent-harness';

const NAME = 'mpool';
const POOL = 'berth.test/pool=blue';
const PLACES = ['drop-in', 'config', 'instance-config'] as const;

let c: Cluster;
let h: AgentHarness;
let kubeconfig: string;
/** Per node: the files that set its endpoint (host-root relative) and their text before any migration. */
const before = new Map<string, Map<string, string>>();
const agents = new Map<string, RunningAgent>();

const get = (args: string[]): Obj => h.get(args);
const until = <T>(what: string, check: () => T | undefined | false, ms?: number) => h.until(what, check, ms);
const nodeNames = () => c.nodes.map((n) => n.node);
const hostRootOf = (node: string) => c.nodes.find((n) => n.node === node)!.hostRoot;

/** The files each way of configuring the endpoint keeps it in. */
function endpointFiles(place: (typeof PLACES)[number]): string[] {
  if (place === 'drop-in') return ['etc/systemd/system/kubelet.service.d/20-container-runtime.conf'];
  if (place === 'config') return ['var/lib/kubelet/config.yaml'];
  return ['var/lib/kubelet/config.yaml', 'var/lib/kubelet/instance-config.yaml'];
}

const podsOnNode = (node: string): Obj[] => get(['pods', '--field-selector', `spec.nodeName=${node}`]).items as Obj[];
const runningOn = (node: string, app: string, prefix: string): boolean => {
  const pods = podsOnNode(node).filter((p) => !p.metadata.deletionTimestamp && p.metadata.labels?.app === app);
  return pods.length > 0 && pods.every((p) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((s: Obj) => s.ready && String(s.containerID).startsWith(prefix)));
};
const runtimeOf = (node: string): string => get(['node', node]).status.nodeInfo.containerRuntimeVersion;

/** One pod pinned to each node (through nodeAffinity: evicted pods come back where they were). */
function pinnedDeployment(name: string, node: string): Obj {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas: 1, selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 1,
          affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }] } } },
          containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }],
        },
      },
    },
  };
}

/** True when something serves on the unix socket. */
const accepts = (file: string): Promise<boolean> => new Promise((resolve) => {
  const s = connect(file, () => {
    s.destroy();
    resolve(true);
  });
  s.on('error', () => resolve(false));
});

async function restartAgent(node: string): Promise<void> {
  const a = agents.get(node)!;
  a.child.kill('SIGKILL');
  await new Promise((r) => (a.child.exitCode !== null || a.child.signalCode !== null ? r(null) : a.child.once('exit', r)));
  agents.set(node, h.startAgent(node, hostRootOf(node), kubeconfig));
}

beforeAll(async () => {
  c = up(NAME, ['--nodes', '3', '--kubelet-endpoint-in', PLACES.join(',')]);
  h = new AgentHarness(c);
  c.nodes.forEach((n, i) => {
    const files = new Map<string, string>();
    for (const f of endpointFiles(PLACES[i])) files.set(f, fs.readFileSync(path.join(n.hostRoot, f), 'utf8'));
    // kubeadm-flags.env is there but sets no endpoint.
    files.set('var/lib/kubelet/kubeadm-flags.env', fs.readFileSync(path.join(n.hostRoot, 'var/lib/kubelet/kubeadm-flags.env'), 'utf8'));
    before.set(n.node, files);
  });
  kubeconfig = h.installChart();
  for (const n of c.nodes) agents.set(n.node, h.startAgent(n.node, n.hostRoot, kubeconfig));
  kubectl(c, ['label', 'nodes', ...nodeNames(), POOL]);
  for (const n of nodeNames()) await until(`berthd healthy on ${n}`, () => get(['berthnode', n]).status?.berthd?.healthy === true, 180_000);
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: nodeNames().map((n, i) => pinnedDeployment(`app-${i}`, n)) }));
  for (const [i, n] of nodeNames().entries()) await until(`app-${i} running on containerd`, () => runningOn(n, `app-${i}`, 'containerd://'), 180_000);
}, 20 * 60_000);

afterAll(async () => {
  try {
    if (h) await h.stopAgents();
  } finally {
    if (c) down(c.name);
  }
}, 5 * 60_000);

test('doctor finds each node\'s endpoint where it is set', async () => {
  for (const [i, n] of nodeNames().entries()) {
    const r = await kubectlBerth(c, ['doctor', n, '-o', 'json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const endpoint = (JSON.parse(r.stdout).findings as Obj[]).find((f) => f.check === 'RuntimeEndpoint')?.message as string;
    expect(endpoint).toMatch(/containerd\.sock \(containerd\)/);
    for (const f of endpointFiles(PLACES[i])) expect(endpoint).toContain(`/${f}`);
  }
}, 180_000);

test('a PodDisruptionBudget holds the drain until its timeout; the automatic rollback leaves the node as it was', async () => {
  const node = nodeNames()[0];
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'app-0' }, spec: { minAvailable: 1, selector: { matchLabels: { app: 'app-0' } } } }));
  await until('the PDB allows no disruption', () => get(['pdb', 'app-0']).status?.observedGeneration >= 1 && get(['pdb', 'app-0']).status.disruptionsAllowed === 0);
  const run = await kubectlBerth(c, ['migrate', node, '--drain-timeout', '20s', '--watch']);
  expect(run.code).toBe(1);
  const m = get(['nodemigration', node]);
  expect(m.status.phase).toBe('RolledBack');
  const steps = (m.status.steps as Obj[]).map((s) => `${s.phase}: ${s.message}`);
  expect(steps.map((s) => s.split(':')[0])).toEqual(['Preflight', 'Cordoned', 'Drained', 'RollingBack', 'RolledBack']);
  expect(steps.find((s) => s.startsWith('RollingBack'))).toMatch(/not evicted within 20 s/);
  expect(m.status.backups ?? []).toEqual([]);
  expect(get(['node', node]).spec.unschedulable).toBeUndefined();
  expect(runtimeOf(node)).toMatch(/^containerd:\/\//);
  for (const [f, text] of before.get(node)!) expect(fs.readFileSync(path.join(hostRootOf(node), f), 'utf8')).toBe(text);
  expect(runningOn(node, 'app-0', 'containerd://')).toBe(true);
  kubectl(c, ['delete', 'pdb', 'app-0']);
  kubectl(c, ['delete', 'nodemigration', node]);
}, 300_000);

test('the pool, one node at a time, one agent killed in every phase: all on berth://, each file rewritten in its own form', async () => {
  const victim = nodeNames()[1];
  const run = kubectlBerth(c, ['migrate', '--selector', POOL, '--max-unavailable', '1', '--stop-old-runtime', '--watch']);
  let done = false;
  void run.then(() => (done = true));
  let maxCordoned = 0;
  const killedIn: string[] = [];
  while (!done) {
    const nodes = get(['nodes', '-l', POOL]).items as Obj[];
    maxCordoned = Math.max(maxCordoned, nodes.filter((n) => n.spec.unschedulable).length);
    let phase: string | undefined;
    try {
      phase = get(['nodemigration', victim]).status?.phase;
    } catch {
      // not created yet
    }
    if (phase && ['Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying'].includes(phase) && !killedIn.includes(phase)) {
      killedIn.push(phase);
      await restartAgent(victim);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  const r = await run;
  expect([r.code, r.stderr]).toEqual([0, '']);
  expect(maxCordoned).toBe(1);
  // Killed in every phase the test saw (some pass faster than it looks).
  process.stderr.write(`agent of ${victim} killed in ${killedIn.join(', ')}\n`);
  // Each kill holds its phase up while the new agent starts, so the test sees (nearly) every phase.
  expect(killedIn.length).toBeGreaterThanOrEqual(4);

  for (const [i, n] of nodeNames().entries()) {
    const m = get(['nodemigration', n]);
    expect(`${n} ${m.status.phase}`).toBe(`${n} Completed`);
    expect((m.status.steps as Obj[]).map((s) => s.phase)).toEqual(['Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed']);
    expect(runtimeOf(n)).toMatch(/^berth:\/\//);
    const endpoint = `unix://${path.join(hostRootOf(n), 'run/berth/berthd.sock')}`;
    const files = endpointFiles(PLACES[i]);
    // kubelet's --config names the file by this machine's path (the test's kubelet runs here): under the host root.
    const hostPath = (p: string) => (p.startsWith(`${hostRootOf(n)}/`) ? p.slice(hostRootOf(n).length) : p);
    expect((m.status.backups as Obj[]).map((b) => hostPath(b.path)).sort()).toEqual(files.map((f) => `/${f}`).sort());
    for (const f of files) {
      const text = fs.readFileSync(path.join(hostRootOf(n), f), 'utf8');
      if (f.endsWith('.yaml')) expect((parse(text) as Obj).containerRuntimeEndpoint).toBe(endpoint);
      else expect(text).toContain(`--container-runtime-endpoint=${endpoint}`);
    }
    await until(`app-${i} running again on berthd`, () => runningOn(n, `app-${i}`, 'berth://'), 240_000);
    // Asked to: containerd is stopped (it stays installed), and said so.
    expect((m.status.steps as Obj[]).find((s) => s.phase === 'Verifying')?.message).toContain('stopped containerd.service');
    expect(await accepts(path.join(hostRootOf(n), 'run/containerd/containerd.sock'))).toBe(false);
  }
}, 20 * 60_000);

test('rollback of every node: each file back byte for byte, the pool back on containerd', async () => {
  const runs = await Promise.all(nodeNames().map((n) => kubectlBerth(c, ['rollback', n, '--watch'])));
  for (const r of runs) expect([r.code, r.stderr]).toEqual([0, '']);
  for (const [i, n] of nodeNames().entries()) {
    expect(get(['nodemigration', n]).status.phase).toBe('RolledBack');
    for (const [f, text] of before.get(n)!) expect(fs.readFileSync(path.join(hostRootOf(n), f), 'utf8')).toBe(text);
    await until(`${n} back on containerd`, () => /^containerd:\/\//.test(runtimeOf(n)), 180_000);
    await until(`app-${i} running again on containerd`, () => runningOn(n, `app-${i}`, 'containerd://'), 240_000);
  }
}, 15 * 60_000);
