/**
 * berth-shim's side of berth-monitor (src/native/monitor.c): where the binary is, how it is started for each
 * runtime, its control socket, and the exit record it leaves in its directory.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import { BerthError } from '../common/errors';
import { nativeBinary } from '../common/native';
import { connectUnix } from './unix';

/** build/bin/berth-monitor (BERTH_MONITOR overrides). */
export function monitorBinary(): string {
  return nativeBinary('berth-monitor', 'BERTH_MONITOR');
}

export interface MonitorOptions {
  dir: string;
  logPath?: string;
  terminal?: boolean;
  stdin?: boolean;
  /** Hold the output (and the exit) until the first attach client, at most this many seconds. */
  waitAttachSeconds?: number;
}

export function monitorArgs(o: MonitorOptions): string[] {
  const args = ['--dir', o.dir];
  if (o.logPath) args.push('--log', o.logPath);
  if (o.waitAttachSeconds) args.push('--wait-attach', String(o.waitAttachSeconds));
  if (o.terminal) args.push('--tty');
  if (o.stdin) args.push('--stdin');
  return args;
}

export const consoleSocket = (dir: string): string => path.join(dir, 'console.sock');
export const monitorSocket = (dir: string): string => path.join(dir, 'monitor.sock');

/**
 * Command mode: the monitor runs a runc-compatible CLI (`create`, `exec --detach`) with its stdio and
 * reports "pid N" or "error ..." on fd 3. Resolves with the process's pid.
 */
export function runUnderMonitor(o: MonitorOptions, command: string[]): Promise<number> {
  const err = fs.openSync(path.join(o.dir, 'monitor.err'), 'a', 0o600);
  const child = spawn(monitorBinary(), [...monitorArgs(o), '--', ...command], { stdio: ['ignore', 'ignore', err, 'pipe'], detached: true });
  fs.closeSync(err);
  child.unref();
  const report = child.stdio[3] as NodeJS.ReadableStream & { destroy(): void; unref?: () => void };
  return new Promise<number>((resolve, reject) => {
    let text = '';
    report.on('data', (b: Buffer) => { text += b.toString(); });
    const done = (): void => {
      report.destroy();
      const line = text.split('\n')[0] ?? '';
      if (line.startsWith('pid ')) resolve(Number(line.slice(4)));
      else reject(new BerthError('FailedPrecondition', line.startsWith('error ') ? line.slice(6) : 'berth-monitor ended without a report'));
    };
    report.on('end', done);
    report.on('error', done);
    child.on('error', (e) => reject(e));
  });
}

/** One command on the control socket; resolves with the reply line ("ok", "pid 1 started 0", …). */
export async function monitorCommand(dir: string, command: string): Promise<string> {
  const sock = await connectUnix(monitorSocket(dir));
  return new Promise<string>((resolve, reject) => {
    let text = '';
    sock.on('data', (b) => { text += b.toString(); });
    sock.on('end', () => {
      const line = text.split('\n')[0];
      if (line.startsWith('error ')) reject(new BerthError('FailedPrecondition', line.slice(6)));
      else resolve(line);
    });
    sock.on('error', reject);
    sock.write(`${command}\n`);
  });
}

/**
 * Resolves when the monitor has finished (the exit record is written): on its "exit" line, or when its socket
 * closes or cannot be reached (a monitor that is gone). `onOom(n)`: the process's memory cgroup has had n OOM
 * kills since it started (told at once when n > 0 already, then on each new kill).
 */
export async function watchMonitor(dir: string, onOom: (kills: number) => void = () => undefined): Promise<{ done: Promise<void>; close(): void }> {
  let sock: Socket;
  try {
    sock = await connectUnix(monitorSocket(dir));
  } catch {
    return { done: Promise.resolve(), close: () => undefined };
  }
  sock.write('watch\n');
  let pending = '';
  const done = new Promise<void>((resolve) => {
    sock.on('data', (b: Buffer) => {
      pending += b.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const oom = /^oom (\d+)$/.exec(line);
        if (oom) onOom(Number(oom[1]));
      }
    });
    sock.on('close', () => resolve());
    sock.on('error', () => resolve());
  });
  return { done, close: () => sock.destroy() };
}

export interface ExitRecord {
  pid: number;
  exitCode: number;
  signal: number;
  oomKilled: boolean;
  /** OOM kills in the process's memory cgroup while it ran (absent in records of older monitors). */
  oomKills?: number;
  startedAt: string;
  finishedAt: string;
}

export function readExitRecord(dir: string): ExitRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'exit.json'), 'utf8')) as ExitRecord;
  } catch {
    return undefined;
  }
}

/** Attach: frames <u8 stream, u32 BE length, bytes>; stream 3 carries the exit code as an i32. */
export async function attachMonitor(dir: string, options: { stdin: boolean; once?: boolean }): Promise<Socket> {
  const sock = await connectUnix(monitorSocket(dir));
  sock.write(`attach${options.stdin ? ' stdin' : ''}${options.once ? ' once' : ''}\n`);
  return sock;
}

export interface Frame { stream: 1 | 2 | 3; data: Buffer }

/** Splits the monitor's attach byte stream into frames. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly onFrame: (f: Frame) => void) {}

  push(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) return;
      this.onFrame({ stream: this.pending[0] as 1 | 2 | 3, data: this.pending.subarray(5, 5 + len) });
      this.pending = this.pending.subarray(5 + len);
    }
  }
}
