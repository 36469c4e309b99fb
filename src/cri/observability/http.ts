/**
 * The metrics endpoint's HTTP server (node:http): GET or HEAD /metrics answers the exposition, anything else
 * 404. It listens on a loopback address only (config.ts refuses others) and keeps no idle connection long.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../common/log';

export type Exposition = () => Promise<{ text: string; contentType: string }>;

export interface MetricsHttpServer {
  /** `host:port` as bound, IPv6 hosts in brackets: what metrics.addr holds. */
  readonly address: string;
  close(): Promise<void>;
}

/** `127.0.0.1:0` → host and port; `[::1]:9100` → `::1` and 9100. */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(address.slice(i + 1)) };
}

export function joinHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function handler(expose: Exposition, log: Logger): http.RequestListener {
  return (req, res) => {
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: berthd serves GET /metrics only\n');
      return;
    }
    expose().then(
      ({ text, contentType }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.warn('metrics: collecting failed', { error: String(err) });
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`collecting metrics failed: ${String(err)}\n`);
      },
    );
  };
}

export async function serveMetricsHttp(address: string, expose: Exposition, log: Logger): Promise<MetricsHttpServer> {
  const server = http.createServer(handler(expose, log));
  // A scraper that keeps its connection open between scrapes is fine; one that opens and idles is not kept.
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  const { host, port } = splitHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: joinHostPort(a.address, a.port),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
