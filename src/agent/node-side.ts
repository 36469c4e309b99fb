/**
 * What the control loop needs from its node, whatever the node's CRI is: what is configured there and the
 * node's facts, and the three node-local operations. node/berthd-node.ts is the berthd implementation.
 */
import type { CanaryResult, RuntimeHandler } from './api/types';
import type { ConditionSpec, ConfigureHandler, ConfiguredHandler, NodeFacts, RunCanary } from './reconcile';

export interface NodeObservation {
  configured: ConfiguredHandler[];
  facts: NodeFacts;
  /** Node-level conditions (the CRI's health…), besides the HandlersReady the reconciler adds. */
  conditions: ConditionSpec[];
}

export interface NodeSide {
  observe(): Promise<NodeObservation>;
  configure(action: ConfigureHandler): Promise<void>;
  unconfigure(handler: string): Promise<void>;
  /** `owner` is the RuntimeHandler that configured the handler (for its runtime options). */
  canary(action: RunCanary, owner: RuntimeHandler | undefined): Promise<CanaryResult>;
}
