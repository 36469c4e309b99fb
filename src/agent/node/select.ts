/**
 * Which NodeSide the agent drives: the one for the CRI runtime kubelet uses on this node (kubelet's endpoint
 * decides; a node whose kubelet names no endpoint is taken as berthd's, the stack the agent installs).
 * containerd's nodes (not migrated yet) get their handlers in containerd's config; cri-dockerd's and CRI-O's
 * none (kubelet would not see them); every other one in berthd's.
 */
import type { NodeSide } from '../node-side';
import { BerthdNode } from './berthd-node';
import { ContainerdNode } from './containerd-node';
import { ForeignCriNode } from './foreign-cri-node';
import { restartFor } from './host-units';
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
  /** How the host's services are driven (containerd's restart); default systemd. */
  serviceManager?: 'systemd' | 'direct';
}

export interface SelectedNodeSide {
  side: NodeSide & { close(): void };
  runtime: string;
  /** The CRI socket the node side talks to, as the agent sees it. */
  socket: string;
  /**
   * For uninstall: takes out what Berth added to the node's own CRI (containerd's handler config); berthd's
   * drop-ins go with the rest of the stack.
   */
  removeHandlers(): Promise<void>;
}

export function nodeSideFor(o: NodeSideOptions): SelectedNodeSide {
  const { runtimeEndpoint } = kubeletFacts(o.host);
  const runtime = runtimeEndpoint ? runtimeOf(runtimeEndpoint) : 'berthd';
  const berthd = o.host.inAgent('/run/berth/berthd.sock');
  if (runtime === 'containerd') {
    const socket = socketOf(runtimeEndpoint, o.host);
    const side = new ContainerdNode({
      ...o, socket, hostSocket: runtimeEndpoint.replace(/^unix:\/\//, ''), berthdSocket: berthd,
      restart: restartFor(o.serviceManager ?? 'systemd', o.host),
    });
    return { runtime, socket, side, removeHandlers: () => side.uninstall() };
  }
  const berthdSocket = runtime === 'berthd' && runtimeEndpoint ? socketOf(runtimeEndpoint, o.host) : berthd;
  const berthdSide = new BerthdNode({ ...o, runtimesDir: o.host.inAgent('/etc/berth/runtimes.d'), berthdSocket });
  if (runtime === 'cri-dockerd' || runtime === 'cri-o') {
    return { runtime, socket: socketOf(runtimeEndpoint, o.host), side: new ForeignCriNode(berthdSide, runtime), removeHandlers: async () => undefined };
  }
  return { runtime: 'berthd', socket: berthdSocket, side: berthdSide, removeHandlers: async () => undefined };
}
