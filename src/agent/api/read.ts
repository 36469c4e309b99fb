/**
 * Typed readers for JSON from the API server. Each takes the value and its field in dotted form and either
 * returns the value typed or throws `invalid(field, ...)`, so every parse error names the field at fault.
 * `null` counts as absent: the API server drops nulls from custom resources, and core objects omit empty
 * fields, so a null is never a meaningful value here.
 */
import { invalid } from '../../common/errors';

export type JsonObject = { readonly [key: string]: unknown };

/** `parent.key`, or `key` at the top. */
export const at = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);
export const item = (parent: string, index: number): string => `${parent}[${index}]`;

export const absent = (v: unknown): v is undefined | null => v === undefined || v === null;

const describe = (v: unknown): string => (Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v);

/** Every reader starts here: a missing value is reported as missing, not as being of the wrong type. */
function present(v: unknown, field: string): void {
  if (absent(v)) throw invalid(field, 'is required');
}

export function object(v: unknown, field: string): JsonObject {
  present(v, field);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(field, `must be an object, not ${describe(v)}`);
  return v as JsonObject;
}

export function array(v: unknown, field: string): readonly unknown[] {
  present(v, field);
  if (!Array.isArray(v)) throw invalid(field, `must be an array, not ${describe(v)}`);
  return v;
}

export interface StringRules {
  /** At least one character. */
  readonly nonEmpty?: boolean;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  /** What `pattern` means, for the error. */
  readonly patternName?: string;
}

export function string(v: unknown, field: string, rules: StringRules = {}): string {
  present(v, field);
  if (typeof v !== 'string') throw invalid(field, `must be a string, not ${describe(v)}`);
  if (rules.nonEmpty && v === '') throw invalid(field, 'must not be empty');
  if (rules.maxLength !== undefined && v.length > rules.maxLength) throw invalid(field, `must be at most ${rules.maxLength} characters (it has ${v.length})`);
  if (rules.pattern && !rules.pattern.test(v)) throw invalid(field, `${JSON.stringify(v)} is not ${rules.patternName ?? `matching ${rules.pattern.source}`}`);
  return v;
}

export function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
  const s = string(v, field);
  if (!(values as readonly string[]).includes(s)) throw invalid(field, `${JSON.stringify(s)} is not one of ${values.join(', ')}`);
  return s as T;
}

export function boolean(v: unknown, field: string): boolean {
  present(v, field);
  if (typeof v !== 'boolean') throw invalid(field, `must be true or false, not ${describe(v)}`);
  return v;
}

export function integer(v: unknown, field: string, range: { min?: number; max?: number } = {}): number {
  present(v, field);
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(field, `must be an integer, not ${typeof v === 'number' ? v : describe(v)}`);
  if (range.min !== undefined && v < range.min) throw invalid(field, `must be at least ${range.min} (it is ${v})`);
  if (range.max !== undefined && v > range.max) throw invalid(field, `must be at most ${range.max} (it is ${v})`);
  return v;
}

/** A map of string → string (labels, annotations, selectors). */
export function stringMap(v: unknown, field: string, valueRules: StringRules = {}): Readonly<Record<string, string>> {
  const o = object(v, field);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(o)) out[k] = string(x, `${field}[${k}]`, valueRules);
  return out;
}

export function stringList(v: unknown, field: string, rules: StringRules = {}): readonly string[] {
  return array(v, field).map((x, i) => string(x, item(field, i), rules));
}

/** `read(v)` when the value is there, `undefined` otherwise. */
export function optional<T>(v: unknown, read: (v: unknown) => T): T | undefined {
  return absent(v) ? undefined : read(v);
}

/** Throws when two items of a list share a key (a `x-kubernetes-list-type: map` list). */
export function uniqueBy<T>(list: readonly T[], key: (x: T) => string, field: string, keyName: string): readonly T[] {
  const seen = new Set<string>();
  list.forEach((x, i) => {
    const k = key(x);
    if (seen.has(k)) throw invalid(`${item(field, i)}.${keyName}`, `${JSON.stringify(k)} appears twice`);
    seen.add(k);
  });
  return list;
}

/** The object without its undefined members, so parsed objects compare equal to literals and written JSON has no holes. */
export function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
