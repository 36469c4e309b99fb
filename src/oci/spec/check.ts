/**
 * Small combinators for validating untrusted JSON once, at the boundary. Each takes the dotted field path so
 * that every error names the exact place (`process.rlimits[2].hard`).
 */
import { invalid } from '../../common/errors';

export type Json = unknown;

export function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function object(v: Json, field: string): Record<string, Json> {
  if (!isObject(v)) throw invalid(field, `must be an object, got ${describe(v)}`);
  return v;
}

export function array(v: Json, field: string): Json[] {
  if (!Array.isArray(v)) throw invalid(field, `must be an array, got ${describe(v)}`);
  return v;
}

export function string(v: Json, field: string): string {
  if (typeof v !== 'string') throw invalid(field, `must be a string, got ${describe(v)}`);
  return v;
}

export function nonEmptyString(v: Json, field: string): string {
  const s = string(v, field);
  if (s === '') throw invalid(field, 'must not be empty');
  return s;
}

export function boolean(v: Json, field: string): boolean {
  if (typeof v !== 'boolean') throw invalid(field, `must be a boolean, got ${describe(v)}`);
  return v;
}

export function integer(v: Json, field: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(field, `must be an integer, got ${describe(v)}`);
  if (v < min || v > max) throw invalid(field, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** JSON numbers above 2^53 lose precision in JSON.parse; the kernel limits we pass (u64 "unlimited") survive as such. */
export function uint64(v: Json, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || Math.floor(v) !== v) throw invalid(field, `must be a non-negative integer, got ${describe(v)}`);
  return v;
}

export function stringArray(v: Json, field: string): string[] {
  return array(v, field).map((s, i) => string(s, `${field}[${i}]`));
}

export function stringMap(v: Json, field: string): Record<string, string> {
  const o = object(v, field);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) out[k] = string(val, `${field}["${k}"]`);
  return out;
}

export function oneOf<T extends string>(v: Json, field: string, allowed: readonly T[]): T {
  const s = string(v, field);
  if (!(allowed as readonly string[]).includes(s)) throw invalid(field, `unknown value "${s}" (expected one of ${allowed.join(', ')})`);
  return s as T;
}

/** Optional field: undefined stays undefined, anything else goes through `check`. */
export function opt<T>(o: Record<string, Json>, key: string, field: string, check: (v: Json, field: string) => T): T | undefined {
  const v = o[key];
  return v === undefined || v === null ? undefined : check(v, `${field}.${key}`);
}

export function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
