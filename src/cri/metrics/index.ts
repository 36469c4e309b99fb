/** cadvisor-style pod and container metrics read from cgroups and /proc (ListPodSandboxMetrics). */
export { collectPod, selfMounts, type CollectOptions } from './collect';
export { metricDescriptors } from './descriptors';
