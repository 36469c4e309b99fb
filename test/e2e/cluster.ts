/**
 * The e2e suites' handle on hack/cluster: up (parsing the lines it prints), down (also at the end of the test
 * file when a suite fails before its afterAll), kubectl of the pinned version, and waits with bounds.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { atFileEnd } from '../helpers/cleanup';

const REPO = path.resolve(__dirname, '..', '..');
const CLUSTER = path.join(REPO, 'hack/cluster');

export interface Cluster {
  name: string;
  kubeconfig: string;
  registry: string;
  nodes: Array<{ node: string; hostRoot: string }>;
}

/** The pinned kubectl (hack/peers builds it when missing). */
function kubectlBin(): string {
  const r = spawnSync(path.join(REPO, 'hack/peers'), ['--list', 'kubernetes'], { encoding: 'utf8' });
  const line = r.stdout.split('\n').find((l) => l.startsWith('kubectl '));
  if (!line) throw new Error(`hack/peers --list kubernetes has no kubectl (status ${r.status}): ${r.stderr}`);
  return line.split(' ')[2];
}

/** Starts a cluster; it is taken down at the end of the test file whatever happens. */
export function up(name: string, args: string[] = []): Cluster {
  atFileEnd(`hack/cluster down --name ${name}`, () => down(name));
  const r = spawnSync(CLUSTER, ['up', '--name', name, ...args], { encoding: 'utf8', timeout: 40 * 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`hack/cluster up --name ${name} ${args.join(' ')} → ${r.status ?? r.signal}\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  const kv = (line: string | undefined, key: string) => {
    const m = new RegExp(`^${key}=(\\S+)`).exec(line ?? '');
    if (!m) throw new Error(`hack/cluster up printed ${JSON.stringify(line)} where ${key}= belongs:\n${r.stdout}`);
    return m[1];
  };
  const nodes = lines.slice(2).map((l) => {
    const m = /^NODE=(\S+) HOST_ROOT=(\S+)$/.exec(l);
    if (!m) throw new Error(`unexpected line from hack/cluster up: ${JSON.stringify(l)}`);
    return { node: m[1], hostRoot: m[2] };
  });
  return { name, kubeconfig: kv(lines[0], 'KUBECONFIG'), registry: kv(lines[1], 'REGISTRY'), nodes };
}

/** Takes the cluster down; throws with what it says it left behind. */
export function down(name: string): void {
  const r = spawnSync(CLUSTER, ['down', '--name', name], { encoding: 'utf8', timeout: 10 * 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`hack/cluster down --name ${name} → ${r.status ?? r.signal}\n${r.stderr}`);
}

let kubectlFile: string | undefined;

/** The pinned kubectl's path (for suites that run it themselves, e.g. long-running streams). */
export function kubectlPath(): string {
  kubectlFile ??= kubectlBin();
  return kubectlFile;
}

/** kubectl against the cluster; throws on a non-zero exit with what kubectl said. */
export function kubectl(c: Cluster, args: string[], input?: string): string {
  kubectlFile ??= kubectlBin();
  const r = spawnSync(kubectlFile, ['--kubeconfig', c.kubeconfig, ...args], { encoding: 'utf8', input, timeout: 120_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} → ${r.status ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** A Deployment of busybox's httpd that logs a line first; waits until its pods are Running and ready. */
export interface PluginRun { code: number | null; stdout: string; stderr: string }

/**
 * `kubectl berth ARGS` through kubectl's plugin mechanism (build/bin on PATH), as a child process, so that the
 * agents' output keeps flowing meanwhile. Bounded: killed after `ms`.
 */
export function kubectlBerth(c: Cluster, args: string[], ms = 900_000): Promise<PluginRun> {
  return new Promise((resolve) => {
    const p = spawn(kubectlPath(), ['berth', ...args, '--kubeconfig', c.kubeconfig], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${path.resolve(__dirname, '../../build/bin')}:${process.env.PATH}` },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function deployWeb(c: Cluster, name: string, replicas = 1, spreadOverNodes = false): Array<{ name: string; node: string; ip: string }> {
  const labels = { app: name };
  const spec = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
    spec: {
      replicas, selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'web', image: 'busybox', command: ['sh', '-c', `echo "${name} starts on $(hostname)"; exec httpd -f -p 8080 -h /etc`], ports: [{ containerPort: 8080 }] }],
          ...(spreadOverNodes ? { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: labels } }] } : {}),
        },
      },
    },
  };
  kubectl(c, ['apply', '-f', '-'], JSON.stringify(spec));
  kubectl(c, ['rollout', 'status', `deployment/${name}`, '--timeout=120s']);
  const pods = JSON.parse(kubectl(c, ['get', 'pods', '-l', `app=${name}`, '-o', 'json'])).items as any[];
  return pods.filter((p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp)
    .map((p) => ({ name: p.metadata.name, node: p.spec.nodeName, ip: p.status.podIP }));
}

/** `kubectl port-forward POD :8080`; GETs `urlPath` through it once and stops the forward. */
export async function getThroughPortForward(c: Cluster, pod: string, urlPath: string): Promise<string> {
  kubectlFile ??= kubectlBin();
  const child = spawn(kubectlFile, ['--kubeconfig', c.kubeconfig, 'port-forward', '--address', '127.0.0.1', `pod/${pod}`, ':8080'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`port-forward printed no port in 30 s: ${out}`)), 30_000);
      const seen = (d: Buffer) => {
        out += d;
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      };
      child.stdout.on('data', seen);
      child.stderr.on('data', seen);
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`port-forward exited (${code}): ${out}`)); });
    });
    return await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 30_000 }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('GET through port-forward timed out')));
      req.on('error', reject);
    });
  } finally {
    child.kill('SIGKILL');
  }
}
