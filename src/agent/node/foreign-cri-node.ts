/**
 * The NodeSide of a node whose kubelet runs a CRI the agent cannot add handlers to (cri-dockerd, CRI-O): the
 * stack is there and berthd's health is reported, but no handler is configured, so no canary runs and no node
 * label claims a handler kubelet's runtime does not have. Each RuntimeHandler for such a node fails with a
 * reason that says what to do (migrate the node onto berthd, issue 09).
 */
import { BerthError } from '../../common/errors';
import type { CanaryResult, NodeRuntime } from '../api/types';
import type { NodeObservation, NodeSide } from '../node-side';
import type { BerthdNode } from './berthd-node';

export class ForeignCriNode implements NodeSide {
  constructor(private readonly berthd: BerthdNode, private readonly runtime: NodeRuntime) {}

  async observe(): Promise<NodeObservation> {
    const seen = await this.berthd.observe();
    return {
      ...seen,
      // Drop-ins berthd may have are not what kubelet runs pods with here.
      configured: [],
      conditions: [...seen.conditions, {
        type: 'CriSupported', status: 'False', reason: 'ForeignCri',
        message: `kubelet uses ${this.runtime}; runtime handlers need berthd or containerd: migrate the node (kubectl berth migrate)`,
      }],
    };
  }

  async configure(): Promise<void> {
    throw new BerthError('FailedPrecondition', `kubelet on this node uses ${this.runtime}, which takes no runtime handlers from Berth; migrate the node onto berthd first (kubectl berth migrate)`);
  }

  async unconfigure(): Promise<void> {
    // Nothing was configured.
  }

  async canary(): Promise<CanaryResult> {
    return { passed: false, time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'), message: `kubelet uses ${this.runtime}: no handler to test` };
  }

  close(): void {
    this.berthd.close();
  }
}
