/**
 * Processes by exact identity: a PID together with its start time (field 22 of /proc/<pid>/stat, clock ticks
 * since boot), so that a PID recycled by the kernel is never taken for the process it once was. Signals go to
 * that one PID only, never to a group: berthd's shim and monitors must outlive it.
 */
import * as fs from 'node:fs';

export interface ProcessId {
  readonly pid: number;
  /** /proc/<pid>/stat starttime, as text. */
  readonly startTime: string;
}

/** Start time and state of `pid`, or undefined when there is no such process. */
export function procStat(pid: number): { startTime: string; state: string; ppid: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '', ppid: Number(rest[1]), startTime: rest[19] ?? '' };
  } catch {
    return undefined;
  }
}

export function identify(pid: number): ProcessId | undefined {
  const s = procStat(pid);
  return s && s.state !== 'Z' ? { pid, startTime: s.startTime } : undefined;
}

/** The same process is still there (a zombie is not: it is dead, only not reaped yet). */
export function isAlive(p: ProcessId): boolean {
  const s = procStat(p.pid);
  return !!s && s.startTime === p.startTime && s.state !== 'Z' && s.state !== 'X';
}

export function cmdline(pid: number): string[] {
  try {
    const raw = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((a, i, all) => i < all.length - 1 || a !== '');
  } catch {
    return [];
  }
}

/** Every PID in /proc. */
export function allPids(): number[] {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/** Sends `signal` to exactly this process, if it is still the same one; false when it was gone. */
export function signalExact(p: ProcessId, signal: NodeJS.Signals): boolean {
  if (!isAlive(p)) return false;
  try {
    process.kill(p.pid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until the process is gone; true if it went within `timeoutMs`. */
export async function waitGone(p: ProcessId, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(p)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again: resolves once the process is gone. */
export async function terminate(p: ProcessId, graceMs: number): Promise<'gone' | 'terminated' | 'killed'> {
  if (!signalExact(p, 'SIGTERM')) return 'gone';
  if (await waitGone(p, graceMs)) return 'terminated';
  signalExact(p, 'SIGKILL');
  await waitGone(p, 10_000);
  return 'killed';
}
