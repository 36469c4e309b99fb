/**
 * Which streaming protocol a client gets. SPDY clients list theirs in X-Stream-Protocol-Version; WebSocket
 * clients as subprotocols. As k8s.io/apimachinery's httpstream.Handshake does, the client's first protocol
 * that the server knows wins; none known is 403 with the accepted ones in X-Accepted-Stream-Protocol-Versions.
 */

export const HEADER_PROTOCOL_VERSION = 'x-stream-protocol-version';
export const HEADER_ACCEPTED_VERSIONS = 'X-Accepted-Stream-Protocol-Versions';

/** The kubelet's list for SPDY remote commands (v5 adds nothing over SPDY, and the kubelet leaves it out). */
export const REMOTECOMMAND_SPDY_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];
export const PORTFORWARD_SPDY_PROTOCOLS = ['portforward.k8s.io'];

export interface WsProtocol {
  /** The subprotocol as negotiated ('' when the client offered none). */
  name: string;
  /** Text frames: the channel as an ASCII digit, then base64 (the base64.* variants). */
  base64: boolean;
  /** The error channel carries a JSON status (v4 on), not just a failure's text. */
  jsonStatus: boolean;
  /** The client can half-close a channel with [255, channel] (v5). */
  closeSignal: boolean;
}

const ws = (name: string, base64: boolean, jsonStatus: boolean, closeSignal = false): WsProtocol => ({ name, base64, jsonStatus, closeSignal });

/** In the server's order of preference, which only matters for a client that offers none. */
export const REMOTECOMMAND_WS_PROTOCOLS: WsProtocol[] = [
  ws('v5.channel.k8s.io', false, true, true),
  ws('v4.channel.k8s.io', false, true),
  ws('v4.base64.channel.k8s.io', true, true),
  ws('channel.k8s.io', false, false),
  ws('base64.channel.k8s.io', true, false),
  ws('', false, false),
];

/** The kubelet's WebSocket port forwarding (v4 channels); portforward.k8s.io accepted as the same framing. */
export const PORTFORWARD_WS_PROTOCOLS: WsProtocol[] = [
  ws('v4.channel.k8s.io', false, false),
  ws('v4.base64.channel.k8s.io', true, false),
  ws('portforward.k8s.io', false, false),
  ws('', false, false),
];

export type Negotiated<T> = { ok: true; protocol: T } | { ok: false; status: number; message: string; headers?: Record<string, string[]> };

/** Comma-separated values over all the header's lines, trimmed, empty ones dropped. */
export function splitHeader(value: string | string[] | undefined): string[] {
  const lines = value === undefined ? [] : Array.isArray(value) ? value : [value];
  return lines.flatMap((l) => l.split(',')).map((p) => p.trim()).filter(Boolean);
}

export function negotiateSpdy(header: string | string[] | undefined, server: string[]): Negotiated<string> {
  if (header === undefined) return { ok: false, status: 400, message: 'unable to upgrade: header X-Stream-Protocol-Version does not exist in request' };
  const client = splitHeader(header);
  if (client.length === 0) return { ok: false, status: 400, message: 'unable to upgrade: header X-Stream-Protocol-Version contains no valid protocols' };
  const chosen = client.find((p) => server.includes(p));
  if (!chosen) {
    return {
      ok: false,
      status: 403,
      message: `unable to upgrade: unable to negotiate protocol: client supports [${client.join(' ')}], server accepts [${server.join(' ')}]`,
      headers: { [HEADER_ACCEPTED_VERSIONS]: server },
    };
  }
  return { ok: true, protocol: chosen };
}

export function negotiateWs(header: string | string[] | undefined, server: WsProtocol[]): Negotiated<WsProtocol> {
  const client = splitHeader(header);
  const offered = client.length ? client : [''];
  for (const p of offered) {
    const match = server.find((s) => s.name === p);
    if (match) return { ok: true, protocol: match };
  }
  return { ok: false, status: 403, message: `requested protocol(s) are not supported: [${client.join(' ')}]; supports [${server.map((s) => s.name).filter(Boolean).join(' ')}]` };
}
