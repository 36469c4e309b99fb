/**
 * A gRPC server on a root-only unix socket. The socket is a net.Server of ours, not grpc-js': connections
 * reach the gRPC server through its connection injector, past the `:authority` filter (../h2) for clients
 * that send the socket's path there. The socket is created 0600 from its first instant (umask), never
 * chmod-ed after a window.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { authorityFixingConnectionHandler } from '../h2/authority-listener';
import type { Logger } from '../log';

export interface UnixListener {
  /** Stops accepting connections (the gRPC server's own shutdown ends those open). */
  close(): void;
}

/** Listens on `socket` (which must not exist) for `server`; resolves once it accepts connections. */
export async function listenUnix(server: grpc.Server, socket: string, log: Logger): Promise<UnixListener> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer(authorityFixingConnectionHandler({
    inject: (c) => injector.injectConnection(c),
    onRewrite: (authority) => log.debug('client sends a path as :authority; rewriting it for this connection', { authority }),
  }));
  const umask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(socket, () => {
        listener.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(umask);
  }
  fs.chmodSync(socket, 0o600); // a umask cannot widen; say it explicitly all the same
  return { close: () => listener.close() };
}
