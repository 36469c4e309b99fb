/**
 * berthd with `sandbox.pauseImage`: every pod gets an infra container of that image (hack/fixtures' pause,
 * pushed to Debian's docker-registry), pulled on the first RunPodSandbox. Observed from the host and from
 * inside: the infra joins the pod's namespaces and is PID 1 of a shared PID namespace, runs locked down, stays
 * out of the kubelet's container lists; its death makes the pod not ready; stop, remove and a crash right after
 * it started leave nothing behind. A pause image that cannot be pulled fails RunPodSandbox, naming the key.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { cleanupTempDirs, pushImage, requireTools, startRegistry, stopAll, tempDir, type RegistryProcess } from '../image/helpers';
import { OCT, PID, cleanupNet, requireNet, trackLink } from '../cni/net-helpers';
import { removeCgroupDirs } from '../helpers/oci';
import { criClient, killShim, removeAllPods, REPO, requireBuilt, shutDownBerthd, startBerthd, walk, writeBridgeNetwork, type Berthd, type CriClient } from './helpers';

jest.setTimeout(180000);

const BRIDGE = `brp${PID}`;
const CGROUP_ROOT = `berth-pause-${PID}`;
let registry: RegistryProcess;
let berthd: Berthd;
let cri: CriClient;
let image: string;
let pauseImage: string;
let dir: string;
let netDir: string;

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CRI replies as decoded JSON

const config = (pause: string): Record<string, unknown> => ({ cni: { confDir: netDir, binDirs: [path.join(dir, 'no-bin')] }, sandbox: { pauseImage: pause } });

beforeAll(async () => {
  requireTools('docker-registry', 'skopeo');
  requireBuilt();
  requireNet();
  registry = await startRegistry({ storage: tempDir('berth-pause-registry-') });
  await pushImage(registry.host, 'pod', 'v1', [{ 'bin/busybox': { copyFrom: '/bin/busybox' } }]);
  image = `${registry.host}/pod:v1`;
  const fixtures = execFileSync(path.join(REPO, 'hack', 'fixtures'), { encoding: 'utf8' }).trim();
  pauseImage = `${registry.host}/pause:3.10`;
  execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${path.join(fixtures, 'pause-layout')}:latest`, `docker://${pauseImage}`]);
  dir = tempDir('berth-pause-');
  netDir = path.join(dir, 'net.d');
  trackLink(BRIDGE);
  writeBridgeNetwork(netDir, { name: `pause${PID}`, bridge: BRIDGE, subnet: `10.${OCT}.78.0/24`, ipamDir: path.join(dir, 'ipam') });
  berthd = await startBerthd({ config: config(pauseImage) });
  cri = criClient(berthd.endpoint);
  await cri.image('PullImage', { image: { image } });
});

afterAll(async () => {
  try {
    await shutDownBerthd(cri, berthd);
    await stopAll();
    await cleanupNet();
    removeCgroupDirs(CGROUP_ROOT);
  } finally {
    cleanupTempDirs();
  }
});

afterEach(async () => {
  await removeAllPods(cri);
});

let seq = 0;
function podConfig(pid: 'POD' | 'CONTAINER'): Obj {
  seq++;
  return {
    metadata: { name: `pp${seq}`, namespace: 'default', uid: `uid-pause-${PID}-${seq}`, attempt: 0 },
    hostname: `pp${seq}`,
    logDirectory: path.join(dir, 'logs', `pp${seq}`),
    linux: { cgroupParent: `/${CGROUP_ROOT}/pp${seq}`, securityContext: { namespaceOptions: { network: 'POD', pid, ipc: 'POD' } } },
  };
}

async function runPod(pid: 'POD' | 'CONTAINER'): Promise<{ id: string; config: Obj; info: Obj }> {
  const cfg = podConfig(pid);
  const { podSandboxId } = await cri.runtime<Obj>('RunPodSandbox', { config: cfg });
  const st = await cri.runtime<Obj>('PodSandboxStatus', { podSandboxId, verbose: true });
  return { id: podSandboxId, config: cfg, info: JSON.parse(st.info.info) as Obj };
}

async function startContainer(pod: { id: string; config: Obj }, name: string): Promise<string> {
  const c = await cri.runtime<Obj>('CreateContainer', {
    podSandboxId: pod.id, sandboxConfig: pod.config,
    config: { metadata: { name, attempt: 0 }, image: { image }, command: ['/bin/busybox', 'sleep', '3600'], logPath: `${name}.log` },
  });
  await cri.runtime('StartContainer', { containerId: c.containerId });
  return c.containerId;
}

async function exec(id: string, script: string): Promise<string> {
  const r = await cri.runtime<Obj>('ExecSync', { containerId: id, cmd: ['/bin/busybox', 'sh', '-c', script], timeout: 10 });
  expect(r.stderr.toString()).toBe('');
  return r.stdout.toString();
}

const nsOf = (pid: number | string, ns: string): string => fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
const statusField = (pid: number, key: string): string => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);
const mountsBelowState = (): string[] =>
  fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(berthd.state + '/'));

test('the pause image is pulled on first use; its infra container joins the pod namespaces, is PID 1 of a shared PID namespace and runs locked down', async () => {
  expect((await cri.image<Obj>('ImageStatus', { image: { image: pauseImage } })).image).toBeNull();
  const pod = await runPod('POD');
  expect((await cri.image<Obj>('ImageStatus', { image: { image: pauseImage } })).image.repoTags).toEqual([pauseImage]);
  const infra = pod.info.pid as number;
  expect(pod.info.noPause).toBe(false);
  expect(pod.info.infraContainerId).toMatch(/^[0-9a-f]{64}$/);
  expect(fs.readFileSync(`/proc/${infra}/cmdline`, 'utf8')).toBe('/pause\0');
  // As the image says (User 65535:65535), no capabilities, no new privileges.
  expect(statusField(infra, 'Uid').split(/\s+/)[0]).toBe('65535');
  expect(statusField(infra, 'CapEff')).toBe('0000000000000000');
  expect(statusField(infra, 'NoNewPrivs')).toBe('1');

  const ctr = await startContainer(pod, 'app');
  // The app shares the infra's network, IPC, UTS and PID namespaces; PID 1 in there is pause.
  const appPid = (JSON.parse((await cri.runtime<Obj>('ContainerStatus', { containerId: ctr, verbose: true })).info.info) as Obj).pid as number;
  for (const ns of ['net', 'ipc', 'uts', 'pid']) expect([ns, nsOf(appPid, ns)]).toEqual([ns, nsOf(infra, ns)]);
  expect(nsOf(infra, 'net')).not.toBe(nsOf('self', 'net'));
  expect(await exec(ctr, 'cat /proc/1/cmdline; echo; hostname')).toBe(`/pause\0\npp${seq}\n`);
  // The kubelet sees only its own containers.
  expect((await cri.runtime<Obj>('ListContainers', {})).containers.map((c: Obj) => c.id)).toEqual([ctr]);
  expect((await cri.runtime<Obj>('ListContainerStats', {})).stats.map((s: Obj) => s.attributes.id)).toEqual([ctr]);
  expect((await cri.runtimeError('ContainerStatus', { containerId: pod.info.infraContainerId })).code).toBe(grpc.status.NOT_FOUND);

  await cri.runtime('StopPodSandbox', { podSandboxId: pod.id });
  expect(alive(infra)).toBe(false);
  // Only the stopped app's rootfs stays mounted until its removal.
  expect(mountsBelowState().filter((m) => !m.includes(ctr))).toEqual([]);
  await cri.runtime('RemovePodSandbox', { podSandboxId: pod.id });
  expect(mountsBelowState()).toEqual([]);
  expect(fs.readdirSync(path.join(berthd.state, 'cri', 'sandboxes'))).toEqual([]);
  // The infra's writable layer went with it.
  expect(walk(berthd.root).filter((p) => p.includes(pod.info.infraContainerId as string))).toEqual([]);
});

test('without a shared PID namespace each container has its own; the infra still holds the network', async () => {
  const pod = await runPod('CONTAINER');
  const ctr = await startContainer(pod, 'solo');
  expect(await exec(ctr, 'cat /proc/1/cmdline')).toBe('/bin/busybox\0sleep\x003600\0');
  expect(nsOf(pod.info.pid as number, 'net')).not.toBe(nsOf('self', 'net'));
});

test('the infra container dying makes the pod not ready; stop and remove still leave nothing', async () => {
  const pod = await runPod('POD');
  await startContainer(pod, 'orphaned');
  process.kill(pod.info.pid as number, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    if ((await cri.runtime<Obj>('PodSandboxStatus', { podSandboxId: pod.id })).status.state === 'SANDBOX_NOTREADY') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await cri.runtime<Obj>('PodSandboxStatus', { podSandboxId: pod.id })).status.state).toBe('SANDBOX_NOTREADY');
  await cri.runtime('StopPodSandbox', { podSandboxId: pod.id });
  await cri.runtime('RemovePodSandbox', { podSandboxId: pod.id });
  expect(mountsBelowState()).toEqual([]);
  expect((await cri.runtime<Obj>('ListContainers', {})).containers).toEqual([]);
});

test('kill -9 of berthd right after the infra started: the restart tears the half-made pod down, infra included', async () => {
  cri.close();
  await berthd.kill9();
  berthd = await startBerthd({ dir: berthd.dir, config: config(pauseImage), env: { BERTH_CRASH_AT: 'sandbox-run:infra-started' } });
  cri = criClient(berthd.endpoint);
  await expect(cri.runtime('RunPodSandbox', { config: podConfig('POD') })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  const pauses = (): number[] => fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number)
    .filter((p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === '/pause\0' && fs.readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(CGROUP_ROOT); } catch { return false; } });
  expect(pauses().length).toBe(1);
  cri.close();
  await berthd.kill9();
  berthd = await startBerthd({ dir: berthd.dir, config: config(pauseImage) });
  cri = criClient(berthd.endpoint);
  expect((await cri.runtime<Obj>('ListPodSandbox', {})).items).toEqual([]);
  expect(pauses()).toEqual([]);
  expect(mountsBelowState()).toEqual([]);
  expect(fs.readdirSync(path.join(berthd.state, 'cri', 'sandboxes'))).toEqual([]);
});

test('a pause image that cannot be pulled fails RunPodSandbox naming sandbox.pauseImage, and leaves nothing', async () => {
  const missing = `${registry.host}/no-such-pause:1`;
  const other = await startBerthd({ config: config(missing) });
  const client = criClient(other.endpoint);
  try {
    const err = await client.runtimeError('RunPodSandbox', { config: podConfig('POD') });
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(`sandbox.pauseImage: cannot pull "${missing}"`);
    expect((await client.runtime<Obj>('ListPodSandbox', {})).items).toEqual([]);
    const sandboxes = path.join(other.state, 'cri', 'sandboxes');
    expect(fs.existsSync(sandboxes) ? fs.readdirSync(sandboxes) : []).toEqual([]);
  } finally {
    client.close();
    await other.stop();
    killShim(other.state);
  }
});
