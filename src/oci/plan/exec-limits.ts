/**
 * What execve(2) and setgroups(2) accept, checked at create so that a config beyond them is refused with the
 * field named, instead of failing inside the container at start. The numbers are the kernel's (fs/exec.c):
 * each string at most MAX_ARG_STRLEN; all strings plus one pointer each within a quarter of the stack rlimit,
 * never less than ARG_MAX and never more than three quarters of _STK_LIM.
 */
import * as fs from 'node:fs';
import { invalid } from '../../common/errors';
import type { Process } from '../spec/types';

const PAGE = 4096;
const MAX_ARG_STRLEN = 32 * PAGE;
const ARG_MAX = 32 * PAGE;
const STK_LIM = 8 * 1024 * 1024;
const POINTER = 8;

/** The soft RLIMIT_STACK a program of ours gets: the config's, else the one this process runs with. */
function stackLimit(process: Process): number {
  const own = process.rlimits?.find((r) => r.type === 'RLIMIT_STACK');
  return own ? Number(own.soft) : inheritedStackLimit();
}

/** Read once per process: neither our stack rlimit nor NGROUPS_MAX changes under a running runtime. */
let inherited: number | undefined;
let groupsMax: number | undefined;

function inheritedStackLimit(): number {
  return (inherited ??= readStackLimit());
}

function readStackLimit(): number {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max stack size'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return STK_LIM;
  }
}

function bytes(list: readonly string[]): number {
  let n = 0;
  for (const s of list) n += Buffer.byteLength(s) + 1;
  return n;
}

/** Throws InvalidArgument naming argsField or envField when execve would refuse these with E2BIG. */
export function checkExecSize(args: readonly string[], env: readonly string[], stack: number, argsField: string, envField: string): void {
  const tooLong = (list: readonly string[]) => list.findIndex((s) => Buffer.byteLength(s) + 1 > MAX_ARG_STRLEN);
  for (const [list, field] of [[args, argsField], [env, envField]] as const) {
    const i = tooLong(list);
    if (i >= 0) throw invalid(`${field}[${i}]`, `is ${Buffer.byteLength(list[i])} bytes long; the kernel takes at most ${MAX_ARG_STRLEN - 1} bytes in one argument or variable`);
  }
  const limit = Math.max(Math.min((STK_LIM / 4) * 3, Math.floor(stack / 4)), ARG_MAX);
  // The kernel copies the program's path too; args[0] stands in for it.
  const argBytes = bytes(args) + (args.length ? Buffer.byteLength(args[0]) + 1 : 0) + Math.max(args.length, 1) * POINTER;
  const total = argBytes + bytes(env) + env.length * POINTER;
  if (total <= limit) return;
  const field = argBytes > limit ? argsField : envField;
  const count = field === argsField ? args.length : env.length;
  throw invalid(field, `${count} entries (${total} bytes with the ${field === argsField ? 'environment' : 'arguments'}) exceed the kernel's limit of ${limit} bytes for a program's arguments and environment (a quarter of the stack rlimit, at least ${ARG_MAX}, at most ${(STK_LIM / 4) * 3})`);
}

function ngroupsMax(): number {
  return (groupsMax ??= readNgroupsMax());
}

function readNgroupsMax(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/kernel/ngroups_max', 'utf8').trim()) || 65536;
  } catch {
    return 65536;
  }
}

/** The container process's own limits: its args and env, and its additional groups. */
export function checkProcessLimits(process: Process, field = 'process'): void {
  checkExecSize(process.args, process.env ?? [], stackLimit(process), `${field}.args`, `${field}.env`);
  const groups = process.user.additionalGids?.length ?? 0;
  const max = ngroupsMax();
  if (groups > max) throw invalid(`${field}.user.additionalGids`, `${groups} groups exceed the kernel's NGROUPS_MAX of ${max}`);
}

/** A hook runs with the runtime's own limits. */
export function checkHookLimits(args: readonly string[], env: readonly string[], field: string): void {
  checkExecSize(args, env, inheritedStackLimit(), `${field}.args`, `${field}.env`);
}
