/**
 * Port forwarding over SPDY (client-go's portforward, kubectl port-forward): per forwarded connection the
 * client opens a data stream and an error stream, both with the port and the same requestID; once both are
 * there the data stream is relayed to the port. A failure is written to the error stream as text.
 */
import type { Logger } from '../../common/log';
import type { PortForwardStreamRequest, StreamingBackend } from './backend';
import type { SpdySession, SpdyStream } from './spdy-session';
import { RstStatus } from './spdy-frames';

export interface SpdyForwardContext {
  backend: StreamingBackend;
  log: Logger;
  signal: AbortSignal;
  streamCreationTimeoutMs: number;
}

interface Pair {
  requestId: string;
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

export async function servePortForwardSpdy(session: SpdySession, job: PortForwardStreamRequest, ctx: SpdyForwardContext): Promise<void> {
  const pairs = new Map<string, Pair>();
  const running = new Set<Promise<void>>();
  const onShutdown = (): void => session.destroy();
  ctx.signal.addEventListener('abort', onShutdown, { once: true });
  const closed = new Promise<void>((resolve) => {
    if (session.closed) resolve();
    else session.once('close', resolve);
  });

  const forward = async (p: Pair, port: number): Promise<void> => {
    const data = p.data!;
    const error = p.error!;
    // The client half-closes its error stream at once and never writes to it.
    error.resume();
    try {
      await ctx.backend.portForward(job.podSandboxId, port, data);
      data.end();
      error.end();
    } catch (err) {
      const message = `error forwarding port ${port} to pod ${job.podSandboxId}: ${(err as Error).message}`;
      ctx.log.debug('streaming: port forward failed', { error: message });
      error.end(message);
      data.reset();
    }
  };

  session.on('stream', (s: SpdyStream) => {
    const portText = s.header('port');
    const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    const type = s.header('streamType');
    if (!(port >= 1 && port <= 65535) || (type !== 'data' && type !== 'error')) {
      ctx.log.debug('streaming: port forward stream refused', { port: portText, streamType: type });
      s.reset(RstStatus.REFUSED_STREAM);
      return;
    }
    s.reply();
    // Clients older than requestID: a pair is an error stream and the data stream right after it.
    const requestId = s.header('requestID') || String(type === 'error' ? s.id : s.id - 2);
    let p = pairs.get(requestId);
    if (!p) {
      const pair: Pair = {
        requestId,
        timer: setTimeout(() => {
          pairs.delete(requestId);
          pair.error?.end(`timed out waiting for streams of request ${requestId}`);
          pair.data?.reset();
        }, ctx.streamCreationTimeoutMs),
      };
      pair.timer.unref();
      pairs.set(requestId, pair);
      p = pair;
    }
    if (p[type]) {
      p.error?.write(`error processing stream for request ${requestId}: ${type} stream already assigned`);
      s.reset(RstStatus.PROTOCOL_ERROR);
      return;
    }
    p[type] = s;
    if (p.data && p.error) {
      clearTimeout(p.timer);
      pairs.delete(requestId);
      const run = forward(p, Number(p.data.header('port')));
      running.add(run);
      void run.finally(() => running.delete(run));
    }
  });

  await closed;
  ctx.signal.removeEventListener('abort', onShutdown);
  for (const p of pairs.values()) clearTimeout(p.timer);
  // The session's streams are destroyed by now, which stops each forward (its helper is killed).
  await Promise.all([...running]);
}
