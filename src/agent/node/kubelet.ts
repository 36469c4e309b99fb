/**
 * What the node's kubelet is configured with, as far as the agent cares: its CRI endpoint (which runtime the
 * node uses) and its cgroup driver (berthd's must match), read from kubelet's files as install/kubelet-cgroup.ts
 * finds and orders them (a flag wins over the KubeletConfiguration file, as in kubelet).
 */
import type { NodeRuntime } from '../api/types';
import { parseKubeletCgroupDriver, parseKubeletRuntimeEndpoint, readKubeletSources, type CgroupDriver } from '../install/kubelet-cgroup';
import type { HostExec } from './host-exec';

export interface KubeletFacts {
  /** unix:///… as kubelet has it ('' when nothing says). */
  runtimeEndpoint: string;
  cgroupDriver: CgroupDriver;
}

export function kubeletFacts(host: HostExec): KubeletFacts {
  const sources = readKubeletSources(host);
  let cgroupDriver: CgroupDriver;
  try {
    cgroupDriver = parseKubeletCgroupDriver(sources).driver;
  } catch {
    // A driver kubelet itself would refuse: it does not run, and its default is what it would assume.
    cgroupDriver = 'cgroupfs';
  }
  return { runtimeEndpoint: parseKubeletRuntimeEndpoint(sources), cgroupDriver };
}

/** Which runtime an endpoint is, by its socket's name. */
export function runtimeOf(endpoint: string): NodeRuntime {
  if (/berthd\.sock$/.test(endpoint)) return 'berthd';
  if (/containerd\.sock$/.test(endpoint)) return 'containerd';
  if (/cri-dockerd\.sock$/.test(endpoint)) return 'cri-dockerd';
  if (/crio\.sock$/.test(endpoint)) return 'cri-o';
  return 'unknown';
}

/** The endpoint's socket path as the agent sees it. */
export const socketOf = (endpoint: string, host: HostExec): string => host.fromHostFile(endpoint.replace(/^unix:\/\//, ''));
