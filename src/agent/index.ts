/**
 * The agent component's public face: berth-agent's entry point (src/bin/berth-agent.ts), and the control loop
 * with its API client and node-side contract for tools that drive agents without a node (the agent benchmark's
 * simulated nodes).
 */
export { agentMain } from './main';
export { Agent, type AgentOptions, type PassResult } from './agent';
export { KubeClient } from './kube/client';
export type { NodeObservation, NodeSide } from './node-side';
export type { ConfigureHandler, RunCanary } from './reconcile';
export type { CanaryResult, RuntimeHandler } from './api/types';
export type { BerthNode } from './api/types';
export { parseBerthNode } from './api/validate';
export type { Finding, MigrationPhase, NodeMigration, NodeMigrationSpec } from './api/migration-types';
export { MIGRATION_PHASES } from './api/migration-types';
export { nodeMigrationJson, parseNodeMigration } from './api/validate-migration';
