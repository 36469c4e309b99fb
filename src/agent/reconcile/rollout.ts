/**
 * The rollout of a changed RuntimeHandler: which nodes the leader lets apply the current generation now.
 *
 * Availability as Deployments count it: a node is available when its handler is Ready at the current
 * generation, or Ready at another generation and not let in yet (it still serves the configuration it has).
 * Every other node that should have the handler is unavailable: let in and not yet Ready at the current
 * generation, Failed, Pending, Removing, not reported at all. New nodes are let in, in name order, while the
 * unavailable ones number fewer than maxUnavailable. Nodes that are unavailable already (say Failed at an
 * older generation, which the new one may fix) are let in first, and cost nothing. Nodes once let in stay in
 * the list until every node is Ready at the current generation: a node that was let in must not read itself
 * out again before its new configuration is in place. While any node has Failed at the current generation,
 * no new node is let in (the new generation looks bad; the RuntimeHandler is Degraded).
 */
import type { NodeHandlerState, RuntimeHandlerStatus } from '../api/types';

/** maxUnavailable as a count: an int, or a percentage of `desired` rounded down; at least 1 either way, as no surge exists to make progress with 0. */
export function maxUnavailableCount(value: number | `${number}%`, desired: number): number {
  const n = typeof value === 'number' ? Math.floor(value) : Math.floor((Number(value.slice(0, -1)) * desired) / 100);
  return Number.isFinite(n) ? Math.max(1, n) : 1;
}

/** One node that should have the handler, and the state its BerthNode reports for it (if any). */
export interface NodeStanding {
  readonly node: string;
  readonly state?: NodeHandlerState;
}

export interface RolloutPlan {
  /** Let-in nodes, sorted; empty when the rollout is complete or there is nothing to let in. */
  readonly nodes: readonly string[];
  /** All nodes Ready at the current generation. */
  readonly complete: boolean;
  /** Some node Failed at the current generation, so no new node is let in. */
  readonly paused: boolean;
  readonly unavailable: number;
  readonly maxUnavailable: number;
}

export const readyAt = (state: NodeHandlerState | undefined, generation: number): boolean => state?.phase === 'Ready' && state.generation === generation;

export function planRollout(
  generation: number,
  standings: readonly NodeStanding[],
  previous: RuntimeHandlerStatus['rollout'],
  maxUnavailable: number | `${number}%`,
): RolloutPlan {
  const limit = maxUnavailableCount(maxUnavailable, standings.length);
  const sorted = [...standings].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  const complete = sorted.every((s) => readyAt(s.state, generation));
  const paused = sorted.some((s) => s.state?.phase === 'Failed' && s.state.generation === generation);
  const letIn = new Set(previous?.generation === generation ? previous.nodes : []);
  const unavailableNow = (s: NodeStanding): boolean => !readyAt(s.state, generation) && (letIn.has(s.node) || s.state?.phase !== 'Ready');
  // Nodes without a state configure at once (node.ts); nodes at the current generation need no letting in.
  const candidates = sorted.filter((s) => !letIn.has(s.node) && s.state !== undefined && s.state.generation !== generation);
  let unavailable = sorted.filter(unavailableNow).length;
  if (!complete && !paused) {
    for (const s of candidates.filter(unavailableNow)) letIn.add(s.node);
    for (const s of candidates.filter((c) => !unavailableNow(c))) {
      if (unavailable >= limit) break;
      letIn.add(s.node);
      unavailable++;
    }
  }
  const nodes = complete ? [] : sorted.filter((s) => letIn.has(s.node)).map((s) => s.node);
  return { nodes, complete, paused, unavailable, maxUnavailable: limit };
}
