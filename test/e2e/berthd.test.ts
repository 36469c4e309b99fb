/**
 * A real kubelet on berthd (hack/cluster up --runtime berthd): the node gets Ready as berth://<version>, and the
 * kinds of pods a cluster runs work end to end: a Deployment behind probes, a Job with an init container, a
 * pod of two containers sharing an emptyDir with configMap/secret/downwardAPI volumes, a postStart and a preStop
 * hook, a failing liveness probe, an OOM kill, host network, and a RuntimeClass for the runc handler; kubectl
 * exec (-i and -it), attach, logs -f, cp and port-forward through berthd's streaming server. Deleting the
 * pods leaves nothing behind on the node.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { type Cluster, down, getThroughPortForward, kubectl, kubectlPath, up } from './cluster';

const NAME = 'e2e-berthd';
let c: Cluster;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- API objects as JSON

beforeAll(() => {
  c = up(NAME, ['--runtime', 'berthd']);
}, 45 * 60_000);
afterAll(() => down(NAME), 10 * 60_000);

function apply(...objects: Obj[]): void {
  kubectl(c, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

function pod(name: string): Obj {
  return JSON.parse(kubectl(c, ['get', 'pod', name, '-o', 'json']));
}

/** Polls `check` on the pod until it returns something (bounded). */
async function waitPod<T>(name: string, what: string, check: (p: Obj) => T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Obj | undefined;
  for (;;) {
    last = pod(name);
    const v = check(last);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`pod ${name}: ${what} did not happen: ${JSON.stringify(last.status)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What a long-running kubectl command (attach, logs -f) prints in `ms`, then it is stopped. */
function streamFor(args: string[], ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), ['--kubeconfig', c.kubeconfig, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    setTimeout(() => { child.kill('SIGKILL'); resolve(out); }, ms);
  });
}

const busybox = (name: string, command: string, extra: Obj = {}): Obj => ({ name, image: 'busybox', command: ['sh', '-c', command], ...extra });

test('the node is Ready on berthd, reported as berth://<version>', () => {
  const node = JSON.parse(kubectl(c, ['get', 'node', c.nodes[0].node, '-o', 'json']));
  expect(node.status.conditions.find((x: Obj) => x.type === 'Ready')?.status).toBe('True');
  expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^berth:\/\/\d+\.\d+\.\d+/);
});

test('a Deployment behind an httpGet readiness and an exec liveness probe runs, and kubectl logs shows its output', () => {
  apply({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
    spec: {
      replicas: 2, selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [busybox('web', 'echo "web starts on $(hostname)"; exec httpd -f -p 8080 -h /etc', {
            ports: [{ containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/hostname', port: 8080 }, periodSeconds: 1 },
            livenessProbe: { exec: { command: ['true'] }, periodSeconds: 2 },
          })],
        },
      },
    },
  });
  kubectl(c, ['rollout', 'status', 'deployment/web', '--timeout=120s']);
  const pods = JSON.parse(kubectl(c, ['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as Obj[];
  expect(pods).toHaveLength(2);
  for (const p of pods) {
    expect(p.status.podIP).toMatch(/^10\.\d+\.0\.\d+$/);
    expect(kubectl(c, ['logs', p.metadata.name])).toBe(`web starts on ${p.metadata.name}\n`);
  }
  expect(new Set(pods.map((p) => p.status.podIP)).size).toBe(2);
}, 180_000);

test('kubectl exec (with stdin and the exit code), attach, logs -f, cp and port-forward reach the container through berthd\'s streaming server', async () => {
  const web = JSON.parse(kubectl(c, ['get', 'pods', '-l', 'app=web', '-o', 'json'])).items[0].metadata.name as string;
  expect(kubectl(c, ['exec', '-i', web, '--', 'sh', '-c', 'read line; echo "got $line in $(hostname)"'], 'hello\n')).toBe(`got hello in ${web}\n`);
  expect(() => kubectl(c, ['exec', web, '--', 'sh', '-c', 'exit 3'])).toThrow(/→ 3:/);
  // -it needs a terminal on kubectl's side: script(1) gives it one, of a size kubectl sends through the resize channel.
  const tty = spawnSync('script', ['-qfec', `stty rows 31 cols 97; ${kubectlPath()} --kubeconfig ${c.kubeconfig} exec -it ${web} -- sh -c 'tty; stty size; exit 4'`, '/dev/null'],
    { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  expect(tty.stdout.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/\d+\n31 97\n/m);
  expect(tty.status).toBe(4);
  expect(await getThroughPortForward(c, web, '/hostname')).toBe(`${web}\n`);
  // cp is tar through exec, both ways.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-e2e-cp-'));
  try {
    fs.writeFileSync(path.join(dir, 'in.txt'), 'copied in\n');
    kubectl(c, ['cp', path.join(dir, 'in.txt'), `${web}:/tmp/in.txt`]);
    expect(kubectl(c, ['exec', web, '--', 'cat', '/tmp/in.txt'])).toBe('copied in\n');
    kubectl(c, ['cp', `${web}:/etc/hostname`, path.join(dir, 'out.txt')]);
    expect(fs.readFileSync(path.join(dir, 'out.txt'), 'utf8')).toBe(`${web}\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // A pod that prints a line a second: attach and logs -f both see the stream go on.
  apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'ticker' }, spec: { containers: [busybox('c', 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 1; done')] } });
  kubectl(c, ['wait', '--for=condition=Ready', 'pod/ticker', '--timeout=120s']);
  for (const args of [['attach', 'ticker'], ['logs', '-f', 'ticker']]) {
    const out = await streamFor(args, 3500);
    expect(out.match(/^tick \d+$/gm)?.length ?? 0).toBeGreaterThanOrEqual(2);
  }
}, 240_000);

test('a kubelet restart against the running berthd finds its pods: same containers, no restarts', async () => {
  const before = (JSON.parse(kubectl(c, ['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as Obj[])
    .map((p) => ({ name: p.metadata.name, id: p.status.containerStatuses[0].containerID, restarts: p.status.containerStatuses[0].restartCount }));
  execFileSync(path.join(c.nodes[0].hostRoot, 'usr/bin/systemctl'), ['restart', 'kubelet'], { stdio: 'ignore', timeout: 120_000 });
  // Wait until the restarted kubelet has synced the pods again (Ready goes on being reported).
  await new Promise((r) => setTimeout(r, 5000));
  kubectl(c, ['wait', '--for=condition=Ready', 'pod', '-l', 'app=web', '--timeout=120s']);
  const after = (JSON.parse(kubectl(c, ['get', 'pods', '-l', 'app=web', '-o', 'json'])).items as Obj[])
    .map((p) => ({ name: p.metadata.name, id: p.status.containerStatuses[0].containerID, restarts: p.status.containerStatuses[0].restartCount }));
  expect(after).toEqual(before);
}, 240_000);

test('a Job whose init container prepares an emptyDir completes', async () => {
  apply({
    apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job' },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          initContainers: [busybox('init', 'echo prepared > /work/state', { volumeMounts: [{ name: 'w', mountPath: '/work' }] })],
          containers: [busybox('main', 'cat /work/state', { volumeMounts: [{ name: 'w', mountPath: '/work' }] })],
          volumes: [{ name: 'w', emptyDir: {} }],
        },
      },
    },
  });
  kubectl(c, ['wait', '--for=condition=complete', 'job/job', '--timeout=120s']);
  expect(kubectl(c, ['logs', 'job/job', '-c', 'main'])).toBe('prepared\n');
}, 180_000);

test('two containers share an emptyDir; configMap, secret and downwardAPI volumes; a postStart hook', async () => {
  apply(
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'conf' }, data: { greeting: 'hello from a configMap' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec' }, stringData: { token: 's3cret' } },
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'duo', labels: { role: 'duo' } },
      spec: {
        terminationGracePeriodSeconds: 5,
        containers: [
          busybox('writer', 'while true; do date > /shared/now; sleep 1; done', {
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo started > /shared/hook'] } } },
          }),
          // Exec needs the streaming server: the reader reports what it sees in its log instead.
          busybox('reader', 'for i in $(seq 60); do [ -s /shared/now ] && [ -s /shared/hook ] && break; sleep 1; done; cat /shared/hook /conf/greeting; echo; cat /sec/token; echo; cat /info/labels; echo; exec sleep 3600', {
            volumeMounts: [
              { name: 'shared', mountPath: '/shared' }, { name: 'conf', mountPath: '/conf' },
              { name: 'sec', mountPath: '/sec' }, { name: 'info', mountPath: '/info' },
            ],
          }),
        ],
        volumes: [
          { name: 'shared', emptyDir: {} }, { name: 'conf', configMap: { name: 'conf' } }, { name: 'sec', secret: { secretName: 'sec' } },
          { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        ],
      },
    },
  );
  kubectl(c, ['wait', '--for=condition=Ready', 'pod/duo', '--timeout=120s']);
  await waitPod('duo', 'the reader\'s report', () => (kubectl(c, ['logs', 'duo', '-c', 'reader']).includes('role=') ? true : undefined));
  expect(kubectl(c, ['logs', 'duo', '-c', 'reader'])).toBe('started\nhello from a configMap\ns3cret\nrole="duo"\n');
  const st = pod('duo').status.containerStatuses as Obj[];
  expect(st.map((s) => s.ready)).toEqual([true, true]);
  expect(st.every((s) => s.restartCount === 0)).toBe(true);
}, 180_000);

test('a preStop hook runs before the container gets its SIGTERM, within the grace period', async () => {
  // On the node's filesystem (inside its host root, which goes with the cluster), where the hook's trace outlives the pod.
  const out = path.join(c.nodes[0].hostRoot, 'var/lib/berth-e2e-hook');
  fs.mkdirSync(out, { recursive: true });
  apply({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hooked' },
    spec: {
      terminationGracePeriodSeconds: 20,
      containers: [busybox('c', "trap 'echo term >> /out/trace; exit 0' TERM; echo started > /out/trace; while true; do sleep 1; done", {
        volumeMounts: [{ name: 'out', mountPath: '/out' }],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop >> /out/trace; sleep 2'] } } },
      })],
      volumes: [{ name: 'out', hostPath: { path: out, type: 'Directory' } }],
    },
  });
  kubectl(c, ['wait', '--for=condition=Ready', 'pod/hooked', '--timeout=120s']);
  kubectl(c, ['delete', 'pod/hooked', '--wait=true', '--timeout=60s']);
  // The hook ran to its end before the signal, and the trap ran: no SIGKILL at the end of the grace period.
  expect(fs.readFileSync(path.join(out, 'trace'), 'utf8')).toBe('started\nprestop\nterm\n');
}, 180_000);

test('a failing liveness probe restarts the container; an OOM kill is reported as OOMKilled with 137', async () => {
  apply(
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'unhealthy' },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [busybox('c', 'exec sleep 3600', { livenessProbe: { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 1 } })],
      },
    },
    {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'oom' },
      spec: {
        restartPolicy: 'Never',
        // /dev/shm's pages are charged to the container's memory cgroup: dd, its pid 1, is killed.
        containers: [busybox('c', 'exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=60', { resources: { limits: { memory: '24Mi' } } })],
      },
    },
  );
  await waitPod('unhealthy', 'a restart', (p) => (p.status.containerStatuses?.[0]?.restartCount >= 1 ? true : undefined));
  const last = pod('unhealthy').status.containerStatuses[0].lastState.terminated;
  expect(last.exitCode).toBe(137);
  const term = await waitPod('oom', 'termination', (p) => p.status.containerStatuses?.[0]?.state?.terminated);
  expect(term).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
}, 180_000);

