/**
 * The pool's scheduling decision (`kubectl berth migrate --selector`), pure so that its one promise is tested
 * on its own: at most maxUnavailable migrations in progress at any time, started in node-name order, none
 * started after one ended Failed or RolledBack, and done only when nothing is in progress any more.
 */
import type { MigrationPhase } from '../agent';
import { isTerminal } from './phases';

export interface PoolPlan {
  /** Nodes whose NodeMigration to create now. */
  readonly start: readonly string[];
  /** Nothing is in progress and nothing more will start. */
  readonly done: boolean;
  /** A migration ended Failed or RolledBack: nothing more starts. */
  readonly halted: boolean;
  /** When halted: the nodes that will not be started. */
  readonly notStarted: readonly string[];
}

/** `phases`: the phase of each node's migration; a node not in it has none yet. */
export function planPool(nodes: readonly string[], phases: ReadonlyMap<string, MigrationPhase>, maxUnavailable: number): PoolPlan {
  const order = [...nodes].sort();
  const inProgress = order.filter((n) => { const p = phases.get(n); return p !== undefined && !isTerminal(p); }).length;
  const halted = order.some((n) => phases.get(n) === 'Failed' || phases.get(n) === 'RolledBack');
  const waiting = order.filter((n) => !phases.has(n));
  const start = halted ? [] : waiting.slice(0, Math.max(0, maxUnavailable - inProgress));
  return {
    start,
    done: inProgress === 0 && start.length === 0 && (halted || waiting.length === 0),
    halted,
    notStarted: halted ? waiting : [],
  };
}
