/**
 * Field-naming readers for untrusted JSON: each returns the typed value or throws the spec's code 7
 * ("invalid network config") naming the dotted path of the bad field.
 */
import { invalidConfig } from './errors';
import { parseCIDR, parseIP, type IP, type IPNet } from './ip';

export type Json = Record<string, unknown>;

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown, field: string): Json {
  if (!isObject(v)) throw invalidConfig(field, `must be an object, not ${typeName(v)}`);
  return v;
}

export function asArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw invalidConfig(field, `must be an array, not ${typeName(v)}`);
  return v;
}

/**
 * A member as Go's encoding/json finds it, which is how the reference plugins read every config: the exact key,
 * else (the last of) any that matches it ignoring case. containerd's go-cni, for one, sends capability args
 * with Go's field names: portMappings as {"HostPort", "ContainerPort", "Protocol", "HostIP"}, ipRanges as
 * {"Subnet", "RangeStart", "RangeEnd", "Gateway"}.
 */
export function member(o: Json, key: string): unknown {
  if (Object.hasOwn(o, key)) return o[key];
  const lower = key.toLowerCase();
  let found: unknown;
  for (const k of Object.keys(o)) if (k.toLowerCase() === lower) found = o[k];
  return found;
}

export function join(field: string, key: string | number): string {
  if (typeof key === 'number') return `${field}[${key}]`;
  return field ? `${field}.${key}` : key;
}

export function reqString(o: Json, key: string, field = ''): string {
  const f = join(field, key);
  const v = member(o, key);
  if (v === undefined || v === null) throw invalidConfig(f, 'missing (required)');
  if (typeof v !== 'string') throw invalidConfig(f, `must be a string, not ${typeName(v)}`);
  if (v === '') throw invalidConfig(f, 'must not be empty');
  return v;
}

export function optString(o: Json, key: string, field = ''): string | undefined {
  const v = member(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalidConfig(join(field, key), `must be a string, not ${typeName(v)}`);
  return v;
}

export function optBool(o: Json, key: string, field = ''): boolean | undefined {
  const v = member(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidConfig(join(field, key), `must be a boolean, not ${typeName(v)}`);
  return v;
}

export function optInt(o: Json, key: string, field = '', min = -(2 ** 31), max = 2 ** 32 - 1): number | undefined {
  const v = member(o, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidConfig(join(field, key), `must be an integer, not ${JSON.stringify(v)}`);
  if (v < min || v > max) throw invalidConfig(join(field, key), `must be between ${min} and ${max}, not ${v}`);
  return v;
}

export function optStringArray(o: Json, key: string, field = ''): string[] | undefined {
  const v = member(o, key);
  if (v === undefined || v === null) return undefined;
  const f = join(field, key);
  return asArray(v, f).map((x, i) => {
    if (typeof x !== 'string') throw invalidConfig(join(f, i), `must be a string, not ${typeName(x)}`);
    return x;
  });
}

export function asIP(v: unknown, field: string): IP {
  if (typeof v !== 'string') throw invalidConfig(field, `must be an IP address string, not ${typeName(v)}`);
  const ip = parseIP(v);
  if (!ip) throw invalidConfig(field, `invalid IP address ${JSON.stringify(v)}`);
  return ip;
}

export function asCIDR(v: unknown, field: string): IPNet {
  if (typeof v !== 'string') throw invalidConfig(field, `must be a CIDR string, not ${typeName(v)}`);
  const n = parseCIDR(v);
  if (!n) throw invalidConfig(field, `invalid CIDR address ${JSON.stringify(v)}`);
  return n;
}

/** Container IDs (spec: alphanumeric first, then alphanumerics, `_`, `.`, `-`). */
export const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Network names follow the same rule; host-local uses them as a directory name. */
export const NETWORK_NAME_RE = CONTAINER_ID_RE;

/** Linux interface names: 1–15 bytes, not "." or "..", no "/", ":" or whitespace. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 characters';
  if (name === '.' || name === '..') return 'is "." or ".."';
  if (/[/:\s]/.test(name)) return 'contains "/", ":" or whitespace';
  return undefined;
}
