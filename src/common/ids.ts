/**
 * Object ids as the container world writes them: 64 lower-case hex digits, and the unique prefix a user may
 * type instead (crictl, docker and the CRI accept any unambiguous prefix).
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from './errors';

export const HEX_ID = /^[0-9a-f]{64}$/;

/** A fresh random 64-hex-digit id. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The one id among `ids` that equals `prefix` or starts with it; undefined when none does. An ambiguous
 * prefix is an error naming how many ids it matches, since guessing would act on the wrong object.
 */
export function findByPrefix(ids: Iterable<string>, prefix: string, what = 'id'): string | undefined {
  if (prefix === '') return undefined;
  let hit: string | undefined;
  let count = 0;
  for (const id of ids) {
    if (id === prefix) return id;
    if (id.startsWith(prefix)) {
      hit = id;
      count++;
    }
  }
  if (count > 1) throw new BerthError('InvalidArgument', `${what} prefix "${prefix}" is ambiguous: it matches ${count} ids`);
  return hit;
}
