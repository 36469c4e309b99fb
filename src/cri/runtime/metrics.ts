/**
 * ListMetricDescriptors / ListPodSandboxMetrics: the kubelet's CRI-based metrics (PodAndContainerStatsFromCRI,
 * served as /metrics/cadvisor). The descriptors are a fixed table (../metrics/descriptors.ts); the metrics are
 * read at each call from every ready pod's running containers: their cgroups (v1, hybrid or v2), /proc and
 * their writable layers. A pod or container that cannot be read is logged and left out, never an RPC error.
 */
import type { ListMetricDescriptorsRequest, ListMetricDescriptorsResponse, ListPodSandboxMetricsRequest, ListPodSandboxMetricsResponse, PodSandboxMetrics } from '../types';
import type { RuntimeContext } from './context';
import { type CollectOptions, collectPod, metricDescriptors, selfMounts } from '../metrics';

export type { CollectOptions } from '../metrics';

export async function listMetricDescriptors(_ctx?: RuntimeContext, _req?: ListMetricDescriptorsRequest): Promise<ListMetricDescriptorsResponse> {
  return { descriptors: metricDescriptors() };
}

export async function listPodSandboxMetrics(ctx: RuntimeContext, _req?: ListPodSandboxMetricsRequest, opts: CollectOptions = {}): Promise<ListPodSandboxMetricsResponse> {
  const o: CollectOptions = {
    ...opts,
    mounts: opts.mounts ?? (await selfMounts()),
    onError: opts.onError ?? ((containerId, err) => ctx.log.debug('no metrics for container', { containerId, error: String(err) })),
  };
  const ready = ctx.sandboxes.all().filter((s) => s.state === 'ready');
  const pods = await Promise.all(ready.map(async (s): Promise<PodSandboxMetrics | undefined> => {
    try {
      return await collectPod(s, ctx.containers.ofSandbox(s.id), o);
    } catch (err) {
      ctx.log.warn('no metrics for pod sandbox', { podSandboxId: s.id, error: String(err) });
      return undefined;
    }
  }));
  return { podMetrics: pods.filter((p): p is PodSandboxMetrics => p !== undefined) };
}
