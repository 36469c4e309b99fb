/**
 * metav1.Condition lists, kept the way the API conventions ask: one condition per type, and a condition's
 * lastTransitionTime moves only when its status changes (a new reason or message is no transition).
 */
import { invalid } from '../../common/errors';
import { CONDITION_REASON, CONDITION_TYPE, isRfc3339, MESSAGE } from './formats';
import { array, at, dropUndefined, integer, item, object, oneOf, optional, string, uniqueBy } from './read';
import type { Condition } from './types';

/** A condition as a reconciler states it; setCondition supplies the transition time. */
export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 at second precision, as metav1.Time is written. */
export const rfc3339 = (t: Date): string => t.toISOString().replace(/\.\d{3}Z$/, 'Z');

export const findCondition = (list: readonly Condition[], type: string): Condition | undefined => list.find((c) => c.type === type);

/**
 * `list` with `cond` set: replaced where its type already is (keeping the order), appended otherwise. The
 * transition time is the old one while the status stays, `now` when it changes or the type is new. When
 * nothing changes the same list comes back (`===`), so a caller can tell that there is nothing to write.
 */
export function setCondition(list: readonly Condition[], cond: ConditionUpdate, now: Date): readonly Condition[] {
  const i = list.findIndex((c) => c.type === cond.type);
  const old = i < 0 ? undefined : list[i];
  const next: Condition = {
    type: cond.type,
    status: cond.status,
    reason: cond.reason,
    message: cond.message,
    lastTransitionTime: old && old.status === cond.status ? old.lastTransitionTime : rfc3339(now),
    ...(cond.observedGeneration !== undefined ? { observedGeneration: cond.observedGeneration } : {}),
  };
  if (old && sameCondition(old, next)) return list;
  return i < 0 ? [...list, next] : list.map((c, j) => (j === i ? next : c));
}

/** Drops the condition of `type`; the same list when there is none. */
export function removeCondition(list: readonly Condition[], type: string): readonly Condition[] {
  return list.some((c) => c.type === type) ? list.filter((c) => c.type !== type) : list;
}

function sameCondition(a: Condition, b: Condition): boolean {
  return a.type === b.type && a.status === b.status && a.reason === b.reason && a.message === b.message
    && a.lastTransitionTime === b.lastTransitionTime && a.observedGeneration === b.observedGeneration;
}

/** `conditions` as read from an object's status: metav1.Condition items, one per type. */
export function parseConditions(v: unknown, field: string): readonly Condition[] {
  const list = array(v, field).map((x, i) => parseCondition(x, item(field, i)));
  return uniqueBy(list, (c) => c.type, field, 'type');
}

function parseCondition(v: unknown, field: string): Condition {
  const c = object(v, field);
  const lastTransitionTime = string(c.lastTransitionTime, at(field, 'lastTransitionTime'));
  if (!isRfc3339(lastTransitionTime)) throw invalid(at(field, 'lastTransitionTime'), `${JSON.stringify(lastTransitionTime)} is not an RFC 3339 time`);
  return dropUndefined({
    type: string(c.type, at(field, 'type'), CONDITION_TYPE),
    status: oneOf(c.status, at(field, 'status'), ['True', 'False', 'Unknown'] as const),
    reason: string(c.reason, at(field, 'reason'), CONDITION_REASON),
    message: string(c.message, at(field, 'message'), MESSAGE),
    lastTransitionTime,
    observedGeneration: optional(c.observedGeneration, (x) => integer(x, at(field, 'observedGeneration'), { min: 0 })),
  });
}

/** The wire form: the same fields (metav1.Condition is flat in types.ts too). */
export const conditionsJson = (list: readonly Condition[]): Condition[] => list.map((c) => dropUndefined({ ...c }));
