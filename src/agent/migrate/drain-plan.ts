/**
 * Which pods a migration's drain evicts, with kubectl drain's rules: DaemonSet pods and static (mirror) pods are
 * left (kubelet restarts them on the new runtime), finished pods are left, a pod with emptyDir data is evicted
 * only with drain.deleteEmptyDirData, a pod no controller owns only with drain.force (nothing would recreate
 * it). A pod that may not be evicted stops the drain before any eviction, naming the pod and the option that
 * would allow it, so that a drain never leaves a node half emptied for a reason known in advance.
 */
import type { DrainOptions, ObjectRef } from '../api/migration-types';
import { isLive, type PodFacts } from './pod-facts';

export interface DrainPlan {
  /** The pods to evict (through the Eviction API, which honours PodDisruptionBudgets). */
  readonly evict: readonly ObjectRef[];
  /** Pods that stop the drain, each with why. */
  readonly refused: readonly { readonly pod: ObjectRef; readonly why: string }[];
  /** Pods left on the node, each with why (reported, not acted on). */
  readonly left: readonly { readonly pod: ObjectRef; readonly why: string }[];
}

const ref = (p: PodFacts): ObjectRef => ({ kind: 'Pod', namespace: p.namespace, name: p.name });

export function planDrain(pods: readonly PodFacts[], o: DrainOptions): DrainPlan {
  const evict: ObjectRef[] = [];
  const refused: { pod: ObjectRef; why: string }[] = [];
  const left: { pod: ObjectRef; why: string }[] = [];
  for (const p of pods) {
    if (!isLive(p)) left.push({ pod: ref(p), why: `finished (${p.phase})` });
    else if (p.mirror) left.push({ pod: ref(p), why: 'static pod: kubelet restarts it' });
    else if (p.owner?.kind === 'DaemonSet') left.push({ pod: ref(p), why: `DaemonSet ${p.owner.name}: restarts with kubelet` });
    else if (!p.owner && !o.force) refused.push({ pod: ref(p), why: 'no controller owns it, so nothing would recreate it (drain.force evicts it anyway)' });
    else if (p.emptyDir && !o.deleteEmptyDirData) refused.push({ pod: ref(p), why: 'it has emptyDir data, which eviction deletes (drain.deleteEmptyDirData allows it)' });
    else evict.push(ref(p));
  }
  return { evict, refused, left };
}
