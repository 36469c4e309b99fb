/**
 * Which pods on a node keep a handler in use, so that it is not unconfigured under them. A pod names a
 * RuntimeClass, not a handler: the RuntimeClasses that exist say which handler each name means, and for a
 * RuntimeClass the leader has already deleted (it does so as soon as its RuntimeHandler is being deleted) the
 * RuntimeHandlers' templates still say it. A pod whose RuntimeClass is found in neither might run on any
 * handler, so it keeps every handler in use: unconfiguring a handler under a running pod breaks it, and
 * waiting is visible (phase Removing names the pod).
 */
import type { PodUse, RuntimeHandler } from '../api/types';

const FINISHED: ReadonlySet<PodUse['phase']> = new Set(['Succeeded', 'Failed']);

/** RuntimeClass name → handler: the existing classes first, then the RuntimeHandlers' own templates. */
export function classHandlers(existing: Readonly<Record<string, string>>, runtimeHandlers: readonly RuntimeHandler[]): ReadonlyMap<string, string> {
  const map = new Map(Object.entries(existing));
  for (const rh of runtimeHandlers) if (!map.has(rh.spec.runtimeClass.name)) map.set(rh.spec.runtimeClass.name, rh.spec.handler);
  return map;
}

export interface PodUser {
  readonly pod: string;
  /** Set when the pod's RuntimeClass is unknown, so it only might use the handler. */
  readonly unknownClass?: string;
}

/** The not-finished pods that use (or might use) `handler`, by namespace/name. */
export function podsUsing(handler: string, pods: readonly PodUse[], classes: ReadonlyMap<string, string>): PodUser[] {
  const users: PodUser[] = [];
  for (const p of pods) {
    if (FINISHED.has(p.phase) || p.runtimeClassName === undefined || p.runtimeClassName === '') continue;
    const h = classes.get(p.runtimeClassName);
    if (h === handler) users.push({ pod: `${p.namespace}/${p.name}` });
    else if (h === undefined) users.push({ pod: `${p.namespace}/${p.name}`, unknownClass: p.runtimeClassName });
  }
  return users.sort((a, b) => (a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0));
}

const SHOWN = 5;

/** "in use by 2 pods: default/a, default/b"; a pod of an unknown RuntimeClass says so. */
export function describeUsers(users: readonly PodUser[]): string {
  const named = users.slice(0, SHOWN).map((u) => (u.unknownClass ? `${u.pod} (RuntimeClass ${u.unknownClass} not found, it may use this handler)` : u.pod));
  const more = users.length > SHOWN ? ` and ${users.length - SHOWN} more` : '';
  return `in use by ${users.length} pod${users.length === 1 ? '' : 's'}: ${named.join(', ')}${more}`;
}
