/**
 * The channel framing of Kubernetes' WebSocket protocols (k8s.io/apimachinery wsstream): each message starts
 * with its channel number, one byte (binary protocols) or one ASCII digit followed by base64 (base64.*).
 * Writers per channel with backpressure, and incoming messages split by channel.
 */
import { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import type { WsProtocol } from './negotiate';

/** v5's half-close: [255, channel]. */
export const CLOSE_SIGNAL = 255;

export function sendChannel(ws: WebSocket, protocol: WsProtocol, channel: number, data: Buffer, cb?: (err?: Error) => void): void {
  if (ws.readyState !== ws.OPEN) {
    if (cb) process.nextTick(cb, new Error('websocket closed'));
    return;
  }
  if (protocol.base64) ws.send(String.fromCharCode(48 + channel) + data.toString('base64'), cb);
  else ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, cb);
}

/** Decodes one message: its channel and payload; undefined for an empty or undecodable one. */
export function parseChannelMessage(protocol: WsProtocol, raw: Buffer): { channel: number; data: Buffer } | undefined {
  if (raw.length === 0) return undefined;
  if (protocol.closeSignal && raw[0] === CLOSE_SIGNAL) return { channel: CLOSE_SIGNAL, data: raw.subarray(1) };
  if (!protocol.base64) return { channel: raw[0], data: raw.subarray(1) };
  const channel = raw[0] - 48;
  if (channel < 0) return undefined;
  return { channel, data: Buffer.from(raw.subarray(1).toString('latin1'), 'base64') };
}

/** A Writable sending each chunk as one message on the channel; ending it sends nothing (no half-close). */
export function channelWriter(ws: WebSocket, protocol: WsProtocol, channel: number): Writable {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      sendChannel(ws, protocol, channel, chunk, (err) => cb(err ?? null));
    },
  });
  w.on('error', () => undefined);
  return w;
}

/** ws gives a message as a Buffer, a Buffer list (fragments) or an ArrayBuffer, by its binaryType. */
export function messageBytes(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
