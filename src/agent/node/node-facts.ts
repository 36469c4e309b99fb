/**
 * The NodeFacts a node side reports, whatever its CRI: the stack's version, berthd's health and kubelet's
 * endpoint and cgroup driver. Both sides (berthd-node.ts, containerd-node.ts) build them here, so that a
 * BerthNode says the same things the same way on either kind of node; a side only says which runtime a node
 * counts as when kubelet's files name no endpoint.
 */
import type { NodeRuntime } from '../api/types';
import type { NodeFacts } from '../reconcile';
import type { BerthdHealth } from '../service/health';
import { runtimeOf, type KubeletFacts } from './kubelet';

export function nodeFacts(o: { stackVersion: string; berthd: BerthdHealth; kubelet: KubeletFacts; runtimeWithoutEndpoint: NodeRuntime }): NodeFacts {
  const endpoint = o.kubelet.runtimeEndpoint;
  return {
    stackVersion: o.stackVersion,
    berthd: { healthy: o.berthd.healthy, version: o.berthd.version, message: o.berthd.message },
    kubeletRuntimeEndpoint: endpoint,
    runtime: endpoint ? runtimeOf(endpoint) : o.runtimeWithoutEndpoint,
    cgroupDriver: o.kubelet.cgroupDriver,
  };
}
