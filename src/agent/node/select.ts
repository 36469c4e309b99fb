/**
 * Which NodeSide the agent drives: the one for the CRI runtime kubelet uses on this node (kubelet's endpoint
 * decides; a node whose kubelet names no endpoint is taken as berthd's, the stack the agent installs).
 */
import type { NodeSide } from '../node-side';
import { BerthdNode } from './berthd-node';
import type { HostExec } from './host-exec';
import { kubeletFacts, runtimeOf, socketOf } from './kubelet';

export interface NodeSideOptions {
  host: HostExec;
  stackVersion: string;
  /** The installed stack's bin/, as a host path. */
  stackBin: string;
  /** berth-canary, as the agent sees it. */
  canaryProgram: string;
  /** A host directory for canary bundles. */
  workDir: string;
}

export interface SelectedNodeSide {
  side: NodeSide & { close(): void };
  runtime: string;
  /** The CRI socket the node side talks to, as the agent sees it. */
  socket: string;
}

export function nodeSideFor(o: NodeSideOptions): SelectedNodeSide {
  const { runtimeEndpoint } = kubeletFacts(o.host);
  const runtime = runtimeEndpoint ? runtimeOf(runtimeEndpoint) : 'berthd';
  const berthdSocket = runtime === 'berthd' && runtimeEndpoint ? socketOf(runtimeEndpoint, o.host) : o.host.inAgent('/run/berth/berthd.sock');
  return {
    runtime: 'berthd', socket: berthdSocket,
    side: new BerthdNode({ ...o, runtimesDir: o.host.inAgent('/etc/berth/runtimes.d'), berthdSocket }),
  };
}
