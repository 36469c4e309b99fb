/** The reconcilers and their action contract, for the agent's I/O edge. */
export type * from './actions';
export { reconcileNode, DEFAULT_RETRY_AFTER_MS, HANDLERS_READY } from './node';
export type { CanaryRecord, ConfiguredHandler, NodeFacts, NodeReconcileInput, OperationFailure } from './node';
export { reconcileCluster } from './cluster';
export type { ClusterReconcileInput } from './cluster';
export type { ConditionSpec } from './condition';
