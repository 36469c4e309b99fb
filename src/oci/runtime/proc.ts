/** What /proc says about a process: alive, its start time (to tell a reused pid apart), what it is running. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { invalid } from '../../common/errors';

export interface ProcStat {
  state: string;
  /** Clock ticks since boot: with the pid, identifies one process for its whole life. */
  startTime: string;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0], startTime: fields[19] };
}

/** Alive and the same process as recorded (zombies count as exited). */
export function isAlive(pid: number, startTime: string | undefined): boolean {
  if (pid <= 0) return false;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** True while the process is still berth-init waiting for `start` (it runs from a sealed memfd). */
export function isStillInit(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`).startsWith('/memfd:berth-init');
  } catch {
    return false;
  }
}

export function signalNumber(signal: string | number): number {
  if (typeof signal === 'number') return signal;
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  const table = os.constants.signals as Record<string, number>;
  const n = table[name];
  if (n === undefined) throw invalid('signal', `unknown signal "${signal}"`);
  return n;
}

/** Waits until the process is gone, polling; resolves false on timeout. */
export async function waitForExit(pid: number, startTime: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  while (isAlive(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  return true;
}
