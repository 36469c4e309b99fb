/**
 * Exec and attach over SPDY (k8s.io/client-go/tools/remotecommand's SPDY executor, the kubelet's usual path):
 * the client opens one stream per role, named by its streamType header (error, stdin, stdout, stderr and,
 * from v3 with a terminal, resize); once all the expected ones are there the command runs. At its end the
 * status goes on the error stream, every stream is finished and the session closed.
 */
import type { Logger } from '../../common/log';
import type { StreamingBackend, StreamIo } from './backend';
import { ResizeEvents, ResizeParser } from './resize';
import { runRemoteCommand, streamFlags, type RemoteCommandJob } from './remotecommand';
import { RstStatus } from './spdy-frames';
import type { SpdySession, SpdyStream } from './spdy-session';
import { encodeStatus } from './status';
import { finishAll } from './util';

type Role = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';
const ROLES = new Set<string>(['error', 'stdin', 'stdout', 'stderr', 'resize']);

export interface SpdyCommandContext {
  backend: StreamingBackend;
  log: Logger;
  /** Aborted at server shutdown. */
  signal: AbortSignal;
  streamCreationTimeoutMs: number;
}

export async function serveRemoteCommandSpdy(session: SpdySession, protocol: string, job: RemoteCommandJob, ctx: SpdyCommandContext): Promise<void> {
  const flags = streamFlags(job.request);
  const resizable = protocol === 'v4.channel.k8s.io' || protocol === 'v3.channel.k8s.io';
  const expected = 1 + Number(flags.stdin) + Number(flags.stdout) + Number(flags.stderr) + Number(flags.tty && resizable);
  const gone = new AbortController();
  const onShutdown = (): void => {
    gone.abort();
    session.destroy();
  };
  ctx.signal.addEventListener('abort', onShutdown, { once: true });
  const closed = new Promise<void>((resolve) => {
    if (session.closed) resolve();
    else session.once('close', resolve);
  });
  void closed.then(() => gone.abort());
  try {
    const streams = await collectStreams(session, expected, ctx.streamCreationTimeoutMs, gone.signal);
    if (!streams) {
      session.destroy();
      return;
    }
    // What the client does not send us must still be read, or a full buffer would stall the socket.
    for (const r of ['error', 'stdout', 'stderr'] as const) streams[r]?.resume();
    // channel.k8s.io (v1) closed our side of stdin at once; later versions keep it until the end.
    if (protocol === 'channel.k8s.io') streams.stdin?.end();
    const resizes = new ResizeEvents();
    if (streams.resize) {
      const parser = new ResizeParser((s) => resizes.emit(s));
      streams.resize.on('data', (d: Buffer) => parser.push(d));
    }
    const io: StreamIo = {
      stdin: flags.stdin ? streams.stdin : undefined,
      stdout: flags.stdout ? streams.stdout : undefined,
      stderr: flags.stderr ? streams.stderr : undefined,
      onResize: (l) => resizes.subscribe(l),
      signal: gone.signal,
    };
    if (!io.stdin) streams.stdin?.resume();
    const status = await runRemoteCommand(job, ctx.backend, io, ctx.log);
    if (gone.signal.aborted) return;
    const bytes = encodeStatus(status, protocol === 'v4.channel.k8s.io');
    // Output first (the error stream's data must be the last thing the client reads), then the status.
    await finishAll([streams.stdout, streams.stderr]);
    if (bytes && streams.error && !streams.error.destroyed) streams.error.write(bytes);
    await finishAll([streams.error, streams.stdin, streams.resize]);
    session.close();
  } finally {
    ctx.signal.removeEventListener('abort', onShutdown);
    await closed;
  }
}

/** Replies to each stream; resolves once `expected` known ones came (undefined on timeout or close). */
function collectStreams(session: SpdySession, expected: number, timeoutMs: number, signal: AbortSignal): Promise<Partial<Record<Role, SpdyStream>> | undefined> {
  return new Promise((resolve) => {
    const got: Partial<Record<Role, SpdyStream>> = {};
    let count = 0;
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      // Streams after the expected ones are not part of the command.
      session.off('stream', onStream);
      session.on('stream', (s: SpdyStream) => s.reset(RstStatus.REFUSED_STREAM));
      resolve(ok ? got : undefined);
    };
    const onStream = (s: SpdyStream): void => {
      s.reply();
      const role = s.header('streamType');
      if (!ROLES.has(role)) {
        s.resume();
        return;
      }
      got[role as Role] = s;
      if (++count === expected) finish(true);
    };
    const onAbort = (): void => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    timer.unref();
    session.on('stream', onStream);
    if (signal.aborted) finish(false);
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}
