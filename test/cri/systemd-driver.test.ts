/**
 * berthd with `cgroupDriver: systemd`, as a kubelet with the systemd cgroup driver drives it: pods get a
 * systemd slice as cgroup_parent (kubelet's `<root>-kubepods-besteffort-pod<uid, "-" → "_">.slice`), each
 * container becomes a transient scope `berth-<id>.scope` in it. systemd is not PID 1 here, so berthd (and its
 * shim) reach the STAND-IN of test/helpers/systemd-standin.ts through DBUS_SYSTEM_BUS_ADDRESS, as runc's
 * go-systemd would. Everything is checked from the host: /proc/<pid>/cgroup, the limits in cgroupfs, stats,
 * updates, and that stop/remove leave no unit and no scope directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { hostLayout } from '../../src/oci/cgroups';
import { expandSlice } from '../../src/oci/cgroups/systemd/properties';
import { cleanupTempDirs, requireTools, startRegistry, stopAll, tempDir, type RegistryProcess } from '../image/helpers';
import { describeIf, itIf, probe } from '../helpers/host';
import { procCgroup, readProcs, startSystemdStandin, type SystemdStandin } from '../helpers/systemd-standin';
import { criClient, pushBusybox, requireBuilt, shutDownBerthd, startBerthd, type Berthd, type CriClient } from './helpers';

jest.setTimeout(180000);

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- CRI replies as decoded JSON

const PID = process.pid;
/** A cgroup root of our own (kubelet --cgroup-root), so that nothing collides with a real kubepods.slice. */
const ROOT = `berthsd${PID}`;
const layout = hostLayout();
const hierarchies = [...layout.v1, ...(layout.unified ? [layout.unified] : [])];
const MiB = 1024 * 1024;

/** The driver tries systemd's private socket first (go-systemd does too): a real systemd would win over the stand-in. */
const noRealSystemd = !fs.existsSync('/run/systemd/private');

/** runc refuses --systemd-cgroup unless /run/systemd/system is a directory (libcontainer IsRunningSystemd). */
const runcSeesSystemd = probe('runc-systemd', () => {
  try {
    if (fs.lstatSync('/run/systemd/system').isDirectory()) return undefined;
  } catch {
    // absent
  }
  return 'runc --systemd-cgroup needs /run/systemd/system (libcontainer IsRunningSystemd), absent here as systemd is not PID 1; creating it would tell every process on this shared host that systemd runs';
});

