/**
 * Validation of an untrusted `linux.seccomp` object (OCI runtime spec) into a typed Seccomp. Every error is
 * an InvalidArgument naming the exact field, so a user can find the offending entry in a large profile.
 */
import { invalid } from '../../common/errors';
import {
  SECCOMP_ACTIONS,
  SECCOMP_OPERATORS,
  type Seccomp,
  type SeccompAction,
  type SeccompArch,
  type SeccompArg,
  type SeccompOperator,
  type SeccompSyscall,
} from '../spec/types';
import { AUDIT_ARCH } from './syscalls';

/** SECCOMP_FILTER_FLAG_* bits (linux/seccomp.h) for the flags the OCI spec allows in `flags`. */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1 << 0,
  SECCOMP_FILTER_FLAG_LOG: 1 << 1,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 1 << 2,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 1 << 5,
};

/** Every SCMP_ARCH_* name the spec defines. */
export const SECCOMP_ARCHES = Object.keys(AUDIT_ARCH) as readonly SeccompArch[];

/** Largest errno the kernel honours for SECCOMP_RET_ERRNO (it caps the data at MAX_ERRNO). */
const MAX_ERRNO = 4095;
/** SECCOMP_RET_DATA is 16 bits; TRACE hands all of them to the tracer. */
const MAX_RET_DATA = 0xffff;
const U64_LIMIT = 2n ** 64n;
const SYSCALL_ARGS = 6;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A value for an error message: JSON-ish, bigint-safe, shortened. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function optString(obj: Json, key: string, field: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${field}.${key}`, `must be a string, got ${show(v)}`);
  return v;
}

function action(v: unknown, field: string): SeccompAction {
  if (v === undefined) throw invalid(field, 'required');
  if (typeof v !== 'string') throw invalid(field, `must be a string, got ${show(v)}`);
  if (!(SECCOMP_ACTIONS as readonly string[]).includes(v)) throw invalid(field, `unknown action ${show(v)}`);
  return v as SeccompAction;
}

/** errnoRet / defaultErrnoRet: only ERRNO (an errno) and TRACE (data for the tracer) carry a value. */
function retData(v: unknown, act: SeccompAction, field: string): number | undefined {
  if (v === undefined || v === null) return undefined; // Go encoders write null for an unset *uint
  if (act !== 'SCMP_ACT_ERRNO' && act !== 'SCMP_ACT_TRACE') {
    throw invalid(field, `only meaningful with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${act}`);
  }
  const max = act === 'SCMP_ACT_ERRNO' ? MAX_ERRNO : MAX_RET_DATA;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw invalid(field, `must be an integer between 0 and ${max}, got ${show(v)}`);
  }
  return v;
}

/** A uint64 comparison operand. Numbers above 2^53 are accepted (they are integers) and kept as bigint. */
function u64(v: unknown, field: string): number | bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= U64_LIMIT) throw invalid(field, `must be an unsigned 64-bit integer, got ${v}`);
    return v;
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw invalid(field, `must be a non-negative integer, got ${show(v)}`);
  }
  if (Number.isSafeInteger(v)) return v;
  const big = BigInt(v);
  if (big >= U64_LIMIT) {
    // JSON.parse rounds 18446744073709551615 up to 2^64, so the intended value cannot be recovered.
    throw invalid(field, `${show(v)} does not fit in 64 bits (JSON numbers above 2^53 are rounded; 2^64-1 reads as 2^64)`);
  }
  return big;
}

function parseArg(raw: unknown, field: string): SeccompArg {
  if (!isObject(raw)) throw invalid(field, `must be an object, got ${show(raw)}`);
  const { index, op } = raw;
  if (index === undefined) throw invalid(`${field}.index`, 'required');
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= SYSCALL_ARGS) {
    throw invalid(`${field}.index`, `must be an integer from 0 to ${SYSCALL_ARGS - 1}, got ${show(index)}`);
  }
  if (op === undefined) throw invalid(`${field}.op`, 'required');
  if (typeof op !== 'string' || !(SECCOMP_OPERATORS as readonly string[]).includes(op)) {
    throw invalid(`${field}.op`, `unknown operator ${show(op)}`);
  }
  if (raw.value === undefined) throw invalid(`${field}.value`, 'required');
  const arg: SeccompArg = { index, op: op as SeccompOperator, value: u64(raw.value, `${field}.value`) };
  if (raw.valueTwo !== undefined && raw.valueTwo !== null) arg.valueTwo = u64(raw.valueTwo, `${field}.valueTwo`);
  return arg;
}

function parseSyscall(raw: unknown, field: string, top: string, listenerPath: string | undefined): SeccompSyscall {
  if (!isObject(raw)) throw invalid(field, `must be an object, got ${show(raw)}`);
  const names = raw.names;
  if (names === undefined) {
    // Docker's own profile format uses "name"; the OCI format only has "names".
    const hint = raw.name !== undefined ? ' (found "name": the OCI format takes a "names" array)' : '';
    throw invalid(`${field}.names`, `required${hint}`);
  }
  if (!Array.isArray(names)) throw invalid(`${field}.names`, `must be an array of syscall names, got ${show(names)}`);
  if (names.length === 0) throw invalid(`${field}.names`, 'must contain at least one syscall name');
  names.forEach((n: unknown, i) => {
    if (typeof n !== 'string' || n === '') throw invalid(`${field}.names[${i}]`, `must be a non-empty string, got ${show(n)}`);
  });
  const act = action(raw.action, `${field}.action`);
  if (act === 'SCMP_ACT_NOTIFY') {
    if (listenerPath === undefined) throw invalid(`${field}.action`, `SCMP_ACT_NOTIFY requires ${top}.listenerPath`);
    throw invalid(`${field}.action`, 'SCMP_ACT_NOTIFY is not implemented by berth-run yet (no seccomp user-notification listener support)');
  }
  const call: SeccompSyscall = { names: [...(names as string[])], action: act };
  const errnoRet = retData(raw.errnoRet, act, `${field}.errnoRet`);
  if (errnoRet !== undefined) call.errnoRet = errnoRet;
  if (raw.args !== undefined && raw.args !== null) {
    if (!Array.isArray(raw.args)) throw invalid(`${field}.args`, `must be an array, got ${show(raw.args)}`);
    call.args = raw.args.map((a: unknown, i) => parseArg(a, `${field}.args[${i}]`));
  }
  return call;
}

/** Validates `raw` (parsed JSON, possibly with bigint values) as the spec's `linux.seccomp`. */
export function parseSeccomp(raw: unknown, field = 'linux.seccomp'): Seccomp {
  if (!isObject(raw)) throw invalid(field, `must be an object, got ${show(raw)}`);

  const defaultAction = action(raw.defaultAction, `${field}.defaultAction`);
  if (defaultAction === 'SCMP_ACT_NOTIFY') {
    // Also rejected by runc: the runtime itself would block on its own filter before handing over the fd.
    throw invalid(`${field}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  }
  const out: Seccomp = { defaultAction };
  const defaultErrnoRet = retData(raw.defaultErrnoRet, defaultAction, `${field}.defaultErrnoRet`);
  if (defaultErrnoRet !== undefined) out.defaultErrnoRet = defaultErrnoRet;

  if (raw.architectures !== undefined && raw.architectures !== null) {
    if (!Array.isArray(raw.architectures)) throw invalid(`${field}.architectures`, `must be an array, got ${show(raw.architectures)}`);
    out.architectures = raw.architectures.map((a: unknown, i) => {
      if (typeof a !== 'string' || !(SECCOMP_ARCHES as readonly string[]).includes(a)) {
        throw invalid(`${field}.architectures[${i}]`, `unknown architecture ${show(a)}`);
      }
      return a as SeccompArch;
    });
  }

  if (raw.flags !== undefined && raw.flags !== null) {
    if (!Array.isArray(raw.flags)) throw invalid(`${field}.flags`, `must be an array, got ${show(raw.flags)}`);
    out.flags = raw.flags.map((f: unknown, i) => {
      if (typeof f !== 'string' || !Object.hasOwn(SECCOMP_FILTER_FLAGS, f)) {
        throw invalid(`${field}.flags[${i}]`, `unknown flag ${show(f)} (known: ${Object.keys(SECCOMP_FILTER_FLAGS).join(', ')})`);
      }
      return f;
    });
  }

  const listenerPath = optString(raw, 'listenerPath', field);
  if (listenerPath !== undefined) {
    if (listenerPath === '') throw invalid(`${field}.listenerPath`, 'must not be empty');
    out.listenerPath = listenerPath;
  }
  const listenerMetadata = optString(raw, 'listenerMetadata', field);
  if (listenerMetadata !== undefined) out.listenerMetadata = listenerMetadata;

  if (raw.syscalls !== undefined && raw.syscalls !== null) {
    if (!Array.isArray(raw.syscalls)) throw invalid(`${field}.syscalls`, `must be an array, got ${show(raw.syscalls)}`);
    out.syscalls = raw.syscalls.map((s: unknown, i) => parseSyscall(s, `${field}.syscalls[${i}]`, field, listenerPath));
  }
  return out;
}
