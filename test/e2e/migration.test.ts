/**
 * Issue 09 end to end: a node whose kubelet runs on cri-dockerd + Docker Engine (hack/cluster up --runtime
 * cri-dockerd, kubelet started the kubeadm way: endpoint in kubeadm-flags.env) moved onto berthd by its
 * berth-agent (--host-root, --service-manager direct: kubelet is stopped and started through the node's own
 * systemctl), authenticated as the chart's ServiceAccount, driven by the real kubectl running `kubectl berth`
 * (build/bin on PATH). `doctor` reports without changing anything; a pod
 * mounting docker.sock blocks the migration (named with its owner) until it is gone; the migration of a
 * Deployment and a StatefulSet pod with an emptyDir ends with the node on berth://, the pods running again
 * there and the registries carried over; the rollback puts kubeadm-flags.env back byte for byte and the node
 * and its pods back on Docker; with berthd hung after the preflight, kubelet never gets Ready on it and the
 * automatic rollback does the same.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { type Cluster, down, kubectl, kubectlBerth, up } from './cluster';
import { AgentHarness, type Obj } from './agent-harness';

const NAME = 'migrate';

let c: Cluster;
let h: AgentHarness;
let node: string;
let hostRoot: string;
let flagsBefore: string;
const flagsFile = () => path.join(hostRoot, 'var/lib/kubelet/kubeadm-flags.env');
const get = (args: string[]): Obj => h.get(args);
const until = <T>(what: string, check: () => T | undefined | false, ms?: number) => h.until(what, check, ms);

const podsOnNode = (): Obj[] => get(['pods', '--field-selector', `spec.nodeName=${node}`]).items as Obj[];
const runningOn = (prefix: string) => (): Obj[] | undefined => {
  const pods = podsOnNode().filter((p) => !p.metadata.deletionTimestamp && ['web', 'store', 'daemon'].some((n) => p.metadata.name.startsWith(n)));
  const ok = pods.length === 3 && pods.every((p) => p.status?.phase === 'Running' && (p.status.containerStatuses ?? []).every((s: Obj) => s.ready && String(s.containerID).startsWith(prefix)));
  return ok ? pods : undefined;
};

beforeAll(async () => {
  c = up(NAME, ['--runtime', 'cri-dockerd', '--nodes', '1']);
  h = new AgentHarness(c);
  node = c.nodes[0].node;
  hostRoot = c.nodes[0].hostRoot;
  flagsBefore = fs.readFileSync(flagsFile(), 'utf8');
  const kubeconfig = h.installChart();
  h.startAgent(node, hostRoot, kubeconfig);
  await until('berthd healthy on the node', () => get(['berthnode', node]).status?.berthd?.healthy === true, 180_000);
}, 20 * 60_000);

afterAll(async () => {
  try {
    resumeBerthd();
    if (h) await h.stopAgents();
  } finally {
    if (c) down(c.name);
  }
}, 5 * 60_000);

test('kubectl berth doctor reports every check and changes nothing', async () => {
  const table = await kubectlBerth(c, ['doctor', node]);
  expect([table.code, table.stderr]).toEqual([0, '']);
  if (process.env.BERTH_DOCTOR_SAMPLE) fs.writeFileSync(process.env.BERTH_DOCTOR_SAMPLE, table.stdout);
  const lines = table.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(new RegExp(`^Preflight of node ${node}: 0 blocking, \\d+ warnings?, \\d+ info$`));
  expect(lines[1]).toMatch(/^SEVERITY\s+CHECK\s+MESSAGE\s+OBJECTS$/);
  expect(lines.at(-1)).toBe(`kubectl berth migrate ${node} would go ahead.`);

  const json = await kubectlBerth(c, ['doctor', node, '-o', 'json']);
  expect([json.code, json.stderr]).toEqual([0, '']);
  const report = JSON.parse(json.stdout) as Obj;
  expect(report).toMatchObject({ node, blocking: 0, wouldProceed: true });
  const checks = (report.findings as Obj[]).map((f) => f.check);
  expect(checks).toEqual(expect.arrayContaining(['BerthdHealth', 'KubeletVersion', 'RuntimeEndpoint', 'CgroupDriver']));
  const endpoint = (report.findings as Obj[]).find((f) => f.check === 'RuntimeEndpoint')?.message as string;
  expect(endpoint).toContain('/var/lib/kubelet/kubeadm-flags.env');
  expect(endpoint).toContain('cri-dockerd.sock');
  for (const f of report.findings as Obj[]) expect(lines.some((l) => l.includes(f.check as string))).toBe(true);

  // The doctor's dry-run NodeMigrations are gone; the node is as it was.
  expect(get(['nodemigrations']).items).toEqual([]);
  expect(get(['node', node]).spec.unschedulable).toBeUndefined();
  expect(fs.readFileSync(flagsFile(), 'utf8')).toBe(flagsBefore);
}, 180_000);

test('a pod mounting docker.sock blocks the migration, named with its owner; nothing changes', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ci' },
    spec: {
      replicas: 1, selector: { matchLabels: { app: 'ci' } },
      template: {
        metadata: { labels: { app: 'ci' } },
        // type Socket: kubelet refuses the mount on a machine without one, rather than making a directory there.
        spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'], volumeMounts: [{ name: 'd', mountPath: '/var/run/docker.sock' }] }], volumes: [{ name: 'd', hostPath: { path: '/var/run/docker.sock', type: 'Socket' } }] },
      },
    },
  }));
  await until('the ci pod bound to the node', () => podsOnNode().some((p) => p.metadata.name.startsWith('ci-')));
  const doctor = await kubectlBerth(c, ['doctor', node]);
  expect(doctor.code).toBe(1);
  expect(doctor.stdout).toMatch(/BLOCKING\s+DockerSocketMount/);
  expect(doctor.stdout).toContain(`kubectl berth migrate ${node} would stop at preflight (1 blocking finding)`);

  const run = await kubectlBerth(c, ['migrate', node, '--watch'], 180_000);
  expect([run.code, run.stdout]).toEqual([1, expect.stringContaining(`nodemigration.berth.dev/${node} created`)]);
  const m = get(['nodemigration', node]);
  expect(m.status.phase).toBe('Failed');
  const f = (m.status.findings as Obj[]).find((x) => x.check === 'DockerSocketMount');
  expect(f).toMatchObject({ severity: 'Blocking', message: expect.stringContaining('/var/run/docker.sock') });
  expect(f?.objects).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'Pod', namespace: 'default' }), expect.objectContaining({ kind: 'ReplicaSet', name: expect.stringMatching(/^ci-/) })]));
  expect(get(['node', node]).spec.unschedulable).toBeUndefined();
  expect(fs.readFileSync(flagsFile(), 'utf8')).toBe(flagsBefore);
  kubectl(c, ['delete', 'deployment', 'ci', '--wait=true', '--timeout=60s']);
  kubectl(c, ['delete', 'nodemigration', node]);
  await until('the ci pod gone', () => !podsOnNode().some((p) => p.metadata.name.startsWith('ci-')));
}, 240_000);

test('migrate: the node comes back on berth://, its pods running again there, registries carried', async () => {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } } },
      },
      {
        // The drain leaves a DaemonSet's pod: the switch hands it over from Docker to berthd.
        apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'daemon' },
        spec: { selector: { matchLabels: { app: 'daemon' } }, template: { metadata: { labels: { app: 'daemon' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '3600'] }] } } },
      },
      {
        apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'store' },
        spec: {
          serviceName: 'store', replicas: 1, selector: { matchLabels: { app: 'store' } },
          template: { metadata: { labels: { app: 'store' } }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'date > /data/started; sleep 3600'], volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', emptyDir: {} }] } },
        },
      },
    ],
  }));
  await until('web, store and daemon running on Docker', runningOn('docker://'), 180_000);

  const run = await kubectlBerth(c, ['migrate', node, '--delete-emptydir-data', '--drain-timeout', '2m', '--watch']);
  const m = get(['nodemigration', node]);
  expect([run.code, run.stderr]).toEqual([0, '']);
  // --watch shows each phase as the agent records it.
  for (const phase of ['Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed']) expect(run.stdout).toMatch(new RegExp(`^${node}\\s+${phase}\\s`, 'm'));
  expect(`${m.status.phase}: ${(m.status.steps as Obj[]).map((s) => `${s.phase} ${s.message}`).join(' | ')}`).toMatch(/^Completed:/);
  expect((m.status.steps as Obj[]).map((s) => s.phase)).toEqual(['Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed']);
  expect(get(['node', node]).status.nodeInfo.containerRuntimeVersion).toMatch(/^berth:\/\//);
  expect(get(['node', node]).spec.unschedulable).toBeUndefined();

  // Every file kubelet's endpoint lives in was backed up before it was rewritten.
  const endpoint = `unix://${path.join(hostRoot, 'run/berth/berthd.sock')}`;
  expect(fs.readFileSync(flagsFile(), 'utf8')).toBe(`KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=${endpoint}"\n`);
  expect(m.status.backups).toEqual([expect.objectContaining({ path: '/var/lib/kubelet/kubeadm-flags.env', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) })]);
  // Docker's registry mirror is berthd's now: the pods' images pulled through it.
  const config = parse(fs.readFileSync(path.join(hostRoot, 'etc/berth/config.yaml'), 'utf8')) as Obj;
  expect(config.registries['docker.io']).toMatchObject({ mirrors: [`http://${c.registry}`] });
  expect((m.status.steps as Obj[]).find((s) => s.phase === 'Verifying')?.message).toContain('docker.io mirrors');

  const pods = await until('web, store and daemon running again on berthd', runningOn('berth://'), 240_000);
  // Docker runs none of the pods' containers any more (it stays installed: stopping it is not asked for).
  const docker = spawnSync('/usr/bin/docker', ['-H', `unix://${hostRoot}/run/docker.sock`, 'ps', '-q', '--filter', 'name=k8s_'], { encoding: 'utf8', timeout: 60_000 });
  expect([docker.status, docker.stdout]).toEqual([0, '']);
  expect(pods.map((p) => p.metadata.name.replace(/-[a-z0-9]{5}$|-[a-z0-9]+-[a-z0-9]{5}$/, '')).sort()).toEqual(['daemon', 'store-0', 'web']);
}, 12 * 60_000);

test('rollback: kubeadm-flags.env back byte for byte, the node and its pods back on Docker', async () => {
  const run = await kubectlBerth(c, ['rollback', node, '--watch']);
  const m = get(['nodemigration', node]);
  expect([run.code, run.stderr]).toEqual([0, '']);
  expect(run.stdout).toMatch(new RegExp(`^${node}\\s+RolledBack\\s`, 'm'));
  expect(`${m.status.phase}: ${(m.status.steps as Obj[]).map((s) => `${s.phase} ${s.message}`).join(' | ')}`).toMatch(/^RolledBack:/);
  expect(fs.readFileSync(flagsFile(), 'utf8')).toBe(flagsBefore);
  await until('the node back on docker://', () => /^docker:\/\//.test(get(['node', node]).status.nodeInfo.containerRuntimeVersion) && get(['node', node]).status.conditions.some((x: Obj) => x.type === 'Ready' && x.status === 'True'), 180_000);
  await until('web, store and daemon running again on Docker', runningOn('docker://'), 240_000);
}, 12 * 60_000);

/** berthd of the node, as the agent records the one it runs (--service-manager direct). */
const berthdPid = (): number => (JSON.parse(fs.readFileSync(path.join(hostRoot, 'run/berth/berthd.agent.pid'), 'utf8')) as { pid: number }).pid;
let stoppedBerthd: number | undefined;
function resumeBerthd(): void {
  if (stoppedBerthd !== undefined) process.kill(stoppedBerthd, 'SIGCONT');
  stoppedBerthd = undefined;
}