test('a hostNetwork pod has the node\'s address; a pod with runtimeClassName runc runs under runc', async () => {
  apply(
    { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name: 'runc' }, handler: 'runc' },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hostnet' }, spec: { hostNetwork: true, containers: [busybox('c', 'exec sleep 3600')] } },
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'withrunc' }, spec: { runtimeClassName: 'runc', containers: [busybox('c', 'echo under runc; exec sleep 3600')] } },
  );
  kubectl(c, ['wait', '--for=condition=Ready', 'pod/hostnet', 'pod/withrunc', '--timeout=120s']);
  const hostnet = pod('hostnet');
  expect(hostnet.status.podIP).toBe(hostnet.status.hostIP);
  expect(kubectl(c, ['logs', 'withrunc'])).toBe('under runc\n');
  // The shim ran it through the runc binary: its state is in that runtime's root, not berth-run's.
  const id = pod('withrunc').status.containerStatuses[0].containerID.replace('berth://', '');
  const runtimes = path.join(c.nodes[0].hostRoot, 'run/berth/shim/runtimes');
  const runcRoot = fs.readdirSync(runtimes).find((d) => d.endsWith('_runc'));
  expect(runcRoot).toBeDefined();
  expect(fs.existsSync(path.join(runtimes, runcRoot!, id, 'state.json'))).toBe(true);
}, 180_000);

test('deleting every pod leaves no sandbox, container, mount or pod network namespace on the node', async () => {
  kubectl(c, ['delete', 'deployment/web', 'job/job', 'pod/duo', 'pod/unhealthy', 'pod/oom', 'pod/hostnet', 'pod/withrunc', 'pod/ticker', '--ignore-not-found', '--wait=true', '--timeout=180s']);
  const root = path.join(c.nodes[0].hostRoot, 'run/berth/cri');
  const deadline = Date.now() + 120_000;
  const left = () => ({
    sandboxes: fs.existsSync(path.join(root, 'sandboxes')) ? fs.readdirSync(path.join(root, 'sandboxes')) : [],
    containers: fs.existsSync(path.join(root, 'containers')) ? fs.readdirSync(path.join(root, 'containers')) : [],
    mounts: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(root + '/')),
  });
  // The kubelet removes sandboxes of deleted pods in its garbage collection, a little after the API says gone.
  while (Date.now() < deadline) {
    const l = left();
    if (l.sandboxes.length === 0 && l.containers.length === 0 && l.mounts.length === 0) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  expect(left()).toEqual({ sandboxes: [], containers: [], mounts: [] });
}, 360_000);
