/**
 * Exec and attach over WebSocket (client-go's WebSocket executor, kubectl 1.30 on): channels 0 stdin,
 * 1 stdout, 2 stderr, 3 error (the status at the end), 4 resize; v5 lets the client end stdin with
 * [255, 0]. The kubelet's first message, an empty one on the lowest output channel, says the streams are up.
 */
import { Readable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/log';
import type { StreamingBackend, StreamIo } from './backend';
import type { WsProtocol } from './negotiate';
import { ResizeEvents, ResizeParser } from './resize';
import { runRemoteCommand, streamFlags, type RemoteCommandJob } from './remotecommand';
import { encodeStatus } from './status';
import { finishAll } from './util';
import { channelWriter, CLOSE_SIGNAL, messageBytes, parseChannelMessage, sendChannel } from './ws-channels';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

export interface WsCommandContext {
  backend: StreamingBackend;
  log: Logger;
  signal: AbortSignal;
  closeGraceMs?: number;
}

export async function serveRemoteCommandWs(ws: WebSocket, protocol: WsProtocol, job: RemoteCommandJob, ctx: WsCommandContext): Promise<void> {
  const flags = streamFlags(job.request);
  const gone = new AbortController();
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  void closed.then(() => gone.abort());
  const onShutdown = (): void => ws.terminate();
  ctx.signal.addEventListener('abort', onShutdown, { once: true });

  const stdin = flags.stdin ? new Readable({ read: () => ws.resume() }) : undefined;
  const endStdin = (): void => {
    if (stdin && !stdin.readableEnded) stdin.push(null);
  };
  const resizes = new ResizeEvents();
  const parser = new ResizeParser((s) => resizes.emit(s));
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
    const m = parseChannelMessage(protocol, messageBytes(raw));
    if (!m) return;
    if (m.channel === CLOSE_SIGNAL) {
      if (m.data[0] === STDIN) endStdin();
    } else if (m.channel === STDIN && stdin && !stdin.readableEnded) {
      if (m.data.length && !stdin.push(m.data)) ws.pause();
    } else if (m.channel === RESIZE) {
      parser.push(m.data);
    }
  });
  ws.once('close', endStdin);

  const stdout = flags.stdout ? channelWriter(ws, protocol, STDOUT) : undefined;
  const stderr = flags.stderr ? channelWriter(ws, protocol, STDERR) : undefined;
  sendChannel(ws, protocol, flags.stdout ? STDOUT : flags.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const io: StreamIo = { stdin, stdout, stderr, onResize: (l) => resizes.subscribe(l), signal: gone.signal };
  try {
    const status = await runRemoteCommand(job, ctx.backend, io, ctx.log);
    if (gone.signal.aborted) return;
    await finishAll([stdout, stderr]);
    const bytes = encodeStatus(status, protocol.jsonStatus);
    if (bytes) sendChannel(ws, protocol, ERROR, bytes);
    ws.close(1000);
    const timer = setTimeout(() => ws.terminate(), ctx.closeGraceMs ?? 5000);
    timer.unref();
    void closed.then(() => clearTimeout(timer));
  } finally {
    ctx.signal.removeEventListener('abort', onShutdown);
    await closed;
  }
}
