/**
 * What the leader (the one agent holding the Lease) does: finalizers, RuntimeClasses (runtime-class.ts),
 * RuntimeHandler status and rollout (handler-status.ts, rollout.ts). A pure function of the cluster as the
 * leader's informers see it.
 *
 * Deletion: a RuntimeHandler with a deletionTimestamp loses its RuntimeClass at once (so no new pod asks for
 * the handler) and keeps FINALIZER until no BerthNode lists its handler in any phase; the nodes unconfigure it
 * once no pod uses it (node.ts). Until then a condition names the nodes and what they report. Two
 * exceptions, so that a deletion cannot hang for a reason nobody can fix: the BerthNode of a Node that no
 * longer exists does not count, and a handler name another live RuntimeHandler owns is that one's now.
 *
 * Actions come in this order: finalizers added, RuntimeClasses deleted, created and updated, statuses
 * written, finalizers removed. Statuses are written only when they differ from what is there.
 */
import type { BerthNode, Node, NodeHandlerState, RuntimeClass, RuntimeHandler, RuntimeHandlerStatus } from '../api/types';
import { FINALIZER } from '../api/types';
import type { ClusterAction, Plan } from './actions';
import { handlerOwners, isLive } from './claims';
import { sameJson } from './diff';
import { deletingStatus, duplicateStatus, liveStatus } from './handler-status';
import type { NodeStanding } from './rollout';
import { planRuntimeClasses } from './runtime-class';
import { matchesSelector } from './selector';

export interface ClusterReconcileInput {
  readonly runtimeHandlers: readonly RuntimeHandler[];
  readonly runtimeClasses: readonly RuntimeClass[];
  readonly berthNodes: readonly BerthNode[];
  readonly nodes: readonly Node[];
  readonly now: Date;
}

const byName = <T extends { metadata: { name: string } }>(a: T, b: T): number => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

export function reconcileCluster(input: ClusterReconcileInput): Plan<ClusterAction> {
  const rhs = [...input.runtimeHandlers].sort(byName);
  const owners = handlerOwners(rhs);
  const ownsHandler = (rh: RuntimeHandler): boolean => owners.get(rh.spec.handler) === rh;
  const nodes = [...input.nodes].sort(byName);
  const nodeNames = new Set(nodes.map((n) => n.metadata.name));
  // Only BerthNodes of existing Nodes count, for readiness and for deletion alike.
  const stateOn = new Map<string, readonly NodeHandlerState[]>();
  for (const bn of input.berthNodes) if (nodeNames.has(bn.metadata.name)) stateOn.set(bn.metadata.name, bn.status?.handlers ?? []);
  const stateOf = (node: string, handler: string): NodeHandlerState | undefined => stateOn.get(node)?.find((s) => s.handler === handler);

  const classes = planRuntimeClasses(rhs.filter((rh) => isLive(rh) && ownsHandler(rh) && rh.spec.runtimeClass.create), input.runtimeClasses);

  const addFinalizers: ClusterAction[] = [];
  const statuses: ClusterAction[] = [];
  const removeFinalizers: ClusterAction[] = [];
  for (const rh of rhs) {
    const name = rh.metadata.name;
    const hasFinalizer = rh.metadata.finalizers?.includes(FINALIZER) ?? false;
    let next: RuntimeHandlerStatus;
    if (isLive(rh)) {
      if (!hasFinalizer) addFinalizers.push({ kind: 'addFinalizer', name });
      const owner = owners.get(rh.spec.handler);
      if (owner && owner !== rh) next = duplicateStatus(rh, owner.metadata.name, input.now);
      else {
        const standings: NodeStanding[] = nodes
          .filter((n) => matchesSelector(rh.spec.nodeSelector, n.metadata.labels))
          .map((n) => ({ node: n.metadata.name, state: stateOf(n.metadata.name, rh.spec.handler) }));
        next = liveStatus(rh, standings, classes.problems.get(name), input.now);
      }
    } else {
      if (!hasFinalizer) continue;
      const holding = owners.has(rh.spec.handler)
        ? []
        : [...stateOn.keys()].sort().flatMap((node) => {
            const state = stateOf(node, rh.spec.handler);
            return state ? [{ node, state }] : [];
          });
      if (holding.length === 0) {
        removeFinalizers.push({ kind: 'removeFinalizer', name });
        continue;
      }
      next = deletingStatus(rh, holding, input.now);
    }
    if (!sameJson(next, rh.status)) statuses.push({ kind: 'writeRuntimeHandlerStatus', name, status: next });
  }
  return { actions: [...addFinalizers, ...classes.actions, ...statuses, ...removeFinalizers] };
}
