/** Starting berth-init and speaking its line protocol (see src/native/berth-init.c). */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as os from 'node:os';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BerthError } from '../../common/errors';
import { nativeBinary } from '../../common/native';
import { Spawner, type StartedProcess } from './spawner';

/** build/bin/berth-init (BERTH_INIT overrides). */
export function initBinary(): string {
  return nativeBinary('berth-init', 'BERTH_INIT');
}

/**
 * A program that runs berth-init for us (berth-shim's monitor, which must stay the container's parent): it
 * is started with `args` and then berth-init's path, and keeps fds 0–3 (and preserved fds) for berth-init.
 * berth-init joins the container's cgroups itself; where berth-run has to move the process instead
 * (systemd), it moves the launcher and sends the plan after that.
 */
export interface Launcher {
  file: string;
  args: string[];
}

export interface HelperOptions {
  stdio: [StdioOptions[number], StdioOptions[number], StdioOptions[number]];
  /** Passed on as fds 3, 4, … of the container's process. */
  extraFds?: number[];
  launcher?: Launcher;
  /** cgroup.procs of the cgroup berth-init starts in: see `--prime-cgroup` in berth-init.c. */
  primeCgroup?: string;
  /** Start it through this spawner when it can hand the stdio over (see spawner.ts). */
  spawner?: Spawner;
}

/** A running berth-init with its sync socket. Lines come from the parent and from the container process. */
export class Helper {
  private readonly sync: Duplex;
  private buffered = '';
  private readonly lines: string[] = [];
  private waiters: ((line: string | undefined) => void)[] = [];
  private ended = false;
  readonly pid: number;
  /** Resolves with the helper's exit status (128+N for a signal). */
  readonly exited: Promise<number>;

  private constructor(private readonly proc: StartedProcess) {
    this.pid = proc.pid;
    this.exited = proc.exited;
    this.sync = proc.sync;
    this.sync.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sync.on('end', () => this.onEnd());
    this.sync.on('close', () => this.onEnd());
    this.sync.on('error', () => this.onEnd());
  }

  /** Starts berth-init (or the launcher that runs it). */
  static start({ stdio, extraFds = [], launcher, primeCgroup, spawner }: HelperOptions): Promise<Helper> {
    const own = primeCgroup ? ['--prime-cgroup', primeCgroup] : [];
    const [file, args] = launcher ? [launcher.file, [...launcher.args, initBinary()]] : [initBinary(), own];
    const direct = (): Helper => new Helper(fromChild(spawn(file, args, { stdio: [...stdio, 'pipe', ...extraFds] as StdioOptions })));
    if (spawner?.alive && Spawner.supports([...stdio, ...extraFds])) {
      // A spawner that died under us (its requests never reached it, or a half-started child finds no one
      // listening and exits) is not the container's fault: start directly instead.
      return spawner.spawn(file, args, stdio, extraFds).then(
        (p) => new Helper(p),
        (err: unknown) => {
          if (err instanceof BerthError && err.kind === 'Unavailable') return direct();
          throw err;
        },
      );
    }
    return Promise.resolve(direct());
  }

  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  sendPlan(plan: Buffer): void {
    this.sync.write(plan);
  }

  send(line: string): void {
    this.sync.write(line + '\n');
  }

  /** Closes our end: the container process sees end-of-file and gives up if it was still waiting. */
  close(): void {
    this.sync.destroy();
  }

  /** The next line, or undefined once every holder of the socket has closed it. */
  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Waits for `expected` ("pid", "created", "started"); an "error" line or end of input becomes an error. */
  async expect(expected: string, during: string): Promise<string> {
    const line = await this.next();
    if (line === undefined) {
      const status = await Promise.race([this.exited, new Promise<number>((r) => setTimeout(() => r(-1), 1000))]);
      throw new BerthError('Internal', `${during}: berth-init ended unexpectedly${status >= 0 ? ` (status ${status})` : ''}`);
    }
    if (line.startsWith('error ')) throw helperError(line.slice(6));
    const [word, ...rest] = line.split(' ');
    if (word !== expected) throw new BerthError('Internal', `${during}: expected "${expected}" from berth-init, got "${line}"`);
    return rest.join(' ');
  }

  private onData(chunk: Buffer): void {
    this.buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      this.push(this.buffered.slice(0, nl));
      this.buffered = this.buffered.slice(nl + 1);
    }
  }

  private push(line: string): void {
    const w = this.waiters.shift();
    if (w) w(line);
    else this.lines.push(line);
  }

  private onEnd(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

/** berth-init prefixes errors about config fields with the field (`mounts[2]: …`): keep them InvalidArgument-free. */
export function helperError(message: string): BerthError {
  return new BerthError('FailedPrecondition', message);
}

function fromChild(child: ChildProcess): StartedProcess {
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? signalNo(signal) : 0)));
    child.on('error', () => resolve(1));
  });
  return { pid: child.pid ?? 0, sync: child.stdio[3] as Socket, exited, kill: (signal) => child.kill(signal) };
}

function signalNo(signal: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[signal] ?? 0;
}
