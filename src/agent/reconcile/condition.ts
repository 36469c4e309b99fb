/**
 * Conditions as metav1 means them: lastTransitionTime moves only when status does. (A local helper: the
 * shared one in api/conditions.ts was being written at the same time; the two can be merged.)
 */
import type { Condition } from '../api/types';

export type ConditionSpec = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 at second precision, as the API server stores metav1.Time (a millisecond form would read back different). */
export const rfc3339 = (t: Date): string => t.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `specs` in their order, each keeping the current lastTransitionTime of its type when its status is unchanged. */
export function conditionsFrom(current: readonly Condition[] | undefined, specs: readonly ConditionSpec[], now: Date): Condition[] {
  return specs.map((spec) => {
    const prev = current?.find((c) => c.type === spec.type);
    return { ...spec, lastTransitionTime: prev && prev.status === spec.status ? prev.lastTransitionTime : rfc3339(now) };
  });
}
