/**
 * ListMetricDescriptors / ListPodSandboxMetrics: the kubelet's CRI-based metrics (PodAndContainerStatsFromCRI).
 * berthd reports its stats through ContainerStats instead and describes no extra metrics yet, which the
 * kubelet accepts (it then falls back to cAdvisor for what is missing).
 */
import type { ListMetricDescriptorsResponse, ListPodSandboxMetricsResponse } from '../types';

export function listMetricDescriptors(): ListMetricDescriptorsResponse {
  return { descriptors: [] };
}

export function listPodSandboxMetrics(): ListPodSandboxMetricsResponse {
  return { podMetrics: [] };
}
