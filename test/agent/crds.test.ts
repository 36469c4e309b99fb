/**
 * The berth.dev CRDs in crds/ against a real kube-apiserver (hack/cluster): they become Established, every
 * example in crds/examples/ is accepted with the defaults the schema promises, bad objects are rejected with
 * a message naming the field, the status subresource and the printer columns work. Without a cluster: the
 * chart's crds/ are byte-identical copies, and the chart's templates render (helm from hack/peers) into RBAC
 * objects without wildcards that the API server accepts (server-side dry run).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { parseBerthNode, parseRuntimeHandler } from '../../src/agent/api/validate';
import { AgentMetrics } from '../../src/agent/metrics/server';
import { BerthdMetrics } from '../../src/cri/observability/registry';
import { nodeMigrationStatusJson, parseNodeMigration } from '../../src/agent/api/validate-migration';
import type { KubeClient } from '../../src/agent/kube/client';
import type { LeaderElection } from '../../src/agent/kube/lease';
import type { Logger } from '../../src/common/log';
import { type Cluster, down, kubectl, kubectlPath, up } from '../e2e/cluster';
import { itIf } from '../helpers/host';
import { tempDir } from '../helpers/oci';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

const REPO = path.resolve(__dirname, '..', '..');
const CRDS = path.join(REPO, 'crds');
const CHART = path.join(REPO, 'charts', 'berth');
const EXAMPLES = path.join(CRDS, 'examples');
const CRD_FILES = ['berthnodes.berth.dev.yaml', 'nodemigrations.berth.dev.yaml', 'runtimehandlers.berth.dev.yaml'];
const NAME = 'agent-crds';

/** helm from hack/peers, when it is built there. */
function helmBin(): string | undefined {
  const r = spawnSync(path.join(REPO, 'hack/peers'), ['--list'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('helm '));
  return line?.split(' ')[2];
}
const helm = helmBin();

/** `helm template` of the chart into a release namespace. */
function helmRun(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const home = tempDir('berth-helm-');
  const env = { ...process.env, HOME: home, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
  return spawnSync(helm!, args, { encoding: 'utf8', env, timeout: 60_000 });
}

/** `helm template` of the chart into a release namespace, with `--set` values. */
function renderChart(set: string[] = []): Obj[] {
  const r = helmRun(['template', 'rel', CHART, '--namespace', 'berth-system', ...set.flatMap((s) => ['--set', s])]);
  if (r.status !== 0) throw new Error(`helm template → ${r.status ?? r.signal}: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((d) => d);
}

describe('the chart', () => {
  test('charts/berth/crds/ holds byte-identical copies of crds/', () => {
    expect(fs.readdirSync(path.join(CHART, 'crds')).sort()).toEqual(CRD_FILES);
    for (const f of CRD_FILES) expect([f, fs.readFileSync(path.join(CHART, 'crds', f)).equals(fs.readFileSync(path.join(CRDS, f)))]).toEqual([f, true]);
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('helm template renders the ServiceAccount and the RBAC objects, with no wildcard anywhere', () => {
    const objects = renderChart();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      'ClusterRole/rel-berth-agent', 'ClusterRoleBinding/rel-berth-agent', 'DaemonSet/rel-berth-agent', 'Role/rel-berth-agent-leader', 'RoleBinding/rel-berth-agent-leader', 'RuntimeHandler/berth', 'RuntimeHandler/runc', 'ServiceAccount/rel-berth-agent',
    ]);
    for (const o of objects.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
      for (const rule of o.rules as Obj[]) {
        for (const key of ['apiGroups', 'resources', 'verbs']) expect([o.kind, key, (rule[key] as string[]).includes('*')]).toEqual([o.kind, key, false]);
      }
    }
    const binding = objects.find((o) => o.kind === 'RoleBinding')!;
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rel-berth-agent', namespace: 'berth-system' }]);
    const role = objects.find((o) => o.kind === 'Role')!;
    expect(role.metadata.namespace).toBe('berth-system');
    expect(role.rules.flatMap((r: Obj) => r.resources)).toEqual(['leases', 'leases']);
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('the DaemonSet: privileged on the host, every taint tolerated, node-critical, probed, rolled out within maxUnavailable', () => {
    const ds = renderChart().find((o) => o.kind === 'DaemonSet')!;
    const pod = ds.spec.template.spec;
    const agent = pod.containers[0];
    expect(ds.spec.selector.matchLabels).toEqual(Object.fromEntries(Object.entries(ds.spec.template.metadata.labels).filter(([k]) => k in ds.spec.selector.matchLabels)));
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    expect(pod).toMatchObject({ serviceAccountName: 'rel-berth-agent', hostPID: true, hostNetwork: true, priorityClassName: 'system-node-critical', tolerations: [{ operator: 'Exists' }], nodeSelector: { 'kubernetes.io/os': 'linux' } });
    expect(pod.volumes).toEqual([{ name: 'host', hostPath: { path: '/', type: 'Directory' } }]);
    expect(agent.securityContext).toEqual({ privileged: true });
    expect(agent.volumeMounts).toEqual([{ name: 'host', mountPath: '/host', mountPropagation: 'Bidirectional' }]);
    expect(agent.image).toBe('ghcr.io/berth-dev/berth-agent:0.1.0');
    expect(agent.args).toEqual(['run', '--host-root=/host', '--service-manager=systemd', '--cni=auto', '--metrics-addr=:9810', '--lease-name=berth-agent-leader', '--log-level=info']);
    expect(agent.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 9810 });
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 9810 });
    expect(agent.env.map((e: Obj) => e.name)).toEqual(['NODE_NAME', 'POD_NAMESPACE']);

    // Values reach the pod; a kube-proxy-free cluster names its API server.
    const set = renderChart(['agent.image.tag=dev', 'agent.metrics.port=9900', 'serviceManager=direct', 'cni.install=never', 'agent.updateStrategy.maxUnavailable=10%', 'k8sServiceHost=10.0.0.1', 'k8sServicePort=6443']).find((o) => o.kind === 'DaemonSet')!;
    const c = set.spec.template.spec.containers[0];
    expect(c.image).toBe('ghcr.io/berth-dev/berth-agent:dev');
    expect(c.args).toEqual(expect.arrayContaining(['--service-manager=direct', '--cni=never', '--metrics-addr=:9900']));
    expect(c.readinessProbe.httpGet.port).toBe(9900);
    expect(set.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe('10%');
    expect(c.env.slice(2)).toEqual([{ name: 'KUBERNETES_SERVICE_HOST', value: '10.0.0.1' }, { name: 'KUBERNETES_SERVICE_PORT', value: '6443' }]);
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('the ServiceMonitor and the dashboard, when enabled; every dashboard query names a metric Berth exports', () => {
    expect(renderChart().filter((o) => ['ServiceMonitor', 'Service', 'ConfigMap'].includes(o.kind))).toEqual([]);
    const objects = renderChart(['serviceMonitor.enabled=true', 'serviceMonitor.labels.release=prom', 'dashboard.enabled=true']);
    const ds = objects.find((o) => o.kind === 'DaemonSet')!;
    const svc = objects.find((o) => o.kind === 'Service')!;
    const sm = objects.find((o) => o.kind === 'ServiceMonitor')!;
    expect(svc.spec).toMatchObject({ clusterIP: 'None', ports: [{ name: 'metrics', port: 9810, targetPort: 'metrics' }] });
    // The Service picks the DaemonSet's pods; the ServiceMonitor picks the Service.
    expect(svc.spec.selector).toEqual(ds.spec.selector.matchLabels);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics', interval: '30s' });

    const cm = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(cm.data['berth.json']) as Obj;
    const exprs = (dashboard.panels as Obj[]).flatMap((p) => (p.targets as Obj[]).map((t) => t.expr as string));
    const exported = new Set<string>();
    for (const registry of [new AgentMetrics('0.0.0').registry, new BerthdMetrics('0.0.0').registry]) {
      for (const m of registry.getMetricsAsArray()) {
        const name = m.name;
        exported.add(name);
        if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(`${name}${s}`);
      }
    }
    const used = new Set(exprs.flatMap((e) => e.match(/\bberth_[a-z_]+\b/g) ?? []));
    expect(used.size).toBeGreaterThanOrEqual(8);
    for (const name of used) expect([name, exported.has(name)]).toEqual([name, true]);
    // The panels the issue asks for.
    for (const name of ['berth_pod_start_duration_seconds_bucket', 'berth_cri_operations_total', 'berth_image_pull_bytes_total', 'berth_handler_ready', 'berth_migration_phase']) expect(used.has(name)).toBe(true);
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('values.schema.json refuses bad values, naming the key; helm lint passes', () => {
    const bad: Array<[string, RegExp]> = [
      ['agent.metrics.port=abc', /\/agent\/metrics\/port': got string, want integer/],
      ['serviceManager=runit', /\/serviceManager': value must be one of 'systemd', 'direct'/],
      ['cni.install=sometimes', /\/cni\/install': value must be one of 'auto', 'always', 'never'/],
      ['agent.updateStrategy.maxUnavailable=0', /\/agent\/updateStrategy\/maxUnavailable/],
      ['agent.imageTag=x', /additional properties 'imageTag' not allowed/],
      ['runtimeHandlers.x.handler=Bad', /\/runtimeHandlers\/x\/handler': 'Bad' does not match pattern/],
      ['serviceMonitor.interval=often', /\/serviceMonitor\/interval': 'often' does not match pattern/],
    ];
    for (const [set, message] of bad) {
      const r = helmRun(['template', 'rel', CHART, '--set', set]);
      expect([set, r.status, r.stderr]).toEqual([set, 1, expect.stringMatching(message)]);
    }
    const lint = helmRun(['lint', CHART]);
    expect([lint.status, lint.stdout]).toEqual([0, expect.stringContaining('1 chart(s) linted, 0 chart(s) failed')]);
  });
});

describe('against a real API server', () => {
  let c: Cluster;
  const created: string[] = [];

  beforeAll(() => {
    c = up(NAME);
    kubectl(c, ['apply', '-f', CRDS]);
    kubectl(c, ['wait', '--for=condition=Established', '--timeout=60s', 'crd/runtimehandlers.berth.dev', 'crd/berthnodes.berth.dev', 'crd/nodemigrations.berth.dev']);
  }, 45 * 60_000);

  afterAll(() => {
    try {
      if (c) {
        kubectl(c, ['delete', '--ignore-not-found', '--wait=true', 'runtimehandlers.berth.dev,berthnodes.berth.dev,nodemigrations.berth.dev', '--all']);
        kubectl(c, ['delete', '--ignore-not-found', '-f', CRDS]);
      }
    } finally {
      down(NAME);
    }
  }, 10 * 60_000);

  const get = (kind: string, name: string): Obj => JSON.parse(kubectl(c, ['get', kind, name, '-o', 'json']));
  const applyFile = (file: string): string => kubectl(c, ['apply', '-f', file]);

  /** Creates `obj` expecting the API server to refuse; returns what kubectl said. */
  function refused(obj: Obj, verb: 'create' | 'apply' = 'create'): string {
    try {
      kubectl(c, [verb, '-f', '-'], JSON.stringify(obj));
    } catch (err) {
      return (err as Error).message;
    }
    created.push(obj.metadata.name);
    throw new Error(`the API server accepted ${JSON.stringify(obj)}`);
  }

  /** Patches `status` into `kind/name` expecting the API server to refuse; returns what kubectl said. */
  function refusedStatus(kind: string, name: string, status: Obj): string {
    try {
      kubectl(c, ['patch', kind, name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error(`status ${JSON.stringify(status)} of ${kind}/${name} was accepted`);
  }

  test('every CRD is Established, structural (no NonStructuralSchema condition), cluster-scoped with short names', () => {
    for (const [crd, short] of [['runtimehandlers.berth.dev', 'rh'], ['berthnodes.berth.dev', 'bn'], ['nodemigrations.berth.dev', 'nm']]) {
      const o = get('crd', crd);
      const conditions = Object.fromEntries((o.status.conditions as Obj[]).map((x) => [x.type, x.status]));
      expect([crd, conditions.Established, conditions.NonStructuralSchema]).toEqual([crd, 'True', undefined]);
      expect(o.spec.scope).toBe('Cluster');
      expect(o.spec.names.shortNames).toEqual([short]);
      expect(o.spec.versions.map((v: Obj) => [v.name, v.served, v.storage, v.subresources])).toEqual([['v1alpha1', true, true, { status: {} }]]);
    }
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('the chart\'s RuntimeHandlers pass the API server\'s validation and the agent\'s', () => {
    const handlers = renderChart().filter((o) => o.kind === 'RuntimeHandler');
    // Dry runs: the API server validates and defaults each, and stores nothing.
    const served = handlers.map((h) => JSON.parse(kubectl(c, ['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify({ ...h, metadata: { ...h.metadata, name: `chart-${h.metadata.name}` } }))) as Obj);
    expect(served.map((o) => parseRuntimeHandler(o).spec.runtime.type).sort()).toEqual(['berth', 'runc']);
    expect(served.map((o) => o.spec.runtimeClass)).toEqual([{ create: true }, { create: true }]);
  });

  test('every example is accepted, and reads back with the API server\'s defaults and parses', () => {
    for (const f of fs.readdirSync(EXAMPLES)) applyFile(path.join(EXAMPLES, f));
    const berth = get('rh', 'berth');
    // Not in the file, filled in by the schema's defaults:
    expect(berth.spec.runtimeClass).toEqual({ create: true });
    expect(berth.spec.canary).toEqual({ enabled: true, timeoutSeconds: 30 });
    expect(berth.spec.rollout).toEqual({ maxUnavailable: '25%' });
    // The RuntimeClass name default (the handler) cannot be a CRD default: the agent applies it.
    expect(parseRuntimeHandler(berth).spec.runtimeClass.name).toBe('berth');

    const binary = get('rh', 'crun-lowmem');
    expect(binary.spec.runtimeClass).toMatchObject({ create: true, name: 'lowmem', overhead: { podFixed: { cpu: '50m', memory: '32Mi' } } });
    expect(binary.spec.canary).toEqual({ enabled: true, timeoutSeconds: 10 });
    const parsed = parseRuntimeHandler(binary).spec;
    expect(parsed.runtime).toEqual({ type: 'binary', path: '/usr/bin/crun', root: '/run/crun-lowmem', systemdCgroup: true });
    expect(parsed.runtimeClass.tolerations).toEqual([
      { key: 'berth.dev/lowmem', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);

    const runc = parseRuntimeHandler(get('rh', 'runc'));
    expect(runc.metadata.generation).toBe(1);
    expect(runc.spec).toMatchObject({ handler: 'runc', nodeSelector: { 'kubernetes.io/os': 'linux' }, maxUnavailable: 1 });

    // A minimal object: everything defaulted.
    kubectl(c, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name: 'minimal' }, spec: { handler: 'minimal', runtime: { type: 'crun' } } }));
    const minimal = get('rh', 'minimal');
    expect(minimal.spec).toEqual({ handler: 'minimal', runtime: { type: 'crun' }, runtimeClass: { create: true }, canary: { enabled: true, timeoutSeconds: 30 }, rollout: { maxUnavailable: 1 } });

    // The BerthNode example is created without its status (the status subresource ignores it on create).
    expect(get('bn', 'node-1').status).toBeUndefined();

    // The NodeMigration example, and a minimal one with every default filled in.
    expect(parseNodeMigration(get('nm', 'node-1')).spec).toEqual({ node: 'node-1', targetRuntime: 'berth', drain: { timeoutSeconds: 600, gracePeriodSeconds: 30, deleteEmptyDirData: true, force: false }, prePullImages: true, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false });
    kubectl(c, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'minimal' }, spec: { node: 'node-2' } }));
    expect(get('nm', 'minimal').spec).toEqual({ node: 'node-2', targetRuntime: 'berth', drain: { timeoutSeconds: 300, deleteEmptyDirData: false, force: false }, prePullImages: false, rollbackPolicy: 'Automatic', force: false, dryRun: false, rollback: false });
  });

  test('NodeMigration: spec.node is immutable; the status subresource takes what the agent writes, refuses a bad phase, and shows in columns', () => {
    const obj = { apiVersion: 'berth.dev/v1alpha1', kind: 'NodeMigration', metadata: { name: 'nm-immutable' }, spec: { node: 'node-a' } };
    kubectl(c, ['create', '-f', '-'], JSON.stringify(obj));
    expect(refused({ ...obj, spec: { node: 'node-b' } }, 'apply')).toMatch(/spec\.node: Invalid value: "node-b": spec\.node is immutable/);
    const status = nodeMigrationStatusJson({
      phase: 'Preflight',
      conditions: [],
      steps: [{ phase: 'Pending', time: '2025-01-01T00:00:00Z', message: 'created' }, { phase: 'Preflight', time: '2025-01-01T00:00:01Z', message: 'checking' }],
      findings: [{ check: 'DockerSocketMount', severity: 'Blocking', message: 'pod ci/b mounts /var/run/docker.sock', objects: [{ kind: 'Pod', namespace: 'ci', name: 'b' }, { kind: 'ReplicaSet', namespace: 'ci', name: 'b-1' }] }],
      backups: [{ path: '/var/lib/kubelet/kubeadm-flags.env', sha256: 'a'.repeat(64), what: 'kubeadm-flags.env' }, { path: '/etc/systemd/system/kubelet.service.d/30-berth.conf', what: 'created' }],
    });
    kubectl(c, ['patch', 'nm', 'nm-immutable', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const back = get('nm', 'nm-immutable');
    expect(back.status).toEqual(status);
    expect(parseNodeMigration(back).status?.findings[0].objects).toHaveLength(2);
    const lines = kubectl(c, ['get', 'nm', 'nm-immutable', '-o', 'wide']).trim().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['NAME', 'NODE', 'PHASE', 'TARGET', 'ROLLBACK', 'FORCE', 'AGE']);
    expect(lines[1].split(/\s+/).slice(0, 6)).toEqual(['nm-immutable', 'node-a', 'Preflight', 'berth', 'Automatic', 'false']);
    const badStatus = (bad: Obj): string => refusedStatus('nm', 'nm-immutable', bad);
    expect(badStatus({ phase: 'Done' })).toMatch(/status\.phase: Unsupported value: "Done"/);
    expect(badStatus({ backups: [{ path: 'relative', what: 'x' }] })).toMatch(/status\.backups\[0\]\.path: Invalid value: "relative": a backup's path must be an absolute path/);
    expect(badStatus({ findings: [{ check: 'X', severity: 'Fatal', message: '' }] })).toMatch(/status\.findings\[0\]\.severity: Unsupported value: "Fatal"/);
  });

  const bad = (name: string, spec: Obj): Obj => ({ apiVersion: 'berth.dev/v1alpha1', kind: 'RuntimeHandler', metadata: { name }, spec });
  const cases: Array<[string, Obj, RegExp]> = [
    ['a handler that is no DNS label', { handler: 'Not_A_Label', runtime: { type: 'runc' } }, /spec\.handler: Invalid value: "Not_A_Label"/],
    ['a handler longer than 55', { handler: 'h'.repeat(56), runtime: { type: 'runc' } }, /spec\.handler: (Too long|Invalid value)/],
    ['an unknown runtime type', { handler: 'x', runtime: { type: 'kata' } }, /spec\.runtime\.type: Unsupported value: "kata"/],
    ['binary without path', { handler: 'x', runtime: { type: 'binary' } }, /spec\.runtime\.path: Invalid value: .*spec\.runtime\.path is required when spec\.runtime\.type is binary/],
    ['a relative path', { handler: 'x', runtime: { type: 'binary', path: 'usr/bin/crun' } }, /spec\.runtime\.path: Invalid value: "usr\/bin\/crun": spec\.runtime\.path must be an absolute path/],
    ['a path with ..', { handler: 'x', runtime: { type: 'binary', path: '/usr/../bin/crun' } }, /spec\.runtime\.path: Invalid value: "\/usr\/\.\.\/bin\/crun": spec\.runtime\.path must not contain '\.\.'/],
    ['a root with ..', { handler: 'x', runtime: { type: 'runc', root: '/run/..' } }, /spec\.runtime\.root: .*must not contain '\.\.'/],
    ['maxUnavailable "abc"', { handler: 'x', runtime: { type: 'runc' }, rollout: { maxUnavailable: 'abc' } }, /spec\.rollout\.maxUnavailable: Invalid value: "abc": spec\.rollout\.maxUnavailable must be/],
    ['maxUnavailable 0', { handler: 'x', runtime: { type: 'runc' }, rollout: { maxUnavailable: 0 } }, /spec\.rollout\.maxUnavailable: Invalid value: 0: spec\.rollout\.maxUnavailable must be/],
    ['maxUnavailable "0%"', { handler: 'x', runtime: { type: 'runc' }, rollout: { maxUnavailable: '0%' } }, /spec\.rollout\.maxUnavailable: Invalid value: "0%"/],
    ['a canary timeout of 601', { handler: 'x', runtime: { type: 'runc' }, canary: { timeoutSeconds: 601 } }, /spec\.canary\.timeoutSeconds: Invalid value: 601/],
    ['a negative overhead', { handler: 'x', runtime: { type: 'runc' }, runtimeClass: { overhead: { podFixed: { cpu: '-100m' } } } }, /spec\.runtimeClass\.overhead\.podFixed\[cpu\]: Invalid value: "-100m"/],
    ['a toleration with Exists and a value', { handler: 'x', runtime: { type: 'runc' }, runtimeClass: { scheduling: { tolerations: [{ key: 'k', operator: 'Exists', value: 'v' }] } } }, /spec\.runtimeClass\.scheduling\.tolerations\[0\]\.value: Invalid value/],
    ['tolerationSeconds without NoExecute', { handler: 'x', runtime: { type: 'runc' }, runtimeClass: { scheduling: { tolerations: [{ key: 'k', tolerationSeconds: 5 }] } } }, /spec\.runtimeClass\.scheduling\.tolerations\[0\]\.tolerationSeconds: Invalid value/],
    ['no handler', { runtime: { type: 'runc' } }, /spec\.handler: Required value/],
  ];
  test.each(cases.map(([what, spec, message], i) => [what, message, spec, i] as const))('rejected: %s (%s)', (_what, message, spec, i) => {
    const out = refused(bad(`bad-${i}`, spec));
    expect(out).toMatch(message);
    // Our parser refuses the same object (an agent reading it through an old CRD would not act on it).
    expect(() => parseRuntimeHandler(bad(`bad-${i}`, spec))).toThrow();
  });

  test('a spec without a runtime is refused, naming spec.runtime', () => {
    expect(refused(bad('bad-noruntime', { handler: 'x' }))).toMatch(/spec\.runtime: Required value/);
  });

  test('spec.handler cannot change on update; other fields can', () => {
    const obj = bad('immutable', { handler: 'first', runtime: { type: 'runc' } });
    kubectl(c, ['create', '-f', '-'], JSON.stringify(obj));
    expect(refused({ ...obj, spec: { ...obj.spec, handler: 'second' } }, 'apply')).toMatch(/spec\.handler: Invalid value: "second": spec\.handler is immutable/);
    kubectl(c, ['apply', '-f', '-'], JSON.stringify({ ...obj, spec: { ...obj.spec, runtime: { type: 'crun' } } }));
    const after = get('rh', 'immutable');
    expect([after.spec.handler, after.spec.runtime.type, after.metadata.generation]).toEqual(['first', 'crun', 2]);
  });

  test('the RuntimeHandler status subresource: written with --subresource=status, ignored on the main resource, validated, shown in columns', () => {
    const status = {
      observedGeneration: 1,
      conditions: [{ type: 'Ready', status: 'False', reason: 'NodesFailing', message: '1 of 3 nodes failing', lastTransitionTime: '2025-01-01T00:00:00Z', observedGeneration: 1 }],
      desiredNodes: 3, readyNodes: 2, failedNodes: 1,
      failingNodes: [{ node: 'node-2', reason: 'CanaryFailed', message: 'exit status 1' }],
      rollout: { generation: 1, nodes: ['node-1'] },
    };
    kubectl(c, ['patch', 'rh', 'runc', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const back = get('rh', 'runc');
    expect(back.status).toEqual(status);
    expect(parseRuntimeHandler(back).status?.readyNodes).toBe(2);
    // A status change is no spec change.
    expect(back.metadata.generation).toBe(1);

    // Through the main resource the status is not written.
    kubectl(c, ['patch', 'rh', 'runc', '--type=merge', '-p', JSON.stringify({ status: { readyNodes: 0 } })]);
    expect(get('rh', 'runc').status.readyNodes).toBe(2);

    const lines = kubectl(c, ['get', 'rh', 'runc', '-o', 'wide']).trim().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['NAME', 'HANDLER', 'RUNTIME', 'READY', 'READY-NODES', 'DESIRED', 'FAILED', 'REASON', 'AGE']);
    expect(lines[1].split(/\s+/).slice(0, 8)).toEqual(['runc', 'runc', 'runc', 'False', '2', '3', '1', 'NodesFailing']);
    expect(kubectl(c, ['get', 'rh', 'runc']).trim().split('\n')[0].split(/\s+/)).toEqual(['NAME', 'HANDLER', 'RUNTIME', 'READY', 'READY-NODES', 'DESIRED', 'AGE']);

    const badStatus = (s: Obj): string => refusedStatus('rh', 'runc', s);
    expect(badStatus({ readyNodes: -1 })).toMatch(/status\.readyNodes: Invalid value: -1/);
    expect(badStatus({ conditions: [{ type: 'Ready', status: 'Maybe', reason: 'R', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] })).toMatch(/status\.conditions\[0\]\.status: Unsupported value: "Maybe"/);
  });

  test('the BerthNode status subresource takes the example\'s status, which reads back as the agent wrote it; columns show it', () => {
    const example = parseYaml(fs.readFileSync(path.join(EXAMPLES, 'berthnode.yaml'), 'utf8'));
    kubectl(c, ['patch', 'bn', 'node-1', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: example.status })]);
    const back = get('bn', 'node-1');
    expect(back.status).toEqual(example.status);
    expect(parseBerthNode(back).status).toEqual(parseBerthNode(example).status);

    const lines = kubectl(c, ['get', 'bn', '-o', 'wide']).trim().split('\n');
    expect(lines[0].split(/\s+/)).toEqual(['NAME', 'RUNTIME', 'BERTHD-HEALTHY', 'VERSION', 'BERTHD-VERSION', 'CGROUP-DRIVER', 'ENDPOINT', 'AGE']);
    expect(lines[1].split(/\s+/).slice(0, 7)).toEqual(['node-1', 'containerd', 'true', '0.1.0', '0.1.0', 'systemd', 'unix:///run/containerd/containerd.sock']);

    let refusedMessage = '';
    try {
      kubectl(c, ['patch', 'bn', 'node-1', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { runtime: 'docker' } })]);
    } catch (err) {
      refusedMessage = (err as Error).message;
    }
    expect(refusedMessage).toMatch(/status\.runtime: Unsupported value: "docker"/);
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('the rendered chart passes the API server\'s validation (server-side dry run)', () => {
    kubectl(c, ['create', 'namespace', 'berth-system']);
    try {
      const out = kubectl(c, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: renderChart() }));
      expect(out.trim().split('\n').sort()).toEqual([
        'clusterrole.rbac.authorization.k8s.io/rel-berth-agent created (server dry run)',
        'clusterrolebinding.rbac.authorization.k8s.io/rel-berth-agent created (server dry run)',
        'daemonset.apps/rel-berth-agent created (server dry run)',
        'role.rbac.authorization.k8s.io/rel-berth-agent-leader created (server dry run)',
        'rolebinding.rbac.authorization.k8s.io/rel-berth-agent-leader created (server dry run)',
        // The examples' handlers of the same names may be there already.
        expect.stringMatching(/^runtimehandler\.berth\.dev\/berth (created|configured|unchanged) \(server dry run\)$/),
        expect.stringMatching(/^runtimehandler\.berth\.dev\/runc (created|configured|unchanged) \(server dry run\)$/),
        'serviceaccount/rel-berth-agent created (server dry run)',
      ]);
    } finally {
      kubectl(c, ['delete', 'namespace', 'berth-system', '--wait=false']);
    }
  });

  itIf(helm !== undefined, 'helm is not built in hack/peers (hack/peers helm)')('helm install --dry-run=server against the API server: the chart installs, its NOTES say what to do next', () => {
    // Handlers of their own names: the examples' berth and runc, made by hand, are no release's (helm refuses to adopt them).
    const handlers = { 'chart-berth': { handler: 'berth', runtime: { type: 'berth' } }, 'chart-crun': { handler: 'crun', runtime: { type: 'crun' }, runtimeClass: { name: 'lowmem' } } };
    const r = helmRun(['install', 'rel', CHART, '--dry-run=server', '--namespace', 'berth-system', '--create-namespace', '--kubeconfig', c.kubeconfig, '--set-json', `runtimeHandlers=${JSON.stringify(handlers)}`, '--set', 'runtimeHandlers.berth=null', '--set', 'runtimeHandlers.runc=null']);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kubectl -n berth-system rollout status daemonset/rel-berth-agent');
    expect(notes).toContain('RuntimeClasses for pods (spec.runtimeClassName): berth, lowmem.');
    expect(notes).toContain('kubectl berth migrate NODE --watch');
  });

  // The same API server serves the agent's leader election (it needs no CRD, only a namespace).
  /**
   * The agent's kube client as berth-agent has it: bundled (@kubernetes/client-node is ESM only, which jest's
   * CommonJS runtime cannot load from source).
   */
  function bundledKube(): { KubeClient: typeof KubeClient; LeaderElection: typeof LeaderElection; Logger: typeof Logger } {
    const outfile = path.join(tempDir('berth-kube-bundle-'), 'kube.js');
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- esbuild is a dev dependency, loaded only here
    require('esbuild').buildSync({
      stdin: { contents: "export { KubeClient } from './src/agent/kube/client';\nexport { LeaderElection } from './src/agent/kube/lease';\nexport { Logger } from './src/common/log';\n", resolveDir: REPO, sourcefile: 'kube-bundle.ts', loader: 'ts' },
      outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning',
    });
    return require(outfile); // eslint-disable-line @typescript-eslint/no-require-imports
  }

  test('leader election: one leader; candidates only watch (no request at rest); a released lease is taken at once', async () => {
    const { KubeClient, LeaderElection, Logger } = bundledKube();
    const log = new Logger({ level: 'error' });
    const candidates = ['a', 'b', 'c'].map((identity) => {
      const client = KubeClient.fromFileOrCluster(c.kubeconfig);
      const changes: boolean[] = [];
      const election = new LeaderElection(client, { namespace: 'default', name: 'lease-test', identity, leaseDurationSeconds: 6, renewSeconds: 2, log, onChange: (l) => changes.push(l) });
      return { identity, client, election, changes };
    });
    const requests = (x: (typeof candidates)[number]): number => [...x.client.requests.values()].reduce((n, r) => n + r.count, 0);
    const until = async (what: string, check: () => boolean): Promise<void> => {
      for (const deadline = Date.now() + 30_000; !check(); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      }
    };
    try {
      for (const x of candidates) x.election.start();
      await until('a leader', () => candidates.some((x) => x.election.isLeader));
      await new Promise((r) => setTimeout(r, 1000));
      expect(candidates.filter((x) => x.election.isLeader)).toHaveLength(1);
      const before = candidates.map(requests);
      await new Promise((r) => setTimeout(r, 7000)); // longer than the lease: the holder renews, nobody else asks
      const leader = candidates.find((x) => x.election.isLeader)!;
      for (const [i, x] of candidates.entries()) {
        const made = requests(x) - before[i];
        if (x === leader) expect(made).toBeGreaterThanOrEqual(3);
        else expect([x.identity, made]).toEqual([x.identity, 0]);
      }
      expect(candidates.filter((x) => x.election.isLeader)).toEqual([leader]);
      const kinds = [...leader.client.requests.values()].map((r) => `${r.kind.verb} ${r.kind.resource}`).sort();
      expect(kinds.every((k) => ['create leases', 'list leases', 'update leases', 'watch leases'].includes(k))).toBe(true);
      // A leader that stops clears the holder: the watch shows it and another takes it long before it would have run out.
      const stoppedAt = Date.now();
      await leader.election.stop();
      expect(leader.changes).toEqual([true, false]);
      await until('a new leader', () => candidates.some((x) => x !== leader && x.election.isLeader));
      expect(Date.now() - stoppedAt).toBeLessThan(6000);
      expect(candidates.filter((x) => x.election.isLeader)).toHaveLength(1);
    } finally {
      await Promise.all(candidates.map((x) => x.election.stop()));
      kubectl(c, ['delete', '--ignore-not-found', 'lease', 'lease-test', '-n', 'default']);
    }
  }, 90_000);

  // kubectl-berth through the real kubectl's plugin mechanism (kubectl runs the kubectl-berth it finds on PATH).
  test('kubectl berth status: each node\'s runtime, Berth stack, handlers and migration; -o json; a missing node is named', () => {
    const plugin = (args: string[]) => spawnSync(kubectlPath(), ['berth', ...args, '--kubeconfig', c.kubeconfig], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, PATH: `${path.join(REPO, 'build', 'bin')}:${process.env.PATH}` },
    });
    const node = JSON.parse(kubectl(c, ['get', 'nodes', '-o', 'json'])).items[0].metadata.name as string;
    const example = parseYaml(fs.readFileSync(path.join(EXAMPLES, 'berthnode.yaml'), 'utf8'));
    kubectl(c, ['apply', '-f', '-'], JSON.stringify({ ...example, metadata: { name: node }, status: undefined }));
    kubectl(c, ['patch', 'bn', node, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: example.status })]);
    try {
      const t = plugin(['status']);
      expect([t.status, t.stderr]).toEqual([0, '']);
      const [header, row] = t.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
      expect(header).toEqual(['NODE', 'RUNTIME', 'BERTH', 'BERTHD', 'HANDLERS', 'MIGRATION']);
      expect(row).toEqual([node, expect.stringMatching(/^containerd:\/\//), '0.1.0', 'healthy', 'runc=Ready', '<none>']);
      const j = plugin(['status', node, '-o', 'json']);
      expect(JSON.parse(j.stdout)).toMatchObject({ node, stackVersion: '0.1.0', berthdHealthy: true, handlers: [{ handler: 'runc', phase: 'Ready', generation: 1 }] });
      const missing = plugin(['status', 'no-such-node']);
      expect([missing.status, missing.stderr]).toEqual([1, expect.stringContaining('no node "no-such-node"')]);
    } finally {
      kubectl(c, ['delete', 'bn', node, '--ignore-not-found']);
    }
  });

  test('nothing refused was stored', () => {
    expect(created).toEqual([]);
  });
});
