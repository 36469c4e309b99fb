/**
 * kubectl-berth against a real kube-apiserver (hack/cluster, the CRDs applied), the test playing the part of
 * the berth-agent by writing the status subresource of the NodeMigrations the plugin creates: doctor's report
 * and clean-up, migrate's refusal of a finished migration (through kubectl's plugin mechanism), rollback, a pool
 * of fake Nodes that never has more than --max-unavailable migrations in progress, and RBAC refusals named.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { type Cluster, down, kubectl, kubectlPath, up } from '../e2e/cluster';
import { tempDir } from '../helpers/oci';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

const REPO = path.resolve(__dirname, '..', '..');
const NAME = 'plugin-api';
const POOL_LABEL = 'berth.dev/test-pool';

let c: Cluster;
let bin: string;
let node: string;

/** The plugin bundled as hack/build.js bundles it, with a kubectl-berth launcher beside it for kubectl. */
function bundlePlugin(): string {
  const dir = tempDir('berth-plugin-');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- esbuild is a dev dependency, loaded only here
  require('esbuild').buildSync({ entryPoints: [path.join(REPO, 'src/bin/kubectl-berth.ts')], outfile: path.join(dir, 'kubectl-berth.js'), bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
  fs.writeFileSync(path.join(dir, 'kubectl-berth'), `#!/bin/sh\nexec "${process.execPath}" "${dir}/kubectl-berth.js" "$@"\n`, { mode: 0o755 });
  return dir;
}

interface Run { code: number | null; stdout: string; stderr: string }
/** The plugin as a child process, so that the test can act as the agent meanwhile. */
function plugin(args: string[], kubeconfig = c.kubeconfig): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(bin, 'kubectl-berth.js'), ...args, '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const migrations = (): Obj[] => JSON.parse(kubectl(c, ['get', 'nodemigrations', '-o', 'json'])).items;
const step = (phase: string, message: string) => ({ phase, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), message });

/** What the agent writes: the phase, one more step, and anything else given. */
function agentWrites(m: Obj, phase: string, message: string, extra: Obj = {}): void {
  const status = { ...extra, phase, steps: [...(m.status?.steps ?? []), step(phase, message)] };
  kubectl(c, ['patch', 'nodemigration', m.metadata.name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
}

async function until<T>(what: string, get: () => T | undefined, ms = 20_000): Promise<T> {
  for (const deadline = Date.now() + ms; ; await sleep(100)) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

beforeAll(() => {
  c = up(NAME);
  kubectl(c, ['apply', '-f', path.join(REPO, 'crds')]);
  kubectl(c, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/nodemigrations.berth.dev', 'crd/berthnodes.berth.dev']);
  node = c.nodes[0].node;
  bin = bundlePlugin();
}, 45 * 60_000);

afterAll(() => {
  try {
    if (c) {
      kubectl(c, ['delete', '--ignore-not-found', 'nodemigrations.berth.dev', '--all']);
      kubectl(c, ['delete', '--ignore-not-found', 'nodes', '-l', POOL_LABEL]);
      kubectl(c, ['delete', '--ignore-not-found', 'clusterrolebinding,clusterrole', 'berth-plugin-test']);
      kubectl(c, ['delete', '--ignore-not-found', 'serviceaccount', 'berth-plugin-test', '-n', 'default']);
      kubectl(c, ['delete', '--ignore-not-found', '-f', path.join(REPO, 'crds')]);
    }
  } finally {
    down(NAME);
  }
}, 10 * 60_000);

describe('doctor', () => {
  test('a dry-run NodeMigration of its own; the report the agent recorded; deleted afterwards; exit 1 on a Blocking finding', async () => {
    const run = plugin(['doctor', node, '--timeout', '30s']);
    const m = await until('the doctor\'s NodeMigration', () => migrations().find((x) => x.metadata.name.startsWith(`${node}-doctor-`)));
    expect(m.metadata.name).toMatch(new RegExp(`^${node}-doctor-[a-z0-9]{5}$`));
    expect(m.spec).toMatchObject({ node, dryRun: true });
    agentWrites(m, 'Preflight', 'checking');
    agentWrites(m, 'Completed', 'dry run: nothing changed', {
      findings: [
        { check: 'Berthd', severity: 'Info', message: 'berthd 0.1.0 healthy', objects: [] },
        { check: 'DockerSocketMount', severity: 'Blocking', message: 'pod ci/b mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'ci', name: 'b' }] },
      ],
    });
    const r = await run;
    expect([r.code, r.stderr]).toEqual([1, '']);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`Preflight of node ${node}: 1 blocking, 0 warnings, 1 info`);
    expect(lines[2].split(/\s{3,}/)).toEqual(['BLOCKING', 'DockerSocketMount', 'pod ci/b mounts /var/run/docker.sock', 'Pod ci/b']);
    expect(lines.at(-1)).toContain(`kubectl berth migrate ${node} would stop at preflight`);
    expect(migrations()).toEqual([]);
  });

  test('-o json, nothing blocking: exit 0', async () => {
    const run = plugin(['migrate', node, '--dry-run', '-o', 'json']);
    const m = await until('the dry run', () => migrations().find((x) => x.metadata.name.startsWith(`${node}-doctor-`)));
    agentWrites(m, 'Completed', 'dry run', { findings: [{ check: 'Berthd', severity: 'Info', message: 'ok', objects: [] }] });
    const r = await run;
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toEqual({ node, findings: [{ check: 'Berthd', severity: 'Info', message: 'ok', objects: [] }], blocking: 0, wouldProceed: true });
    expect(migrations()).toEqual([]);
  });

  test('no agent answering: a clear error after --timeout, and the object deleted; a missing node is named', async () => {
    const r = await plugin(['doctor', node, '--timeout', '2s']);
    expect([r.code, r.stderr]).toEqual([1, `kubectl-berth: no berth-agent answered for node ${node} within 2 s: is berth-agent running there?\n`]);
    expect(migrations()).toEqual([]);
    const missing = await plugin(['doctor', 'no-such-node']);
    expect([missing.code, missing.stderr]).toEqual([1, 'kubectl-berth: node "no-such-node" not found\n']);
  });
});

describe('migrate and rollback', () => {
  test('migrate creates NodeMigration NODE from the flags; a finished one is refused with the fix; rollback sets spec.rollback and --watch follows it', async () => {
    const created = await plugin(['migrate', node, '--pre-pull', '--drain-timeout', '10m', '--grace-period', '30', '--rollback-policy', 'manual']);
    expect([created.code, created.stdout, created.stderr]).toEqual([0, `nodemigration.berth.dev/${node} created\n`, '']);
    const m = JSON.parse(kubectl(c, ['get', 'nodemigration', node, '-o', 'json']));
    expect(m.spec).toEqual({ node, targetRuntime: 'berth', drain: { timeoutSeconds: 600, gracePeriodSeconds: 30, deleteEmptyDirData: false, force: false }, prePullImages: true, rollbackPolicy: 'Manual', force: false, dryRun: false, rollback: false });

    const inProgress = await plugin(['migrate', node]);
    expect([inProgress.code, inProgress.stderr]).toEqual([1, expect.stringContaining(`nodemigration.berth.dev/${node} is already in progress (Pending)`)]);
    agentWrites(m, 'Completed', 'kubelet runs on berthd');

    // Through kubectl's plugin mechanism: kubectl runs the kubectl-berth it finds on PATH.
    const again = spawnSync(kubectlPath(), ['berth', 'migrate', node, '--kubeconfig', c.kubeconfig], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect([again.status, again.stderr]).toEqual([1, `kubectl-berth: nodemigration.berth.dev/${node} already exists and ended Completed: to migrate again, kubectl delete nodemigration ${node} and retry; to undo it, kubectl berth rollback ${node}\n`]);

    const run = plugin(['rollback', node, '--watch']);
    const asked = await until('spec.rollback', () => {
      const x = JSON.parse(kubectl(c, ['get', 'nodemigration', node, '-o', 'json']));
      return x.spec.rollback === true ? x : undefined;
    });
    agentWrites(asked, 'RollingBack', 'restoring kubeadm-flags.env');
    await sleep(1500);
    agentWrites(JSON.parse(kubectl(c, ['get', 'nodemigration', node, '-o', 'json'])), 'RolledBack', 'kubelet runs on containerd again');
    const r = await run;
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining([`nodemigration.berth.dev/${node} rollback requested`, `${node}  RollingBack  restoring kubeadm-flags.env`, `${node}  RolledBack  kubelet runs on containerd again`]));

    const twice = await plugin(['rollback', node]);
    expect([twice.code, twice.stderr]).toEqual([1, `kubectl-berth: nodemigration.berth.dev/${node} is RolledBack already\n`]);
    kubectl(c, ['delete', 'nodemigration', node]);
    const none = await plugin(['rollback', node]);
    expect([none.code, none.stderr]).toEqual([1, `kubectl-berth: node ${node} has no NodeMigration named ${node}\n`]);
  });
});

describe('a pool', () => {
  test('--selector with --max-unavailable 1: berth:// nodes skipped, never more than one in progress, name order, exit 0', async () => {
    const fake = ['pool-c', 'pool-a', 'pool-b', 'pool-z'];
    for (const n of fake) {
      kubectl(c, ['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: n, labels: { [POOL_LABEL]: 'yes' } } }));
      const runtime = n === 'pool-z' ? 'berth://0.1.0' : 'containerd://2.1.0';
      kubectl(c, ['patch', 'node', n, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { nodeInfo: { containerRuntimeVersion: runtime } } })]);
    }
    const run = plugin(['migrate', '--selector', `${POOL_LABEL}=yes`, '--max-unavailable', '1']);
    let finished = false;
    void run.then(() => (finished = true));
    // The fake agents: each migration goes Drained, then Completed a moment later.
    const order: string[] = [];
    let maxInProgress = 0;
    const firstSeen = new Map<string, number>();
    while (!finished) {
      const items = migrations();
      const inProgress = items.filter((m) => !['Completed', 'Failed', 'RolledBack'].includes(m.status?.phase));
      maxInProgress = Math.max(maxInProgress, inProgress.length);
      for (const m of inProgress) {
        const name = m.metadata.name as string;
        if (!firstSeen.has(name)) {
          firstSeen.set(name, Date.now());
          order.push(name);
          agentWrites(m, 'Drained', 'pods evicted');
        } else if (Date.now() - firstSeen.get(name)! > 1200) agentWrites(m, 'Completed', 'kubelet runs on berthd');
      }
      await sleep(200);
    }
    const r = await run;
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(maxInProgress).toBe(1);
    expect(order).toEqual(['pool-a', 'pool-b', 'pool-c']);
    expect(r.stdout).toContain('pool-z: runs berth://0.1.0 already, skipped\n');
    expect(r.stdout).toContain('pool-b  Completed  kubelet runs on berthd\n');
    expect(r.stdout).toContain('pool: 3 of 3 nodes completed\n');
    kubectl(c, ['delete', 'nodemigrations', 'pool-a', 'pool-b', 'pool-c']);
  });
});

describe('RBAC', () => {
  test('a refused request names the verb and the resource (a ServiceAccount that may only get nodes)', async () => {
    kubectl(c, ['create', 'serviceaccount', 'berth-plugin-test', '-n', 'default']);
    kubectl(c, ['create', 'clusterrole', 'berth-plugin-test', '--verb=get', '--resource=nodes']);
    kubectl(c, ['create', 'clusterrolebinding', 'berth-plugin-test', '--clusterrole=berth-plugin-test', '--serviceaccount=default:berth-plugin-test']);
    const token = kubectl(c, ['create', 'token', 'berth-plugin-test', '-n', 'default', '--duration=10m']).trim();
    const kc = parseYaml(fs.readFileSync(c.kubeconfig, 'utf8')) as Obj;
    const context = kc.contexts.find((x: Obj) => x.name === kc['current-context']);
    const file = path.join(tempDir('berth-plugin-kc-'), 'kubeconfig');
    fs.writeFileSync(file, stringify({ ...kc, users: [{ name: 'sa', user: { token } }], contexts: [{ name: 'sa', context: { ...context.context, user: 'sa' } }], 'current-context': 'sa' }));

    const doctor = await plugin(['doctor', node], file);
    expect([doctor.code, doctor.stderr]).toEqual([1, expect.stringMatching(/^kubectl-berth: cannot create nodemigrations\.berth\.dev \(forbidden: User "system:serviceaccount:default:berth-plugin-test" cannot create resource "nodemigrations" in API group "berth\.dev" at the cluster scope\)\n$/)]);
    const rollback = await plugin(['rollback', node], file);
    expect(rollback.stderr).toMatch(/^kubectl-berth: cannot get nodemigrations\.berth\.dev \(forbidden: /);
    const status = await plugin(['status'], file);
    expect(status.stderr).toMatch(/^kubectl-berth: cannot list (nodes|berthnodes\.berth\.dev|nodemigrations\.berth\.dev) \(forbidden: /);
    expect(migrations()).toEqual([]);
  });
});