test('a kubelet that never becomes Ready on berthd: the automatic rollback puts every file back and the node on Docker', async () => {
  kubectl(c, ['delete', 'nodemigration', node]);
  await until('web, store and daemon running on Docker', runningOn('docker://'), 180_000);
  const run = kubectlBerth(c, ['migrate', node, '--delete-emptydir-data', '--verify-timeout', '20s', '--watch']);
  try {
    // A hung berthd (stopped after the preflight found it healthy): kubelet's calls to it never return.
    await until('the node cordoned', () => ['Cordoned', 'Drained'].includes(get(['nodemigration', node]).status?.phase), 120_000);
    stoppedBerthd = berthdPid();
    process.kill(stoppedBerthd, 'SIGSTOP');
    const r = await run;
    expect(r.code).toBe(1);
  } finally {
    resumeBerthd();
  }
  const m = get(['nodemigration', node]);
  expect(m.status.phase).toBe('RolledBack');
  const steps = m.status.steps as Obj[];
  expect(steps.map((s) => s.phase)).toEqual(['Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'RollingBack', 'RolledBack']);
  expect(steps.find((s) => s.phase === 'RollingBack')?.message).toMatch(/the node is not Ready on berthd after 20 s/);
  expect(m.status.backups).toEqual([expect.objectContaining({ path: '/var/lib/kubelet/kubeadm-flags.env' })]);
  expect(fs.readFileSync(flagsFile(), 'utf8')).toBe(flagsBefore);
  await until('the node Ready on docker:// again', () => /^docker:\/\//.test(get(['node', node]).status.nodeInfo.containerRuntimeVersion) && get(['node', node]).status.conditions.some((x: Obj) => x.type === 'Ready' && x.status === 'True'), 180_000);
  expect(get(['node', node]).spec.unschedulable).toBeUndefined();
  await until('web, store and daemon running again on Docker', runningOn('docker://'), 240_000);
  kubectl(c, ['delete', 'deployment', 'web', '--wait=false']);
  kubectl(c, ['delete', 'statefulset', 'store', '--wait=false']);
  kubectl(c, ['delete', 'daemonset', 'daemon', '--wait=false']);
}, 12 * 60_000);

test('the agent used the rules of the chart that only a migration needs (test/e2e/agent.test.ts checks the rest)', () => {
  const used = new Set<string>();
  for (const a of h.agents) {
    for (const line of a.logs().split('\n')) {
      if (!line.includes('first API request of its kind')) continue;
      const o = JSON.parse(line) as Obj;
      used.add(`${o.verb} ${o.group}/${o.resource}`);
    }
  }
  for (const k of ['create /pods/eviction', 'patch berth.dev/nodemigrations/status', 'list berth.dev/nodemigrations', 'watch berth.dev/nodemigrations']) expect([...used]).toContain(k);
});
