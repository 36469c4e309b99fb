/**
 * `berthctl logs`: the container's CRI log file (ContainerStatus.logPath) read here, as crictl and the kubelet
 * do. Each line is `<RFC3339Nano> <stdout|stderr> <P|F>[:tags] <message>`; a P (partial) line is a piece of a
 * longer line and carries no newline of its own, so writing the pieces one after the other joins them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, invalid } from '../../common/errors';
import { flagBool, flagString } from '../../common/args';
import type { ContainerStatusResponse } from '../types';
import { RpcError, type CriClient } from './client';
import { HELP_FLAG, type Command } from './command';
import { intFlag } from './listing';

export interface LogLine {
  /** Nanoseconds since the epoch. */
  nanos: bigint;
  /** The timestamp as crictl --timestamps prints it: nine fraction digits, the line's own zone. */
  time: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  /** The message: a full line's ends with its newline, a partial one's does not. */
  message: Buffer;
}

const TIME_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 time with up to nanosecond precision (Date keeps milliseconds only). */
export function parseRfc3339(text: string): { nanos: bigint; fixed: string } | undefined {
  const m = TIME_RE.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0');
  return { nanos: BigInt(ms) * 1_000_000n + BigInt(frac), fixed: `${m[1]}.${frac}${m[3]}` };
}

/** One line of a CRI log file (its newline included, when it has one); undefined when it is not one. */
export function parseCriLogLine(line: Buffer): LogLine | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const t = parseRfc3339(line.subarray(0, s1).toString('latin1'));
  if (!t) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const stream = line.subarray(s1 + 1, s2).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const s3 = line.indexOf(0x20, s2 + 1);
  if (s3 < 0) return undefined;
  const partial = line.subarray(s2 + 1, s3).toString('latin1').split(':')[0] === 'P';
  let message = line.subarray(s3 + 1);
  // The newline after a partial piece is the file's, not the container's.
  if (partial && message.length > 0 && message[message.length - 1] === 0x0a) message = message.subarray(0, -1);
  return { nanos: t.nanos, time: t.fixed, stream, partial, message };
}

/** Where the last `n` lines of `buf` start (n < 0: all of it). A last line without newline counts as one. */
export function tailStart(buf: Buffer, n: number): number {
  if (n < 0) return 0;
  let end = buf.length;
  if (end > 0 && buf[end - 1] === 0x0a) end--;
  let pos = end;
  for (let i = 0; i < n; i++) {
    // (A negative offset would make lastIndexOf search from the end.)
    if (pos === 0) return 0;
    const nl = buf.lastIndexOf(0x0a, pos - 1);
    if (nl < 0) return 0;
    pos = nl;
  }
  return n === 0 ? buf.length : pos + 1;
}

export interface LogWriterOptions {
  timestamps: boolean;
  /** Lines before this (nanoseconds since the epoch) are skipped. */
  since?: bigint;
  limitBytes?: number;
  /** undefined: that stream is not shown (--stream). */
  stdout?: (b: Buffer) => void;
  stderr?: (b: Buffer) => void;
}

/** Writes parsed lines to their streams as crictl does: timestamps only where a line begins, --limit-bytes. */
export class LogWriter {
  private newLine = true;
  private remain: number;

  constructor(private readonly o: LogWriterOptions) {
    this.remain = o.limitBytes ?? Infinity;
  }

  /** False once --limit-bytes is reached (stop reading). */
  write(l: LogLine): boolean {
    const atStart = this.newLine;
    this.newLine = l.message.length === 0 || l.message[l.message.length - 1] === 0x0a;
    if (this.o.since !== undefined && l.nanos < this.o.since) return true;
    let out = this.o.timestamps && atStart ? Buffer.concat([Buffer.from(`${l.time} `), l.message]) : l.message;
    if (out.length > this.remain) out = out.subarray(0, this.remain);
    const sink = l.stream === 'stdout' ? this.o.stdout : this.o.stderr;
    if (!sink) return true;
    sink(out);
    this.remain -= out.length;
    return this.remain > 0;
  }
}

/**
 * --since as crictl takes it: a duration back from now (`42m`), Unix seconds, or a time (RFC 3339, or local
 * `2013-01-02T13:23:37` / `2013-01-02`). Nanoseconds since the epoch.
 */
