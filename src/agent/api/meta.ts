/** The metadata every object the agent reads carries, and the apiVersion/kind check of an object's head. */
import { invalid } from '../../common/errors';
import { isRfc3339, OBJECT_NAME } from './formats';
import { at, dropUndefined, integer, type JsonObject, object, optional, string, stringList, stringMap } from './read';
import type { ObjectMeta } from './types';

/**
 * `metadata` of an object. Only the name is required: the rest is absent on objects the API server has not
 * stored yet (tests, dry runs). Names follow the DNS-1123 subdomain rule that every kind here has.
 */
export function parseObjectMeta(v: unknown, field = 'metadata'): ObjectMeta {
  const m = object(v, field);
  const deletionTimestamp = optional(m.deletionTimestamp, (x) => string(x, at(field, 'deletionTimestamp')));
  if (deletionTimestamp !== undefined && !isRfc3339(deletionTimestamp)) throw invalid(at(field, 'deletionTimestamp'), `${JSON.stringify(deletionTimestamp)} is not an RFC 3339 time`);
  const creationTimestamp = optional(m.creationTimestamp, (x) => string(x, at(field, 'creationTimestamp')));
  if (creationTimestamp !== undefined && !isRfc3339(creationTimestamp)) throw invalid(at(field, 'creationTimestamp'), `${JSON.stringify(creationTimestamp)} is not an RFC 3339 time`);
  const meta: ObjectMeta = {
    name: string(m.name, at(field, 'name'), OBJECT_NAME),
    uid: optional(m.uid, (x) => string(x, at(field, 'uid'))),
    generation: optional(m.generation, (x) => integer(x, at(field, 'generation'), { min: 0 })),
    resourceVersion: optional(m.resourceVersion, (x) => string(x, at(field, 'resourceVersion'))),
    creationTimestamp,
    labels: optional(m.labels, (x) => stringMap(x, at(field, 'labels'))),
    annotations: optional(m.annotations, (x) => stringMap(x, at(field, 'annotations'))),
    finalizers: optional(m.finalizers, (x) => stringList(x, at(field, 'finalizers'))),
    deletionTimestamp,
  };
  return dropUndefined(meta);
}

/** Checks `apiVersion` and `kind` where the object has them (list items and watch events do; tests may not). */
export function expectKind(o: JsonObject, apiVersion: string, kind: string): void {
  if (o.apiVersion !== undefined && o.apiVersion !== apiVersion) throw invalid('apiVersion', `${JSON.stringify(o.apiVersion)} is not ${apiVersion}`);
  if (o.kind !== undefined && o.kind !== kind) throw invalid('kind', `${JSON.stringify(o.kind)} is not ${kind}`);
}
