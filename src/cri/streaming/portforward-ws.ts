/**
 * Port forwarding over WebSocket, as the kubelet serves it: the ports are fixed by the request, two
 * channels per port (2i data, 2i+1 error), and the first message on each carries the port as a
 * little-endian uint16. One connection per port, for as long as the WebSocket lives: the client cannot
 * half-close, so a forward ends when the WebSocket does.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../../common/log';
import type { PortForwardStreamRequest, StreamingBackend } from './backend';
import type { WsProtocol } from './negotiate';
import { messageBytes, parseChannelMessage, sendChannel } from './ws-channels';

export interface WsForwardContext {
  backend: StreamingBackend;
  log: Logger;
  signal: AbortSignal;
}

export async function servePortForwardWs(ws: WebSocket, protocol: WsProtocol, job: PortForwardStreamRequest, ctx: WsForwardContext): Promise<void> {
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
  const onShutdown = (): void => ws.terminate();
  ctx.signal.addEventListener('abort', onShutdown, { once: true });

  const conns = job.ports.map((port, i) => {
    const conn = new Duplex({
      read: () => ws.resume(),
      write: (chunk: Buffer, _enc, cb) => sendChannel(ws, protocol, 2 * i, chunk, (err) => cb(err ?? null)),
    });
    conn.on('error', () => undefined);
    const head = Buffer.alloc(2);
    head.writeUInt16LE(port);
    sendChannel(ws, protocol, 2 * i, head);
    sendChannel(ws, protocol, 2 * i + 1, head);
    return conn;
  });
  ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[]) => {
    const m = parseChannelMessage(protocol, messageBytes(raw));
    if (!m || m.channel % 2 !== 0) return;
    const conn = conns[m.channel / 2];
    if (conn && !conn.readableEnded && m.data.length && !conn.push(m.data)) ws.pause();
  });
  // Nothing can reach the client any more: each forward is aborted (its helper killed).
  ws.once('close', () => {
    for (const c of conns) c.destroy();
  });

  const forwards = job.ports.map(async (port, i) => {
    try {
      await ctx.backend.portForward(job.podSandboxId, port, conns[i]);
    } catch (err) {
      const message = `error forwarding port ${port} to pod ${job.podSandboxId}: ${(err as Error).message}`;
      ctx.log.debug('streaming: port forward failed', { error: message });
      sendChannel(ws, protocol, 2 * i + 1, Buffer.from(message));
    }
  });
  try {
    await Promise.all(forwards);
    ws.close(1000);
  } finally {
    ctx.signal.removeEventListener('abort', onShutdown);
    await closed;
  }
}