describeIf(noRealSystemd, 'a real systemd listens on /run/systemd/private, which the driver would use before the stand-in')('berthd with cgroupDriver: systemd (stand-in systemd on a private bus)', () => {
  let standin: SystemdStandin | undefined;
  let registry: RegistryProcess;
  let berthd: Berthd | undefined;
  let cri: CriClient | undefined;
  let image: string;
  let seq = 0;
  const slices: string[] = [];

  beforeAll(async () => {
    requireTools('docker-registry');
    requireBuilt();
    standin = await startSystemdStandin(layout);
    registry = await startRegistry({ storage: tempDir('berth-sd-registry-') });
    await pushBusybox(registry.host, 'sd', 'v1');
    image = `${registry.host}/sd:v1`;
    const dir = tempDir('berth-sd-');
    fs.mkdirSync(path.join(dir, 'net.d'));
    berthd = await startBerthd({
      config: { cgroupDriver: 'systemd', cni: { confDir: path.join(dir, 'net.d'), binDirs: [path.join(dir, 'no-bin')] } },
      env: { DBUS_SYSTEM_BUS_ADDRESS: standin.address },
    });
    cri = criClient(berthd.endpoint);
    await cri.image('PullImage', { image: { image } });
  });

  afterAll(async () => {
    try {
      await shutDownBerthd(cri, berthd);
      // Units a failed test left: their processes and scope directories go as systemd would take them.
      standin?.fake.reap();
      await standin?.stop();
      await stopAll();
      // The slices are systemd's to keep; the stand-in made them, so they go with the test (deepest first).
      for (const s of slices) {
        const parts = expandSlice(s).split('/').filter(Boolean);
        for (const h of hierarchies) {
          for (let i = parts.length; i > 0; i--) {
            try {
              fs.rmdirSync(path.join(h.mountPoint, ...parts.slice(0, i)));
            } catch {
              // not there, or not empty: the leak check names it
            }
          }
        }
      }
    } finally {
      cleanupTempDirs();
    }
  });

  function podConfig(): { config: Obj; slice: string } {
    seq++;
    const uid = `0a1b2c3d-${String(PID).padStart(4, '0').slice(-4)}-4000-8000-00000000000${seq}`;
    const slice = `${ROOT}-kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice`;
    slices.push(slice);
    return {
      slice,
      config: {
        metadata: { name: `sd${seq}`, namespace: 'default', uid, attempt: 0 },
        hostname: `sd${seq}`,
        logDirectory: tempDir('berth-sd-logs-'),
        linux: { cgroupParent: slice, securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
      },
    };
  }

  const c = (): CriClient => cri as CriClient;

  test('RuntimeConfig answers SYSTEMD', async () => {
    expect((await c().runtime<Obj>('RuntimeConfig', {})).linux.cgroupDriver).toBe('SYSTEMD');
  });

  async function lifecycle(runtimeHandler: string): Promise<void> {
    const fake = (standin as SystemdStandin).fake;
    const { config, slice } = podConfig();
    const pod = (await c().runtime<Obj>('RunPodSandbox', { config, runtimeHandler })).podSandboxId as string;
    const created = await c().runtime<Obj>('CreateContainer', {
      podSandboxId: pod, sandboxConfig: config,
      config: {
        metadata: { name: 'app', attempt: 0 }, image: { image }, command: ['/bin/busybox'], args: ['sh', '-c', 'head -c 8000000 /dev/zero > /dev/shm/fill; exec busybox sleep 3600'], logPath: 'app.log',
        linux: { resources: { memoryLimitInBytes: String(64 * MiB), cpuQuota: '25000', cpuPeriod: '50000', cpuShares: '512' } },
      },
    });
    const id = created.containerId as string;
    await c().runtime('StartContainer', { containerId: id });

    // The unit systemd was asked for, in the pod's slice, and its directory in every hierarchy.
    const unit = `berth-${id}.scope`;
    const start = fake.calls.filter((x) => x.member === 'StartTransientUnit' && x.body[0] === unit);
    expect(start).toHaveLength(1);
    expect(new Map(start[0].body[2] as [string, { value: unknown }][]).get('Slice')?.value).toBe(slice);
    const rel = `/${ROOT}.slice/${ROOT}-kubepods.slice/${ROOT}-kubepods-besteffort.slice/${slice}/${unit}`;
    expect(path.join(expandSlice(slice), unit)).toBe(rel);
    const dirs = hierarchies.map((h) => path.join(h.mountPoint, rel));
    const info = JSON.parse((await c().runtime<Obj>('ContainerStatus', { containerId: id, verbose: true })).info.info) as { pid: number };
    expect(info.pid).toBeGreaterThan(0);
    const where = procCgroup(info.pid);
    for (const h of layout.v1) expect(where.get(h.controllers.join(','))).toBe(rel);
    if (layout.unified) expect(where.get('')).toBe(rel);
    for (const d of dirs) expect(readProcs(d)).toContain(info.pid);

    // The limits in cgroupfs.
    const read = (ctl: string, file: string): string => {
      const h = layout.v1.find((x) => x.controllers.includes(ctl));
      return fs.readFileSync(path.join(h ? h.mountPoint : (layout.unified?.mountPoint ?? ''), rel, file), 'utf8').trim();
    };
    if (layout.mode === 'v2') {
      expect(read('memory', 'memory.max')).toBe(String(64 * MiB));
      expect(read('cpu', 'cpu.max')).toBe('25000 50000');
    } else {
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(64 * MiB));
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('25000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('50000');
      expect(read('cpu', 'cpu.shares')).toBe('512');
    }

    // Stats come from that cgroup: the 8 MB written to /dev/shm count, and the limit is the scope's.
    const stats = (await c().runtime<Obj>('ContainerStats', { containerId: id })).stats;
    expect(Number(stats.memory.workingSetBytes.value)).toBeGreaterThan(0);
    expect(Number(stats.memory.workingSetBytes.value) + Number(stats.memory.availableBytes.value)).toBe(64 * MiB);
    const podStats = (await c().runtime<Obj>('ListPodSandboxStats', { filter: { id: pod } })).stats;
    expect(podStats).toHaveLength(1);
    expect(Number(podStats[0].linux.memory.workingSetBytes.value)).toBeGreaterThan(0);
    expect(podStats[0].linux.containers.map((x: Obj) => x.attributes.id)).toEqual([id]);

    await c().runtime('UpdateContainerResources', { containerId: id, linux: { memoryLimitInBytes: String(96 * MiB), cpuShares: '256' } });
    expect(fake.calls.some((x) => x.member === 'SetUnitProperties' && x.body[0] === unit)).toBe(true);
    if (layout.mode === 'v2') expect(read('memory', 'memory.max')).toBe(String(96 * MiB));
    else {
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(96 * MiB));
      expect(read('cpu', 'cpu.shares')).toBe('256');
    }

    await c().runtime('StopContainer', { containerId: id, timeout: 1 });
    await c().runtime('RemoveContainer', { containerId: id });
    expect(fake.calls.some((x) => x.member === 'StopUnit' && x.body[0] === unit)).toBe(true);
    expect(fake.units.has(unit)).toBe(false);
    for (const d of dirs) expect(fs.existsSync(d)).toBe(false);
    await c().runtime('StopPodSandbox', { podSandboxId: pod });
    await c().runtime('RemovePodSandbox', { podSandboxId: pod });
  }

  test('a pod on the berth handler: its container in berth-<id>.scope of the pod slice, limits, stats, update; stop/remove leave no scope', async () => {
    await lifecycle('');
  });

  itIf(runcSeesSystemd)('the same with the runc handler (berth-shim must pass --systemd-cgroup)', async () => {
    await lifecycle('runc');
  });
});
