/**
 * One pod's metrics: the pod-level network counters (its containers share one network namespace, so any
 * running container's /proc/<pid>/net/dev shows them) and, per running container, what its cgroups, its
 * processes and its writable layer say. Only running containers have metrics (the kubelet skips the others);
 * one whose init process is already gone is left out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord, SandboxRecord } from '../store';
import type { ContainerMetrics, PodSandboxMetrics } from '../types';
import { addCgroupMetrics, addIoMetrics, addLayerMetrics, addNetworkMetrics, addProcessMetrics, MetricList } from './build';
import { cgroupDirsOfPid, cgroupPids, readCgroup } from './cgroup';
import { blockDeviceName, layerSample } from './fs';
import { type MountEntry, parseMountInfo } from './parse';
import { netDevOf, processSample, softLimits } from './proc';

const NS = 1_000_000_000n;

export interface CollectOptions {
  /**
   * The directory holding a container's writable layer, whose usage is container_fs_usage_bytes. Default (or
   * when it returns undefined): the upperdir of the overlay mounted at <bundle>/rootfs, else the rootfs.
   */
  writableLayerDir?: (containerId: string) => string | undefined;
  /** /proc/self/mountinfo, parsed once for the whole request (read here when absent). */
  mounts?: readonly MountEntry[];
  /** Told about a container whose metrics could not be read (it is then left out). */
  onError?: (containerId: string, err: unknown) => void;
}

export async function selfMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await fs.promises.readFile('/proc/self/mountinfo', 'utf8'));
}

function podLabels(s: SandboxRecord): string[] {
  const m = s.config.metadata;
  return ['', s.id, '', s.name, m?.namespace ?? '', m?.name ?? ''];
}

function containerLabels(c: ContainerRecord, s: SandboxRecord): string[] {
  const m = s.config.metadata;
  return [c.config.metadata?.name ?? '', c.id, c.imageName, c.name, m?.namespace ?? '', m?.name ?? ''];
}

/** "major:minor" → /dev name, for the devices a container did block I/O on. */
async function deviceNames(devs: ReadonlyArray<{ major: number; minor: number }>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of devs) {
    const key = `${d.major}:${d.minor}`;
    if (!out.has(key)) out.set(key, await blockDeviceName(d.major, d.minor));
  }
  return out;
}

export async function collectContainer(c: ContainerRecord, s: SandboxRecord, opts: CollectOptions): Promise<ContainerMetrics | undefined> {
  const dirs = await cgroupDirsOfPid(c.pid, opts.mounts);
  if (!dirs) return undefined;
  const rootfs = path.join(c.bundle, 'rootfs');
  const [cg, limits, layer] = await Promise.all([
    readCgroup(dirs),
    softLimits(c.pid),
    layerSample(rootfs, opts.writableLayerDir?.(c.id), opts.mounts),
  ]);
  const procs = await processSample(cg.procsDir ? await cgroupPids(cg.procsDir) : [c.pid]);
  const devices = await deviceNames(cg.io ?? []);
  const now = BigInt(Date.now()) * 1_000_000n;
  const out = new MetricList(containerLabels(c, s), now.toString());
  out.add('container_last_seen', now / NS);
  const started = BigInt(c.startedAt || '0');
  if (started > 0n) out.add('container_start_time_seconds', started / NS);
  addCgroupMetrics(out, cg);
  addIoMetrics(out, cg, (major, minor) => devices.get(`${major}:${minor}`) ?? `${major}:${minor}`);
  addProcessMetrics(out, procs, limits);
  if (layer) addLayerMetrics(out, layer);
  return { containerId: c.id, metrics: out.items };
}

export async function collectPod(s: SandboxRecord, containers: readonly ContainerRecord[], opts: CollectOptions): Promise<PodSandboxMetrics> {
  const o: CollectOptions = { ...opts, mounts: opts.mounts ?? (await selfMounts()) };
  const running = containers.filter((c) => c.state === 'running' && c.pid > 0);
  const pod = new MetricList(podLabels(s), (BigInt(Date.now()) * 1_000_000n).toString());
  // A host-network pod's interfaces are the node's: they are the node's metrics, not the pod's.
  if (!s.hostNetwork) {
    for (const c of running) {
      const devs = await netDevOf(c.pid);
      if (!devs) continue;
      addNetworkMetrics(pod, devs);
      break;
    }
  }
  const cms = await Promise.all(running.map((c) => collectContainer(c, s, o).catch((err: unknown) => {
    o.onError?.(c.id, err);
    return undefined;
  })));
  return { podSandboxId: s.id, metrics: pod.items, containerMetrics: cms.filter((m): m is ContainerMetrics => m !== undefined) };
}
