/**
 * `--service-manager direct` with the REAL berthd (build/bin, installed as a stack into a temp host root):
 * start, health, adoption by a second supervisor (an agent restart) without a restart, a config change that
 * restarts berthd while a running container and its berth-shim survive, kill -9 → restart with backoff, stop.
 * Every process is ended by its PID, every mount under the host root undone, also when a test fails.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCni } from '../../src/agent/install/cni';
import { writeBerthdConfig } from '../../src/agent/install/config';
import { hostView, layoutOf, type Layout } from '../../src/agent/install/layout';
import { installStack, rolloutStack, switchCurrent } from '../../src/agent/install/stack';
import { DirectService } from '../../src/agent/service/direct';
import { checkBerthd, waitHealthy } from '../../src/agent/service/health';
import { cmdline, identify, isAlive, procStat, type ProcessId } from '../../src/agent/service/proc';
import { readRecord, RECORD_NAME } from '../../src/agent/service/record';
import { criClient, pushBusybox, requireBuilt, type CriClient } from '../cri/helpers';
import { atFileEnd, mountPointsUnder } from '../helpers/cleanup';
import { removeCgroupDirs } from '../helpers/oci';
import { cleanupTempDirs, requireTools, startRegistry, stopAll, tempDir } from '../image/helpers';

jest.setTimeout(120_000);

const REPO = path.resolve(__dirname, '..', '..');
const PID = process.pid;
const CGROUP_ROOT = `berth-agent-direct-${PID}`;
const VERSION = '0.1.0';

let layout: Layout;
let image: string;
let cri: CriClient | undefined;
const services: DirectService[] = [];

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CRI replies as decoded JSON

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function supervisor(): DirectService {
  const s = new DirectService({ layout, version: VERSION, backoff: { initialMs: 1000, maxMs: 4000, resetAfterMs: 60_000 }, pollMs: 100 });
  services.push(s);
  return s;
}

const record = () => readRecord(path.join(layout.agent.state, RECORD_NAME));
const shimId = (): ProcessId | undefined => {
  try {
    const [pid, start] = fs.readFileSync(path.join(layout.agent.state, 'shim', 'shim.pid'), 'utf8').trim().split(' ');
    const id = identify(Number(pid));
    return id && id.startTime === start ? id : undefined;
  } catch {
    return undefined;
  }
};

/** Processes whose command line names something under the host root (berthd, berth-shim, monitors). */
function processesOfHostRoot(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)
    .filter((pid) => pid !== PID && cmdline(pid).some((a) => a.includes(layout.view.hostRoot)));
}

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Everything this file started under the host root, by PID, and every mount below it. */
async function cleanUp(): Promise<void> {
  for (const s of services) s.close();
  if (cri) {
    const pods = await cri.runtime<Obj>('ListPodSandbox', {}).catch(() => ({ items: [] }));
    for (const p of pods.items) await cri.runtime('RemovePodSandbox', { podSandboxId: p.id }).catch(() => undefined);
    cri.close();
    cri = undefined;
  }
  const rec = layout && record();
  if (rec && isAlive(rec)) process.kill(rec.pid, 'SIGKILL');
  for (const pid of layout ? processesOfHostRoot() : []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  if (layout) for (const m of mountPointsUnder(layout.view.hostRoot)) spawnSync('umount', ['-l', m]);
  removeCgroupDirs(CGROUP_ROOT);
}

beforeAll(async () => {
  requireTools('docker-registry', 'tar');
  requireBuilt();
  atFileEnd('berthd and its shim under the test host root', cleanUp);
  const registry = await startRegistry({ storage: tempDir('berth-agent-registry-') });
  await pushBusybox(registry.host, 'agent-busybox', 'v1');
  image = `${registry.host}/agent-busybox:v1`;
  const hostRoot = path.join(tempDir('berth-agent-direct-'), 'host');
  fs.mkdirSync(hostRoot);
  layout = layoutOf(hostView(hostRoot, 'direct'));
  installStack(layout, VERSION, path.join(REPO, 'build'));
  switchCurrent(layout, VERSION);
  // NetworkReady needs a conflist; the pods here use the host's network, so no bridge is ever made.
  ensureCni(layout, { mode: 'auto', bridge: `bad${PID % 100000}`, subnet: '10.231.0.0/24' });
  writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs' });
});

afterAll(async () => {
  try {
    await cleanUp();
    await stopAll();
    expect(processesOfHostRoot()).toEqual([]);
    expect(mountPointsUnder(layout.view.hostRoot)).toEqual([]);
  } finally {
    cleanupTempDirs();
  }
});

test('start: berthd of the current stack in its own session, recorded with its start time, logging to /var/log/berth; healthy', async () => {
  const s = supervisor();
  const r = await s.ensure();
  expect(r.action).toBe('started');
  const st = procStat(r.pid);
  expect(st).toBeDefined();
  const argv = cmdline(r.pid);
  expect(argv).toContain(layout.inAgent(`/opt/berth/${VERSION}/bin/berthd`));
  expect(argv.slice(-2)).toEqual(['--config', layout.agent.config]);
  // setsid: berthd leads its own session (field 6 of /proc/<pid>/stat).
  const stat = fs.readFileSync(`/proc/${r.pid}/stat`, 'utf8');
  expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])).toBe(r.pid);
  expect(record()).toMatchObject({ pid: r.pid, startTime: st!.startTime, binary: layout.inAgent(`/opt/berth/${VERSION}/bin/berthd`), version: VERSION, origin: 'started' });
  const h = await waitHealthy(layout.agent.socket, 15_000);
  expect(h).toMatchObject({ healthy: true, version: VERSION, runtimeName: 'berth' });
  expect(h.conditions.map((c) => [c.type, c.status])).toEqual(expect.arrayContaining([['RuntimeReady', true], ['NetworkReady', true]]));
  expect(fs.readFileSync(path.join(layout.agent.logDir, 'berthd.log'), 'utf8')).toMatch(/berthd/);
  expect(await s.ensure()).toMatchObject({ action: 'running', pid: r.pid });
});

