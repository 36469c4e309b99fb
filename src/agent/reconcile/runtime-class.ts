/**
 * The RuntimeClasses the leader keeps: one per live RuntimeHandler whose runtimeClass.create is set, with
 * its handler, overhead, tolerations and a nodeSelector on the ready label, marked with OWNER_LABEL. A class
 * of that name without our label is someone else's and never touched (the RuntimeHandler is Degraded
 * instead); one with our label whose RuntimeHandler is gone, being deleted, no longer wants it or does not own
 * its handler name is deleted.
 */
import type { RuntimeClass, RuntimeHandler, Toleration } from '../api/types';
import { HANDLER_LABEL_READY, OWNER_LABEL, handlerLabel } from '../api/types';
import { quantityEquals } from '../api/quantity';
import type { ClusterAction } from './actions';
import { byAge } from './claims';
import { sameJson } from './diff';

/** What the class of `rh` should be. */
export function desiredRuntimeClass(rh: RuntimeHandler): RuntimeClass {
  const t = rh.spec.runtimeClass;
  const podFixed = t.overheadPodFixed && Object.keys(t.overheadPodFixed).length > 0 ? t.overheadPodFixed : undefined;
  const tolerations = t.tolerations && t.tolerations.length > 0 ? t.tolerations : undefined;
  return {
    metadata: { name: t.name, labels: { [OWNER_LABEL]: rh.metadata.name } },
    handler: rh.spec.handler,
    ...(podFixed ? { overhead: { podFixed } } : {}),
    scheduling: { nodeSelector: { [handlerLabel(rh.spec.handler)]: HANDLER_LABEL_READY }, ...(tolerations ? { tolerations } : {}) },
  };
}

/** Same amounts however spelled: the API server rewrites quantities in canonical form. */
function sameOverhead(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  return [...keys].every((k) => k in x && k in y && (x[k] === y[k] || quantityEquals(x[k], y[k])));
}

const tolerationsOf = (rc: RuntimeClass): readonly Toleration[] => rc.scheduling?.tolerations ?? [];

/** Whether `existing` already is what `want` says (labels other than OWNER_LABEL do not matter). */
export function sameRuntimeClass(existing: RuntimeClass, want: RuntimeClass): boolean {
  return (
    existing.handler === want.handler &&
    existing.metadata.labels?.[OWNER_LABEL] === want.metadata.labels?.[OWNER_LABEL] &&
    sameOverhead(existing.overhead?.podFixed, want.overhead?.podFixed) &&
    sameJson(existing.scheduling?.nodeSelector ?? {}, want.scheduling?.nodeSelector ?? {}) &&
    sameJson(tolerationsOf(existing), tolerationsOf(want))
  );
}

/** Why a RuntimeHandler's class cannot be what it should. */
export interface ClassProblem {
  readonly reason: 'RuntimeClassNotOwned' | 'RuntimeClassConflict';
  readonly message: string;
}

export interface ClassPlan {
  /** Deletes first, then creates and updates: a class replaced (its handler is immutable) is deleted and created again. */
  readonly actions: readonly ClusterAction[];
  /** RuntimeHandler name → why its class is not in place. */
  readonly problems: ReadonlyMap<string, ClassProblem>;
}

/**
 * `wanting`: the live RuntimeHandlers that own their handler name and have runtimeClass.create. Two of them
 * naming the same class: the one that owns the existing class keeps it, else the oldest gets it.
 */
export function planRuntimeClasses(wanting: readonly RuntimeHandler[], existing: readonly RuntimeClass[]): ClassPlan {
  const byName = new Map(existing.map((rc) => [rc.metadata.name, rc]));
  const holder = new Map<string, RuntimeHandler>();
  for (const rh of [...wanting].sort(byAge)) {
    const name = rh.spec.runtimeClass.name;
    const isOwner = byName.get(name)?.metadata.labels?.[OWNER_LABEL] === rh.metadata.name;
    if (!holder.has(name) || isOwner) holder.set(name, rh);
  }
  const deletes: ClusterAction[] = [];
  const upserts: ClusterAction[] = [];
  const problems = new Map<string, ClassProblem>();
  const names = [...new Set([...byName.keys(), ...holder.keys()])].sort();
  for (const name of names) {
    const rc = byName.get(name);
    const rh = holder.get(name);
    const owner = rc?.metadata.labels?.[OWNER_LABEL];
    if (rc && owner === undefined) {
      if (rh) problems.set(rh.metadata.name, { reason: 'RuntimeClassNotOwned', message: `RuntimeClass ${name} exists and is not managed by Berth (it lacks the label ${OWNER_LABEL}); it is left alone` });
      continue;
    }
    if (!rh) {
      if (rc) deletes.push({ kind: 'deleteRuntimeClass', name });
      continue;
    }
    const body = desiredRuntimeClass(rh);
    // Ours, but for another RuntimeHandler (which no longer wants it), or with another handler (immutable): replace.
    if (rc && (owner !== rh.metadata.name || rc.handler !== body.handler)) deletes.push({ kind: 'deleteRuntimeClass', name });
    if (!rc || owner !== rh.metadata.name || rc.handler !== body.handler) upserts.push({ kind: 'createRuntimeClass', body });
    else if (!sameRuntimeClass(rc, body)) upserts.push({ kind: 'updateRuntimeClass', name, ...(rc.metadata.resourceVersion ? { resourceVersion: rc.metadata.resourceVersion } : {}), body });
  }
  for (const rh of wanting) {
    const h = holder.get(rh.spec.runtimeClass.name);
    if (h && h !== rh) problems.set(rh.metadata.name, { reason: 'RuntimeClassConflict', message: `RuntimeClass ${rh.spec.runtimeClass.name} belongs to RuntimeHandler ${h.metadata.name}` });
  }
  return { actions: [...deletes, ...upserts], problems };
}
