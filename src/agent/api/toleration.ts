/** core/v1 Tolerations, as a RuntimeHandler's runtimeClass.scheduling carries them and a RuntimeClass has them. */
import { invalid } from '../../common/errors';
import { array, at, dropUndefined, integer, item, object, oneOf, optional, string } from './read';
import type { Toleration } from './types';

/** The rules of core/v1 that the CRD's CEL rules repeat, so a bad toleration never reaches a RuntimeClass. */
export function parseToleration(v: unknown, field: string): Toleration {
  const o = object(v, field);
  const t: Toleration = dropUndefined({
    key: optional(o.key, (x) => string(x, at(field, 'key'), { maxLength: 317 })),
    operator: optional(o.operator, (x) => oneOf(x, at(field, 'operator'), ['Exists', 'Equal'] as const)),
    value: optional(o.value, (x) => string(x, at(field, 'value'), { maxLength: 63 })),
    effect: optional(o.effect, (x) => oneOf(x, at(field, 'effect'), ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const)),
    tolerationSeconds: optional(o.tolerationSeconds, (x) => integer(x, at(field, 'tolerationSeconds'))),
  });
  if (!t.key && t.operator !== 'Exists') throw invalid(at(field, 'operator'), "must be Exists when the key is empty");
  if (t.operator === 'Exists' && t.value) throw invalid(at(field, 'value'), 'must be empty when the operator is Exists');
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') throw invalid(at(field, 'tolerationSeconds'), 'needs the effect NoExecute');
  return t;
}

export const parseTolerations = (v: unknown, field: string): readonly Toleration[] => array(v, field).map((x, i) => parseToleration(x, item(field, i)));

export const tolerationsJson = (list: readonly Toleration[]): Toleration[] => list.map((t) => dropUndefined({ ...t }));