export function parseSince(v: string, nowMs = Date.now()): bigint {
  const dur = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.exec(v);
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]];
    return BigInt(Math.round((nowMs - ms) * 1e6));
  }
  if (/^\d+(\.\d{1,9})?$/.test(v)) {
    const [s, f = ''] = v.split('.');
    return BigInt(s) * 1_000_000_000n + BigInt(f.padEnd(9, '0'));
  }
  const t = parseRfc3339(v);
  if (t) return t.nanos;
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?$/.exec(v);
  if (local) {
    const [, y, mo, d, h = '0', mi = '0', s = '0', f = ''] = local;
    const ms = new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)).getTime();
    return BigInt(ms) * 1_000_000n + BigInt(f.padEnd(9, '0'));
  }
  throw invalid('--since', `"${v}" is neither a time (2013-01-02T13:23:37) nor a duration (42m)`);
}

const FOLLOW_POLL_MS = 200;
const STATUS_EVERY_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A log file read from an offset on, complete lines at a time; a trailing piece waits for the rest. */
class LogFile {
  private fd: number;
  private ino: number;
  private offset = 0;
  private pending = Buffer.alloc(0);

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'r');
    this.ino = fs.fstatSync(this.fd).ino;
  }

  readAll(): Buffer {
    const buf = fs.readFileSync(this.fd);
    this.offset = buf.length;
    return buf;
  }

  seek(offset: number): void {
    this.offset = offset;
  }

  /** The complete lines written since the last call (with `flush`, a last line without newline too). */
  lines(flush = false): Buffer[] {
    const chunks: Buffer[] = [this.pending];
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = fs.readSync(this.fd, chunk, 0, chunk.length, this.offset);
      if (n <= 0) break;
      this.offset += n;
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    const all = Buffer.concat(chunks);
    const out: Buffer[] = [];
    let start = 0;
    for (let nl = all.indexOf(0x0a); nl >= 0; nl = all.indexOf(0x0a, start)) {
      out.push(all.subarray(start, nl + 1));
      start = nl + 1;
    }
    this.pending = all.subarray(start);
    if (flush && this.pending.length) {
      out.push(this.pending);
      this.pending = Buffer.alloc(0);
    }
    return out;
  }

  /** The path now names another file (the log was rotated or reopened): read that one from its start. */
  reopenIfReplaced(): boolean {
    let ino: number;
    try {
      ino = fs.statSync(this.file).ino;
    } catch {
      return false;
    }
    if (ino === this.ino) return false;
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, 'r');
    this.ino = ino;
    this.offset = 0;
    this.pending = Buffer.alloc(0);
    return true;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** Whether the container still runs; a runtime that is briefly unavailable counts as yes (as for the kubelet). */
async function stillRunning(client: CriClient, id: string): Promise<boolean> {
  try {
    const r = await client.runtimeCall<unknown, ContainerStatusResponse>('ContainerStatus', { containerId: id, verbose: false });
    return r.status?.state === 'CONTAINER_RUNNING';
  } catch (err) {
    if (err instanceof RpcError && err.code === 14) return true;
    throw err;
  }
}

export interface ReadLogsOptions extends LogWriterOptions {
  tail: number;
  follow: boolean;
}

/** Prints the log at `file`; with `follow`, keeps printing until the container stops running. */
export async function readLogs(client: CriClient, containerId: string, file: string, o: ReadLogsOptions): Promise<void> {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (err) {
    throw new BerthError('NotFound', `failed to try resolving symlinks in path "${file}": ${(err as Error).message}`);
  }
  const log = new LogFile(real);
  try {
    const writer = new LogWriter(o);
    const first = log.readAll();
    const start = tailStart(first, o.tail);
    log.seek(start);
    // Without -f, --tail N is also a count of lines printed (partial pieces count as lines).
    let left = o.tail >= 0 && !o.follow ? o.tail : Infinity;
    const emit = (lines: Buffer[]): boolean => {
      for (const raw of lines) {
        if (left <= 0) return false;
        const l = parseCriLogLine(raw);
        if (!l) continue;
        if (!writer.write(l)) return false;
        left--;
      }
      return left > 0;
    };
    if (!o.follow) {
      emit(log.lines(true));
      return;
    }
    let lastCheck = 0;
    for (;;) {
      if (!emit(log.lines())) return;
      if (log.reopenIfReplaced()) continue;
      if (Date.now() - lastCheck >= STATUS_EVERY_MS) {
        lastCheck = Date.now();
        if (!(await stillRunning(client, containerId))) {
          // Whatever it wrote before it stopped, then done.
          emit(log.lines(true));
          return;
        }
      }
      await sleep(FOLLOW_POLL_MS);
    }
  } finally {
    log.close();
  }
}