test('an agent restart (a second supervisor) adopts the running berthd: same PID, not restarted', async () => {
  const before = record()!;
  services[0].close();
  const next = supervisor();
  const r = await next.ensure();
  expect(r).toMatchObject({ action: 'adopted', pid: before.pid });
  expect(isAlive(before)).toBe(true);
  expect(record()).toEqual(before);
});

test('a berthd without our record (another install) is found by its command line and adopted', async () => {
  const before = record()!;
  fs.rmSync(path.join(layout.agent.state, RECORD_NAME));
  services.at(-1)!.close();
  const r = await supervisor().ensure();
  expect(r).toMatchObject({ action: 'adopted', pid: before.pid });
  expect(record()).toMatchObject({ pid: before.pid, startTime: before.startTime, origin: 'adopted', configHash: before.configHash });
});

test('a config change restarts berthd (new PID); the running container and berth-shim survive it', async () => {
  const s = services.at(-1)!;
  cri = criClient(`unix://${layout.agent.socket}`);
  await cri.image('PullImage', { image: { image } });
  const podConfig = {
    metadata: { name: 'survivor', namespace: 'default', uid: `uid-agent-${PID}`, attempt: 0 },
    logDirectory: path.join(layout.view.hostRoot, 'var/log/pods/survivor'),
    linux: { cgroupParent: `/${CGROUP_ROOT}/survivor`, securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
  };
  const pod = await cri.runtime<Obj>('RunPodSandbox', { config: podConfig });
  const c = await cri.runtime<Obj>('CreateContainer', {
    podSandboxId: pod.podSandboxId, sandboxConfig: podConfig,
    config: { metadata: { name: 'sleeper', attempt: 0 }, image: { image }, command: ['/bin/busybox'], args: ['sleep', '3600'], logPath: 'sleeper.log' },
  });
  await cri.runtime('StartContainer', { containerId: c.containerId });
  const containerPid: number = JSON.parse((await cri.runtime<Obj>('ContainerStatus', { containerId: c.containerId, verbose: true })).info.info).pid;
  const container = identify(containerPid)!;
  const shim = shimId()!;
  expect(shim).toBeDefined();
  const old = record()!;

  expect(writeBerthdConfig(layout, { cgroupDriver: 'cgroupfs', logLevel: 'debug' }).changed).toBe(true);
  const r = await s.ensure();
  expect(r.action).toBe('restarted');
  expect(r.reason).toMatch(/its config changed/);
  expect(r.pid).not.toBe(old.pid);
  expect(isAlive(old)).toBe(false);
  expect(isAlive(shim)).toBe(true);
  expect(isAlive(container)).toBe(true);
  expect(record()).toMatchObject({ pid: r.pid, origin: 'started' });
  const st = (await cri.runtime<Obj>('ContainerStatus', { containerId: c.containerId })).status;
  expect(st.state).toBe('CONTAINER_RUNNING');
  const ex = await cri.runtime<Obj>('ExecSync', { containerId: c.containerId, cmd: ['/bin/busybox', 'echo', 'still-here'], timeout: 10 });
  expect(ex.stdout.toString()).toBe('still-here\n');
  // And the agent restarting now changes nothing.
  s.close();
  expect(await supervisor().ensure()).toMatchObject({ action: 'adopted', pid: r.pid });
});

test('kill -9 of berthd: restarted after 1 s, then after 2 s while it keeps dying; containers unaffected', async () => {
  const s = services.at(-1)!;
  const shim = shimId()!;
  const delays: number[] = [];
  for (let i = 0; i < 2; i++) {
    const old = record()!;
    process.kill(old.pid, 'SIGKILL');
    const t0 = Date.now();
    const fresh = await waitFor('a new berthd', () => {
      const r = record();
      return r && r.pid !== old.pid && isAlive(r) && r.version !== '' ? r : undefined;
    });
    delays.push(Date.now() - t0);
    expect(fresh.origin).toBe('started');
    expect((await checkBerthd(layout.agent.socket)).answered).toBe(true);
  }
  expect(delays[0]).toBeGreaterThanOrEqual(900);
  expect(delays[1]).toBeGreaterThanOrEqual(1900);
  expect(s.crashRestarts).toBe(2);
  expect(isAlive(shim)).toBe(true);
  const pods = await cri!.runtime<Obj>('ListContainers', {});
  expect(pods.containers.map((c: Obj) => c.state)).toEqual(['CONTAINER_RUNNING']);
});

test('a stack switch (upgrade) restarts berthd from the new version dir through rolloutStack; the container survives', async () => {
  const s = services.at(-1)!;
  const old = record()!;
  const r = await rolloutStack({
    layout, version: `${VERSION}-b`, sourceDir: path.join(REPO, 'build'),
    apply: async () => {
      await s.ensure();
    },
    healthy: () => waitHealthy(layout.agent.socket, 15_000),
  });
  expect(r).toMatchObject({ current: `${VERSION}-b`, switched: true, healthy: true, rolledBack: false });
  const now = record()!;
  expect(now.pid).not.toBe(old.pid);
  expect(now.binary).toBe(layout.inAgent(`/opt/berth/${VERSION}-b/bin/berthd`));
  expect(cmdline(now.pid)).toContain(now.binary);
  const list = await cri!.runtime<Obj>('ListContainers', {});
  expect(list.containers.map((c: Obj) => c.state)).toEqual(['CONTAINER_RUNNING']);
});

test('stop(): berthd ends by its PID and is not restarted; its shim is left (containers outlive berthd); then nothing of ours runs', async () => {
  const s = services.at(-1)!;
  // The pods go first, through berthd, so that their mounts are undone.
  const pods = await cri!.runtime<Obj>('ListPodSandbox', {});
  for (const p of pods.items) {
    await cri!.runtime('StopPodSandbox', { podSandboxId: p.id });
    await cri!.runtime('RemovePodSandbox', { podSandboxId: p.id });
  }
  cri!.close();
  cri = undefined;
  const rec = record()!;
  const shim = shimId()!;
  await s.stop();
  expect(isAlive(rec)).toBe(false);
  expect(record()).toBeUndefined();
  await sleep(1500);
  // Left: the shim and its berth-spawner (the shim's fork helper, its child).
  const shimTree = (p: number) => p === shim.pid || procStat(p)?.ppid === shim.pid;
  expect(processesOfHostRoot().filter((p) => !shimTree(p)).map((p) => cmdline(p).join(' '))).toEqual([]);
  expect(isAlive(shim)).toBe(true);
  process.kill(shim.pid, 'SIGTERM');
  await waitFor('the shim and its spawner to exit', () => !isAlive(shim) && processesOfHostRoot().length === 0);
  expect(mountPointsUnder(layout.view.hostRoot)).toEqual([]);
});
