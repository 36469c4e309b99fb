/**
 * Which RuntimeHandler a CRI handler name belongs to. Nothing in the API stops two RuntimeHandlers from
 * naming the same `spec.handler`; the older one keeps it (by creationTimestamp, then name, so that a newcomer
 * never takes over a working handler) and the others are reported Degraded by the leader. The node and the
 * leader both decide with this, so they agree.
 */
import type { ObjectMeta, RuntimeHandler } from '../api/types';

export const isLive = (rh: RuntimeHandler): boolean => rh.metadata.deletionTimestamp === undefined;

/** metadata.generation; the API server always sets it, 1 stands in for an object built by hand. */
export const generationOf = (rh: RuntimeHandler): number => rh.metadata.generation ?? 1;

const createdAt = (m: ObjectMeta): string => m.creationTimestamp ?? '';

/** Older first; objects without a creation time sort by name only. */
export function byAge(a: RuntimeHandler, b: RuntimeHandler): number {
  const ta = createdAt(a.metadata);
  const tb = createdAt(b.metadata);
  if (ta !== tb && ta !== '' && tb !== '') return Date.parse(ta) - Date.parse(tb) || (ta < tb ? -1 : 1);
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

/** CRI handler name → the live RuntimeHandler that owns it. */
export function handlerOwners(runtimeHandlers: readonly RuntimeHandler[]): ReadonlyMap<string, RuntimeHandler> {
  const owners = new Map<string, RuntimeHandler>();
  for (const rh of runtimeHandlers.filter(isLive).sort(byAge)) if (!owners.has(rh.spec.handler)) owners.set(rh.spec.handler, rh);
  return owners;
}
