/**
 * Whether a status we computed is the one already written, so that a steady state writes nothing. JSON
 * semantics (an undefined field is an absent one); conditions compare as a set keyed by type, since the API
 * server does not promise to keep our order and a reorder is no change.
 */
import type { Condition } from '../api/types';

type Json = unknown;

function canonical(v: Json): Json {
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    if (items.every(isCondition)) return [...items].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
    return items;
  }
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, Json>)[k];
      if (x !== undefined) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

function isCondition(v: Json): v is Condition {
  return v !== null && typeof v === 'object' && typeof (v as Condition).type === 'string' && typeof (v as Condition).lastTransitionTime === 'string';
}

export const sameJson = (a: Json, b: Json): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
