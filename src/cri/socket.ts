/**
 * berthd's unix socket: one live berthd per socket path, a stale socket left by a crash replaced, and never a
 * moment when the socket is reachable by anyone but root.
 *
 * Liveness is an abstract-namespace socket named after the socket path: the kernel frees it when its holder
 * dies however it dies (kill -9 included), and binding it is atomic, so two berthd starting at once cannot
 * both decide that the socket file is stale.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { BerthError, precondition } from '../common/errors';

export interface SocketClaim {
  /** Closes the instance lock and removes the socket file (if it is still ours). */
  release(): void;
}

function lockName(socket: string): string {
  return `\0berthd-instance.${createHash('sha256').update(path.resolve(socket)).digest('hex').slice(0, 40)}`;
}

function listen(server: net.Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** True when something accepts connections on `socket`. */
export function socketIsLive(socket: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const done = (live: boolean) => {
      clearTimeout(timer);
      c.destroy();
      resolve(live);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // accepted but silent still counts as live
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
  });
}

/**
 * Prepares `socket` for binding: its directory exists (created 0700 when missing), no other berthd holds it,
 * and a stale socket file is removed. Anything else at that path is left alone and reported.
 */
export async function claimSocket(socket: string): Promise<SocketClaim> {
  const dir = path.dirname(socket);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = net.createServer();
  try {
    await listen(lock, lockName(socket));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw precondition(`another berthd is serving on ${socket}`);
    throw err;
  }
  lock.unref();
  try {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(socket);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st) {
      if (!st.isSocket()) throw precondition(`${socket} exists and is not a socket; not replacing it`);
      if (await socketIsLive(socket)) throw precondition(`another program is listening on ${socket}`);
      fs.unlinkSync(socket); // stale: its server died without removing it
    }
  } catch (err) {
    lock.close();
    throw err instanceof BerthError ? err : new BerthError('FailedPrecondition', `socket ${socket}: ${(err as Error).message}`, { cause: err });
  }
  return {
    release() {
      // While we hold the lock no other berthd can have bound this path: the file is ours.
      fs.rmSync(socket, { force: true });
      lock.close();
    },
  };
}