/** crictl --previous: the log of the attempt before, `<dir>/<attempt-1><ext>` beside this one. */
export function previousLogPath(logPath: string, attempt: number): string {
  const base = path.basename(logPath);
  const dot = base.lastIndexOf('.');
  return path.join(path.dirname(logPath), `${attempt - 1}${dot >= 0 ? base.slice(dot) : ''}`);
}

export const logsCommand: Command = {
  name: 'logs',
  service: 'runtime',
  usage: 'berthctl logs [OPTIONS] CONTAINER-ID',
  summary: 'Fetch the logs of a container',
  flags: [
    { name: 'follow', short: 'f', kind: 'bool', help: 'follow log output (until the container exits)' },
    { name: 'previous', short: 'p', kind: 'bool', help: 'print the logs of the previous instance of the container, if any' },
    { name: 'reopen', short: 'r', kind: 'bool', help: 'ask the runtime to reopen the container log first' },
    { name: 'tail', kind: 'string', arg: 'N', help: 'number of lines to show from the end of the logs (default: all)' },
    { name: 'limit-bytes', kind: 'string', arg: 'N', help: 'maximum bytes of logs to return (default: no limit)' },
    { name: 'since', kind: 'string', arg: 'TIME', help: 'show logs since a time (e.g. 2013-01-02T13:23:37) or a duration ago (e.g. 42m)' },
    { name: 'timestamps', short: 't', kind: 'bool', help: 'show timestamps' },
    { name: 'stream', short: 's', kind: 'string', arg: 'STREAM', help: 'show only this stream, stdout or stderr (default: both)' },
    HELP_FLAG,
  ],
  async run({ client, args, stdout, stderr }) {
    if (args.positional.length === 0) throw invalid('CONTAINER-ID', 'ID cannot be empty');
    if (args.positional.length > 1) throw invalid(args.positional[1], 'logs takes one container id');
    const id = args.positional[0];
    if (flagBool(args, 'reopen')) {
      await client.runtimeCall('ReopenContainerLog', { containerId: id }).catch((err: Error) => {
        throw err instanceof RpcError ? err.within('reopen container logs') : err;
      });
      stderr('berthctl: Container logs reopened\n');
    }
    const stream = flagString(args, 'stream') ?? '';
    if (!['', 'stdout', 'stderr'].includes(stream)) throw invalid('--stream', `invalid stream "${stream}", must be "stdout" or "stderr"`);
    if (args.flags.has('tail') && args.flags.has('stream')) throw invalid('--tail', '--tail and --stream are mutually exclusive');
    const since = flagString(args, 'since');
    const limit = intFlag(args, 'limit-bytes', -1);
    const options: ReadLogsOptions = {
      follow: flagBool(args, 'follow'),
      tail: intFlag(args, 'tail', -1),
      timestamps: flagBool(args, 'timestamps'),
      since: since ? parseSince(since) : undefined,
      limitBytes: limit >= 0 ? limit : undefined,
      stdout: stream === 'stderr' ? undefined : stdout,
      stderr: stream === 'stdout' ? undefined : stderr,
    };
    const st = await client.runtimeCall<unknown, ContainerStatusResponse>('ContainerStatus', { containerId: id, verbose: false });
    let logPath = st.status?.logPath ?? '';
    if (!logPath) throw new BerthError('FailedPrecondition', 'the container has not set log path');
    if (flagBool(args, 'previous')) {
      const attempt = st.status?.metadata?.attempt ?? 0;
      if (attempt === 0) throw new BerthError('NotFound', `previous terminated container ${st.status?.metadata?.name ?? ''} not found`);
      logPath = previousLogPath(logPath, attempt);
    }
    await readLogs(client, st.status!.id, logPath, options);
    return 0;
  },
};
