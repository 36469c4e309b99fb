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

/** A JSON integer that fits a double exactly (narrow fields: ids, modes, small ranges). */
export function integer(v: Json, field: string, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'bigint') throw invalid(field, `must be between ${min} and ${max}, got ${v}`);
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(field, `must be an integer, got ${describe(v)}`);
  if (v < min || v > max) throw invalid(field, `must be between ${min} and ${max}, got ${v}`);
  return v;
}

/** The Go integer types of the runtime-spec's fields, by their exact ranges. */
const RANGES = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
} as const;
export type IntType = keyof typeof RANGES;

/**
 * An integer of the field's spec type, checked exactly (src/common/json.ts keeps literals beyond 2^53 as
 * bigint): 1e30 is no uint64, and a uint64 is never negative. Values a double cannot hold stay bigint.
 */
export function exactInt(v: Json, field: string, type: IntType): number | bigint {
  const [min, max] = RANGES[type];
  let big: bigint;
  if (typeof v === 'bigint') big = v;
  else if (typeof v === 'number' && Number.isInteger(v)) {
    // A double beyond 2^53 came from an exponent literal (1e30), not from digits: it is no exact integer.
    if (!Number.isSafeInteger(v)) throw invalid(field, `must be a ${type} written as plain digits, got ${v}`);
    big = BigInt(v);
  } else throw invalid(field, `must be an integer (${type}), got ${describe(v)}`);
  if (big < min || big > max) throw invalid(field, `${big} is out of range for a ${type} (${min} to ${max})`);
  return typeof v === 'bigint' ? v : Number(v);
}

/** exactInt, as a number: for values the kernel reads as decimal text, where 2^53 and beyond round harmlessly. */
export function intOf(v: Json, field: string, type: IntType): number {
  return Number(exactInt(v, field, type));
}

/** A uint64 kept exact (rlimits, hugepage limits: 2^64-1 means unlimited and must stay that). */
export function uint64(v: Json, field: string): number | bigint {
  return exactInt(v, field, 'uint64');
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
  if (typeof v === 'bigint') return `number ${v}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
