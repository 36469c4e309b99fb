/**
 * What the berth-agent e2e suites share (taken from agent.test.ts): the chart's CRDs, ServiceAccount and RBAC
 * applied to a hack/cluster cluster, a kubeconfig with that ServiceAccount's token (so a missing rule fails the
 * suite), one agent process per node (--host-root that node's host root, --service-manager direct), bounded
 * polling that shows the agents' logs when it times out, and stopping the agents.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { tempDir } from '../image/helpers';
import { type Cluster, kubectl } from './cluster';

export const REPO = path.resolve(__dirname, '..', '..');
export const AGENT = path.join(REPO, 'build', 'bin', 'berth-agent');
export const NS = 'berth-system';
const IDENTITY_KINDS = ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
export type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

export interface RunningAgent {
  node: string;
  child: ChildProcess;
  logs(): string;
  /** The metrics address the agent printed, once it did. */
  metrics(): string | undefined;
}

export class AgentHarness {
  readonly agents: RunningAgent[] = [];
  /** The chart as `helm template` rendered it (installChart). */
  rendered = '';

  constructor(readonly c: Cluster) {}

  get(args: string[]): Obj {
    return JSON.parse(kubectl(this.c, ['get', ...args, '-o', 'json'])) as Obj;
  }

  /** Polls `check` until it returns something (bounded), failing with the last thing seen and the agents' logs. */
  async until<T>(what: string, check: () => T | undefined | false, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = check();
        if (v !== undefined && v !== false) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}\n${this.agents.map((a) => `--- ${a.node}\n${a.logs().slice(-3000)}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The CRDs, the namespace and the chart's objects (ServiceAccount, RBAC…); returns a kubeconfig for its ServiceAccount. */
  installChart(): string {
    const { c } = this;
    if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: npm run build`);
    kubectl(c, ['apply', '-f', path.join(REPO, 'crds')]);
    kubectl(c, ['wait', '--for=condition=Established', 'crd/runtimehandlers.berth.dev', 'crd/berthnodes.berth.dev', 'crd/nodemigrations.berth.dev', '--timeout=60s']);
    kubectl(c, ['create', 'namespace', NS]);
    const rendered = spawnSync(helmBin(), ['template', 'rel', path.join(REPO, 'charts/berth'), '--namespace', NS], { encoding: 'utf8', env: { ...process.env, HOME: tempDir('berth-helm-') } });
    if (rendered.status !== 0) throw new Error(`helm template: ${rendered.stderr}`);
    // The test runs one agent process per node itself (startAgent) and makes its own RuntimeHandlers: of the
    // chart, only the agent's identity and permissions.
    const objects = parseAllDocuments(rendered.stdout).map((d) => d.toJS() as Obj | null).filter((o): o is Obj => !!o && IDENTITY_KINDS.includes(o.kind));
    kubectl(c, ['apply', '-n', NS, '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
    this.rendered = rendered.stdout;
    const sa = this.get(['serviceaccounts', '-n', NS]).items.map((s: Obj) => s.metadata.name).find((n: string) => n !== 'default');
    if (!sa) throw new Error("the chart made no ServiceAccount besides 'default'");
    return this.serviceAccountKubeconfig(sa);
  }

  /** A kubeconfig for the ServiceAccount: the cluster's server and CA, a token of that account. */
  serviceAccountKubeconfig(sa: string): string {
    const admin = JSON.parse(kubectl(this.c, ['config', 'view', '--raw', '-o', 'json'])) as Obj;
    const cluster = admin.clusters[0].cluster;
    const token = kubectl(this.c, ['create', 'token', sa, '-n', NS, '--duration', '2h']).trim();
    const file = path.join(tempDir('berth-agent-kc-'), 'agent.kubeconfig');
    fs.writeFileSync(file, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'agent',
      clusters: [{ name: 'c', cluster }], users: [{ name: 'agent', user: { token } }],
      contexts: [{ name: 'agent', context: { cluster: 'c', user: 'agent' } }],
    }), { mode: 0o600 });
    return file;
  }

  /** The node "has runc installed": its host root's /usr/sbin/runc is this machine's. */
  static installRunc(hostRoot: string): void {
    fs.mkdirSync(path.join(hostRoot, 'usr/sbin'), { recursive: true });
    if (!fs.existsSync(path.join(hostRoot, 'usr/sbin/runc'))) fs.symlinkSync('/usr/sbin/runc', path.join(hostRoot, 'usr/sbin/runc'));
  }

  startAgent(node: string, hostRoot: string, kubeconfig: string): RunningAgent {
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', AGENT, '--kubeconfig', kubeconfig, '--node-name', node, '--host-root', hostRoot,
      '--service-manager', 'direct', '--metrics-addr', '127.0.0.1:0', '--namespace', NS, '--log-level', 'debug'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let logs = '';
    child.stderr!.on('data', (d: Buffer) => (logs += d));
    const a: RunningAgent = {
      node, child, logs: () => logs,
      metrics: () => /"msg":"serving metrics".*?"address":"([^"]+)"/.exec(logs)?.[1],
    };
    this.agents.push(a);
    return a;
  }

  /** SIGTERM to every agent still running; waits until all exited. */
  async stopAgents(): Promise<void> {
    for (const a of this.agents) {
      if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGTERM');
    }
    await Promise.all(this.agents.map((a) => new Promise((r) => (a.child.exitCode !== null || a.child.signalCode !== null ? r(null) : a.child.once('exit', r)))));
  }
}

export function helmBin(): string {
  const r = spawnSync(path.join(REPO, 'hack/peers'), ['--list', 'helm'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('helm '));
  if (!line) throw new Error(`hack/peers --list helm has no helm: ${r.stderr}`);
  return line.split(' ')[2];
}
