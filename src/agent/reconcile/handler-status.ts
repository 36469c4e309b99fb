/**
 * A RuntimeHandler's status as the leader aggregates it from the nodes' BerthNodes: how many nodes should
 * have the handler, how many have it Ready at the current generation, which failed and why, the rollout,
 * and the Ready / Progressing / Degraded conditions (metav1 semantics, each with observedGeneration).
 * - Ready: every node that should have the handler has it Ready at the current generation, and its
 *   RuntimeClass is in place (no selected node at all is Ready too, with reason NoMatchingNodes).
 * - Progressing: True while nodes are still getting the current generation; False when complete, or when
 *   the rollout is paused by a node that failed at the current generation.
 * - Degraded: a node Failed (at any generation), the RuntimeClass is someone else's, or another
 *   RuntimeHandler already owns the handler name.
 */
import type { Condition, FailingNode, NodeHandlerState, RuntimeHandler, RuntimeHandlerStatus } from '../api/types';
import { generationOf } from './claims';
import { conditionsFrom, type ConditionSpec } from './condition';
import type { ClassProblem } from './runtime-class';
import { planRollout, readyAt, type NodeStanding } from './rollout';

/** Lists in messages and failingNodes stay short at 500 nodes; the counts say the rest. */
const LISTED = 10;

const list = (items: readonly string[]): string => items.slice(0, LISTED).join(', ') + (items.length > LISTED ? ` and ${items.length - LISTED} more` : '');
const nodesWord = (n: number): string => `${n} node${n === 1 ? '' : 's'}`;

function status(rh: RuntimeHandler, counts: Omit<RuntimeHandlerStatus, 'conditions' | 'observedGeneration'>, specs: readonly ConditionSpec[], now: Date): RuntimeHandlerStatus {
  const generation = generationOf(rh);
  const conditions: Condition[] = conditionsFrom(rh.status?.conditions, specs.map((c) => ({ ...c, observedGeneration: generation })), now);
  return { observedGeneration: generation, conditions, ...counts };
}

/** A live RuntimeHandler that owns its handler name; `standings`: the nodes its selector matches. */
export function liveStatus(rh: RuntimeHandler, standings: readonly NodeStanding[], classProblem: ClassProblem | undefined, now: Date): RuntimeHandlerStatus {
  const generation = generationOf(rh);
  const plan = planRollout(generation, standings, rh.status?.rollout, rh.spec.maxUnavailable);
  const ready = standings.filter((s) => readyAt(s.state, generation)).length;
  const failed = standings.filter((s): s is NodeStanding & { state: NodeHandlerState } => s.state?.phase === 'Failed');
  const failingNodes: FailingNode[] = failed.slice(0, LISTED).map((s) => ({ node: s.node, reason: s.state.generation === generation ? 'Failed' : 'FailedAtOlderGeneration', message: s.state.message }));
  const desired = standings.length;
  const progress = `${ready} of ${nodesWord(desired)} ready at generation ${generation}`;

  const degraded: ConditionSpec = classProblem
    ? { type: 'Degraded', status: 'True', reason: classProblem.reason, message: classProblem.message }
    : failed.length > 0
      ? { type: 'Degraded', status: 'True', reason: 'NodesFailed', message: `${nodesWord(failed.length)} failed: ${list(failed.map((s) => `${s.node} (${s.state.message})`))}` }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' };
  const progressing: ConditionSpec = plan.complete
    ? { type: 'Progressing', status: 'False', reason: 'Complete', message: progress }
    : plan.paused
      ? { type: 'Progressing', status: 'False', reason: 'RolloutPaused', message: `${progress}; no more nodes are let in while a node failed at generation ${generation}` }
      : { type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${progress}; ${plan.unavailable} unavailable of at most ${plan.maxUnavailable}` };
  const readyCond: ConditionSpec = classProblem
    ? { type: 'Ready', status: 'False', reason: classProblem.reason, message: classProblem.message }
    : plan.complete
      ? { type: 'Ready', status: 'True', reason: desired === 0 ? 'NoMatchingNodes' : 'AllNodesReady', message: desired === 0 ? 'no node matches spec.nodeSelector' : progress }
      : { type: 'Ready', status: 'False', reason: 'NodesNotReady', message: progress };

  return status(
    rh,
    { desiredNodes: desired, readyNodes: ready, failedNodes: failed.length, failingNodes, ...(plan.nodes.length > 0 ? { rollout: { generation, nodes: plan.nodes } } : {}) },
    [readyCond, progressing, degraded],
    now,
  );
}

/** A live RuntimeHandler whose handler name an older one owns: it does nothing until that changes. */
export function duplicateStatus(rh: RuntimeHandler, owner: string, now: Date): RuntimeHandlerStatus {
  const message = `handler ${rh.spec.handler} is already provided by RuntimeHandler ${owner}; this one is not applied`;
  return status(
    rh,
    { desiredNodes: 0, readyNodes: 0, failedNodes: 0, failingNodes: [] },
    [
      { type: 'Ready', status: 'False', reason: 'DuplicateHandler', message },
      { type: 'Progressing', status: 'False', reason: 'DuplicateHandler', message },
      { type: 'Degraded', status: 'True', reason: 'DuplicateHandler', message },
    ],
    now,
  );
}

/** A RuntimeHandler being deleted, while `holding` (node, its state) still have the handler. */
export function deletingStatus(rh: RuntimeHandler, holding: readonly { node: string; state: NodeHandlerState }[], now: Date): RuntimeHandlerStatus {
  const why = `waiting for ${nodesWord(holding.length)} to remove handler ${rh.spec.handler}: ${list(holding.map((h) => `${h.node} (${h.state.phase}: ${h.state.message})`))}`;
  return status(
    rh,
    { desiredNodes: 0, readyNodes: 0, failedNodes: 0, failingNodes: [] },
    [
      { type: 'Ready', status: 'False', reason: 'Deleting', message: why },
      { type: 'Progressing', status: 'True', reason: 'Deleting', message: why },
      { type: 'Degraded', status: 'False', reason: 'Deleting', message: '' },
    ],
    now,
  );
}
