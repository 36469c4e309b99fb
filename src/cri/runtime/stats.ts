/**
 * ContainerStats / ListContainerStats / PodSandboxStats / ListPodSandboxStats from the shim's cgroup figures,
 * plus the writable layer's usage. A container that is not running has no stats (the kubelet skips it).
 */
import { invalid } from '../../common/errors';
import type { ContainerRecord, SandboxRecord } from '../store';
import type {
  ContainerStats, ContainerStatsRequest, ContainerStatsResponse, ListContainerStatsRequest, ListContainerStatsResponse, ListPodSandboxStatsRequest,
  ListPodSandboxStatsResponse, PodSandboxStats, PodSandboxStatsRequest, PodSandboxStatsResponse,
} from '../types';
import type { RuntimeContext } from './context';
import { matchesId, matchesLabels } from './filters';

const u64 = (n: number) => ({ value: String(Math.max(0, Math.round(n))) });

async function statsOf(ctx: RuntimeContext, c: ContainerRecord): Promise<ContainerStats> {
  const ts = String(BigInt(Date.now()) * 1_000_000n);
  const base: ContainerStats = {
    attributes: { id: c.id, metadata: c.config.metadata, labels: c.config.labels ?? {}, annotations: c.config.annotations ?? {} },
    cpu: null, memory: null, swap: null, io: null,
    writableLayer: { timestamp: ts, fsId: { mountpoint: c.bundle }, usedBytes: null, inodesUsed: null },
  };
  if (c.state !== 'running') return base;
  try {
    const s = await (await ctx.shim()).stats({ id: c.id });
    const at = String(BigInt(Math.round(s.timestamp)) * 1_000_000n);
    base.cpu = { timestamp: at, usageCoreNanoSeconds: u64(s.cpuUsageNs), usageNanoCores: null, psi: null };
    base.memory = {
      timestamp: at, workingSetBytes: u64(s.memoryWorkingSet), usageBytes: u64(s.memoryUsage), rssBytes: null,
      availableBytes: s.memoryLimit > 0 && s.memoryLimit < 2 ** 62 ? u64(s.memoryLimit - s.memoryWorkingSet) : null, pageFaults: null, majorPageFaults: null, psi: null,
    };
  } catch (err) {
    ctx.log.debug('no stats for container', { containerId: c.id, error: (err as Error).message });
  }
  return base;
}

export async function containerStats(ctx: RuntimeContext, req: ContainerStatsRequest): Promise<ContainerStatsResponse> {
  if (!req.containerId) throw invalid('container_id', 'is required');
  return { stats: await statsOf(ctx, ctx.containers.get(req.containerId)) };
}

export async function listContainerStats(ctx: RuntimeContext, req: ListContainerStatsRequest): Promise<ListContainerStatsResponse> {
  const f = req.filter;
  const cs = ctx.containers.all().filter((c) => c.state !== 'creating' && matchesId(c.id, f?.id) && matchesId(c.sandboxId, f?.podSandboxId) && matchesLabels(c.config.labels, f?.labelSelector));
  return { stats: await Promise.all(cs.map((c) => statsOf(ctx, c))) };
}

async function sandboxStatsOf(ctx: RuntimeContext, s: SandboxRecord): Promise<PodSandboxStats> {
  const containers = await Promise.all(ctx.containers.ofSandbox(s.id).filter((c) => c.state === 'running').map((c) => statsOf(ctx, c)));
  const ts = String(BigInt(Date.now()) * 1_000_000n);
  let cpu = 0n;
  let mem = 0n;
  for (const c of containers) {
    cpu += BigInt(c.cpu?.usageCoreNanoSeconds?.value ?? '0');
    mem += BigInt(c.memory?.workingSetBytes?.value ?? '0');
  }
  return {
    attributes: { id: s.id, metadata: s.config.metadata, labels: s.config.labels ?? {}, annotations: s.config.annotations ?? {} },
    linux: {
      cpu: { timestamp: ts, usageCoreNanoSeconds: { value: cpu.toString() }, usageNanoCores: null, psi: null },
      memory: { timestamp: ts, workingSetBytes: { value: mem.toString() }, usageBytes: null, availableBytes: null, rssBytes: null, pageFaults: null, majorPageFaults: null, psi: null },
      network: null, process: { timestamp: ts, processCount: { value: String(containers.length) } }, containers, io: null,
    },
    windows: null,
  };
}

export async function podSandboxStats(ctx: RuntimeContext, req: PodSandboxStatsRequest): Promise<PodSandboxStatsResponse> {
  if (!req.podSandboxId) throw invalid('pod_sandbox_id', 'is required');
  return { stats: await sandboxStatsOf(ctx, ctx.sandboxes.get(req.podSandboxId)) };
}

export async function listPodSandboxStats(ctx: RuntimeContext, req: ListPodSandboxStatsRequest): Promise<ListPodSandboxStatsResponse> {
  const f = req.filter;
  const ss = ctx.sandboxes.all().filter((s) => s.state === 'ready' && matchesId(s.id, f?.id) && matchesLabels(s.config.labels, f?.labelSelector));
  return { stats: await Promise.all(ss.map((s) => sandboxStatsOf(ctx, s))) };
}
