/** Where a NodeMigration stands, as the plugin needs to know it (the agent's phase machine decides the phases). */
import type { MigrationPhase, NodeMigration } from '../agent';

export const TERMINAL_PHASES: readonly MigrationPhase[] = ['Completed', 'RolledBack', 'Failed'];
/** The way through when all goes well, for the step counter ([3/7]). */
export const FORWARD_PHASES: readonly MigrationPhase[] = ['Pending', 'Preflight', 'Cordoned', 'Drained', 'Switching', 'Verifying', 'Completed'];

export const isTerminal = (p: MigrationPhase): boolean => TERMINAL_PHASES.includes(p);
/** A migration whose agent has not written a status yet is Pending. */
export const phaseOf = (m: NodeMigration): MigrationPhase => m.status?.phase ?? 'Pending';
export const lastMessage = (m: NodeMigration): string => m.status?.steps.at(-1)?.message ?? '';
